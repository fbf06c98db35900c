// BLOOM tokenizer, encode and decode: reproduces HF tokenizers exactly: added-token split ->
// BLOOM's Split pre-tokenizer -> GPT-2 byte alphabet -> BPE in HF's merge order (lowest merge rank
// first, leftmost first among equal ranks) -> ids; decode is HF's ByteLevel decoder.
#include "io/tokenizer.h"

#include <queue>

#include "core/check.h"
#include "io/tokenizer_impl.h"
#include "io/unicode.h"

namespace bloom::io {

using tokenizer_detail::AddedMatcher;
using tokenizer_detail::AddedToken;
using tokenizer_detail::pair_key;

namespace {

// Piece cache bounds (HF caches words too): at most this many pieces of at most this many bytes.
constexpr std::size_t kMaxCachedPieces = 1 << 18;
constexpr std::size_t kMaxCachedPieceBytes = 256;

// A character the Split regex's class `[^(\s|[.,!?…。，、।۔،])]` accepts (Oniguruma reads the inner
// brackets as a nested class: the class excludes ( ) | whitespace and the 11 marks).
bool is_word_char(char32_t c) {
  switch (c) {
    case '(': case ')': case '|': case '.': case ',': case '!': case '?':
    case 0x2026: case 0x3002: case 0xFF0C: case 0x3001: case 0x0964: case 0x06D4: case 0x060C:
      return false;
    default:
      return !unicode::is_white_space(c);
  }
}

struct Segment {
  std::string_view text;
  int32_t id;  // added token id, or -1 for text still to tokenize
};

std::size_t leading_white_space(std::string_view s) {
  std::size_t pos = 0;
  while (pos < s.size()) {
    unicode::CodePoint cp = unicode::decode_utf8(s, pos);
    if (!unicode::is_white_space(cp.value)) break;
    pos += cp.length;
  }
  return pos;
}

std::size_t trailing_white_space_start(std::string_view s) {
  std::size_t pos = 0, start = 0;
  while (pos < s.size()) {
    unicode::CodePoint cp = unicode::decode_utf8(s, pos);
    pos += cp.length;
    if (!unicode::is_white_space(cp.value)) start = pos;
  }
  return start;
}

// HF AddedVocabulary::find_matches: split `s` on added tokens, lstrip/rstrip absorbing whitespace.
void split_on_added(std::string_view s, const AddedMatcher& matcher, std::vector<Segment>& out) {
  std::size_t start_offset = 0, search = 0;
  while (true) {
    auto [start, token] = matcher.find(s, search);
    if (!token) break;
    std::size_t stop = start + token->content.size();
    if (token->lstrip) start = std::max(trailing_white_space_start(s.substr(0, start)), start_offset);
    if (token->rstrip) stop += leading_white_space(s.substr(stop));
    if (start_offset < start) out.push_back({s.substr(start_offset, start - start_offset), -1});
    out.push_back({s.substr(start, stop - start), token->id});
    start_offset = search = stop;
  }
  if (start_offset < s.size()) out.push_back({s.substr(start_offset), -1});
}

}  // namespace

// BLOOM's Split(Isolated): a match is an optional U+0020 plus a maximal run of word characters;
// matches and the gaps between them are the pieces.
void Tokenizer::Impl::encode_text(std::string_view text, std::vector<int32_t>& out) const {
  std::size_t pos = 0, gap_start = 0;
  while (pos < text.size()) {
    unicode::CodePoint cp = unicode::decode_utf8(text, pos);
    if (!is_word_char(cp.value)) {
      pos += cp.length;
      continue;
    }
    std::size_t match_start = (pos > gap_start && text[pos - 1] == ' ') ? pos - 1 : pos;
    if (match_start > gap_start) encode_piece(text.substr(gap_start, match_start - gap_start), out);
    pos += cp.length;
    while (pos < text.size()) {
      cp = unicode::decode_utf8(text, pos);
      if (!is_word_char(cp.value)) break;
      pos += cp.length;
    }
    encode_piece(text.substr(match_start, pos - match_start), out);
    gap_start = pos;
  }
  if (gap_start < text.size()) encode_piece(text.substr(gap_start), out);
}

void Tokenizer::Impl::encode_piece(std::string_view piece, std::vector<int32_t>& out) const {
  if (piece.size() > kMaxCachedPieceBytes) {
    std::vector<int32_t> ids = bpe(piece);
    out.insert(out.end(), ids.begin(), ids.end());
    return;
  }
  std::string key(piece);
  {
    std::lock_guard<std::mutex> lock(cache_mutex);
    auto it = cache.find(key);
    if (it != cache.end()) {
      out.insert(out.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  std::vector<int32_t> ids = bpe(piece);
  out.insert(out.end(), ids.begin(), ids.end());
  std::lock_guard<std::mutex> lock(cache_mutex);
  if (cache.size() < kMaxCachedPieces) cache.emplace(std::move(key), std::move(ids));
}

// HF BPE::merge_word + Word::merge_all on the byte-level form of `piece`.
std::vector<int32_t> Tokenizer::Impl::bpe(std::string_view piece) const {
  if (ignore_merges) {
    std::string mapped;
    for (char c : piece) unicode::append_utf8(mapped, unicode::byte_to_char(static_cast<uint8_t>(c)));
    auto it = vocab.find(mapped);
    if (it != vocab.end()) return {it->second};
  }
  struct Symbol {
    int32_t id;
    int prev, next;
    bool alive;
  };
  std::vector<Symbol> symbols;
  symbols.reserve(piece.size());
  auto push = [&](int32_t id) {
    int n = static_cast<int>(symbols.size());
    symbols.push_back({id, n - 1, -1, true});
    if (n > 0) symbols[n - 1].next = n;
  };
  bool pending_unk = false;
  for (char c : piece) {
    int32_t id = byte_ids[static_cast<uint8_t>(c)];
    if (id >= 0) {
      if (pending_unk) push(*unk_id), pending_unk = false;
      push(id);
    } else if (unk_id) {
      if (pending_unk && !fuse_unk) push(*unk_id);
      pending_unk = true;
    }  // else: HF drops characters missing from the vocabulary when there is no unk token
  }
  if (pending_unk) push(*unk_id);

  struct Candidate {
    int32_t rank;
    int pos;
    int32_t new_id;
    bool operator<(const Candidate& o) const {  // priority_queue pops the "largest": min rank, pos
      return rank != o.rank ? rank > o.rank : pos > o.pos;
    }
  };
  std::priority_queue<Candidate> queue;
  auto consider = [&](int left) {
    int right = symbols[left].next;
    if (right < 0) return;
    auto it = merges.find(pair_key(symbols[left].id, symbols[right].id));
    if (it != merges.end()) queue.push({it->second.rank, left, it->second.new_id});
  };
  for (int i = 0; i + 1 < static_cast<int>(symbols.size()); ++i) consider(i);
  while (!queue.empty()) {
    Candidate top = queue.top();
    queue.pop();
    Symbol& left = symbols[top.pos];
    if (!left.alive || left.next < 0) continue;
    Symbol& right = symbols[left.next];
    auto it = merges.find(pair_key(left.id, right.id));
    if (it == merges.end() || it->second.new_id != top.new_id) continue;  // stale candidate
    left.id = top.new_id;
    right.alive = false;
    left.next = right.next;
    if (left.next >= 0) symbols[left.next].prev = top.pos;
    if (left.prev >= 0) consider(left.prev);
    consider(top.pos);
  }
  std::vector<int32_t> ids;
  ids.reserve(symbols.size());
  for (const Symbol& s : symbols) {
    if (s.alive) ids.push_back(s.id);
  }
  return ids;
}

std::vector<int32_t> Tokenizer::encode(std::string_view text) const {
  std::string repaired;
  if (!unicode::is_valid_utf8(text)) {
    repaired = unicode::replace_invalid_utf8(text);
    text = repaired;
  }
  std::vector<int32_t> ids;
  ids.reserve(text.size() / 3 + 4);
  std::vector<Segment> outer, inner;
  split_on_added(text, impl_->non_normalized, outer);
  for (const Segment& seg : outer) {
    if (seg.id >= 0) {
      ids.push_back(seg.id);
      continue;
    }
    inner.clear();
    if (impl_->normalized.empty()) {
      inner.push_back(seg);
    } else {
      split_on_added(seg.text, impl_->normalized, inner);  // (no normalizer: text unchanged)
    }
    for (const Segment& s : inner) {
      if (s.id >= 0) {
        ids.push_back(s.id);
      } else {
        impl_->encode_text(s.text, ids);
      }
    }
  }
  const int32_t n = vocab_size();
  for (int32_t id : ids) BLOOM_CHECK(id >= 0 && id < n, "tokenizer {}: bad id {}", impl_->origin, id);
  return ids;
}

std::string Tokenizer::decode(const std::vector<int32_t>& ids, bool skip_special_tokens) const {
  std::string bytes;
  for (int32_t id : ids) {
    if (id < 0 || id >= vocab_size() || !impl_->has_token[id]) continue;  // HF skips these too
    if (skip_special_tokens && impl_->special[id]) continue;
    bytes += impl_->decoded[id];
  }
  return unicode::is_valid_utf8(bytes) ? bytes : unicode::replace_invalid_utf8(bytes);
}

int32_t Tokenizer::vocab_size() const { return static_cast<int32_t>(impl_->tokens.size()); }

std::optional<int32_t> Tokenizer::token_to_id(std::string_view token) const {
  std::string key(token);
  if (auto it = impl_->added_ids.find(key); it != impl_->added_ids.end()) return it->second;
  if (auto it = impl_->vocab.find(key); it != impl_->vocab.end()) return it->second;
  return std::nullopt;
}

std::optional<std::string> Tokenizer::id_to_token(int32_t id) const {
  if (id < 0 || id >= vocab_size() || !impl_->has_token[id]) return std::nullopt;
  return impl_->tokens[id];
}

bool Tokenizer::is_special(int32_t id) const {
  return id >= 0 && id < vocab_size() && impl_->special[id];
}

}  // namespace bloom::io


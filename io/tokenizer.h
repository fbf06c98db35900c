// BLOOM's tokenizer: byte-level BPE loaded from a HuggingFace tokenizer.json, giving exactly the ids
// of HF tokenizers' `Tokenizer.encode(text, add_special_tokens=False)` and the text of its
// `decode(ids)` (special tokens skipped by default, as in HF).
//
// What is supported (anything else is rejected at load time with an error naming file and key):
// - model: BPE (vocab ids dense 0..n-1; merges as [["a","b"],...] or legacy "a b" strings; unk_token,
//   fuse_unk, ignore_merges); no dropout, byte_fallback, continuing_subword_prefix or
//   end_of_word_suffix.
// - normalizer: null. truncation, padding and post_processor are ignored, as transformers'
//   tokenizer(...) does by default (it resets truncation/padding per call; no special tokens are
//   added here, and BLOOM's ByteLevel post-processor adds none anyway).
// - pre_tokenizer: BLOOM's Sequence[Split(Regex ` ?[^(\s|[.,!?…。，、।۔،])]+`, Isolated, invert false),
//   ByteLevel(add_prefix_space false, use_regex false)], implemented directly (no regex engine).
// - decoder: ByteLevel.
// - added_tokens: matched in the raw text leftmost-longest and split out before pre-tokenization,
//   with lstrip/rstrip/normalized honoured as HF does; single_word is rejected.
//
// Invalid UTF-8 input (HF's API cannot receive it) never crashes: every maximal invalid subpart is
// replaced by U+FFFD first, so encode(bytes) == HF encode(bytes.decode("utf-8", "replace")).
//
// encode() is const and thread-safe; results are cached per pre-tokenized piece behind a mutex.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace bloom::io {

class Tokenizer {
 public:
  /// Loads a HF tokenizer.json. Throws bloom::Error naming the file (and key) on any problem.
  static Tokenizer from_file(const std::string& path);
  /// Same from the JSON text; `origin` names it in error messages.
  static Tokenizer from_json_text(const std::string& json_text, const std::string& origin);

  /// Token ids of `text`; no special tokens are added, but added/special tokens written literally
  /// in the text (e.g. "<s>") come out as their ids, as in HF.
  std::vector<int32_t> encode(std::string_view text) const;

  /// Text of `ids` as HF's decode: ids without a token are skipped, special tokens skipped unless
  /// skip_special_tokens is false, bytes that are not valid UTF-8 become U+FFFD.
  std::string decode(const std::vector<int32_t>& ids, bool skip_special_tokens = true) const;

  /// Number of ids: model vocabulary plus added tokens outside it.
  int32_t vocab_size() const;
  std::optional<int32_t> token_to_id(std::string_view token) const;
  /// The token string of `id` (byte-level alphabet for model tokens); nullopt when out of range.
  std::optional<std::string> id_to_token(int32_t id) const;
  /// True for ids of added tokens marked special (<unk>, <s>, </s>, <pad> in BLOOM).
  bool is_special(int32_t id) const;

  struct Impl;

 private:
  explicit Tokenizer(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<Impl> impl_;
};

}  // namespace bloom::io

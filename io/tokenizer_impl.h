// Internal to io/tokenizer*.cpp: the data behind io::Tokenizer (vocabulary, merges, added tokens,
// ByteLevel decode table, piece cache), filled by tokenizer_json.cpp and used by tokenizer.cpp.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "io/tokenizer.h"

namespace bloom::io {

namespace tokenizer_detail {

struct AddedToken {
  std::string content;
  int32_t id = 0;
  bool special = false, lstrip = false, rstrip = false, normalized = true;
};

// Leftmost-longest matcher over a set of added tokens (what HF's Aho-Corasick does); tokens are
// valid UTF-8, so a byte-level match always falls on character boundaries.
class AddedMatcher {
 public:
  void add(const AddedToken* token) {
    auto& bucket = by_first_byte_[static_cast<unsigned char>(token->content[0])];
    bucket.push_back(token);
    std::stable_sort(bucket.begin(), bucket.end(), [](const AddedToken* a, const AddedToken* b) {
      return a->content.size() > b->content.size();
    });
    empty_ = false;
  }
  bool empty() const { return empty_; }
  // First match starting at or after `from`: (start, token), or token nullptr.
  std::pair<std::size_t, const AddedToken*> find(std::string_view s, std::size_t from) const {
    for (std::size_t i = from; i < s.size(); ++i) {
      for (const AddedToken* t : by_first_byte_[static_cast<unsigned char>(s[i])]) {
        if (s.compare(i, t->content.size(), t->content) == 0) return {i, t};
      }
    }
    return {s.size(), nullptr};
  }

 private:
  std::array<std::vector<const AddedToken*>, 256> by_first_byte_;
  bool empty_ = true;
};

struct MergeInfo {
  int32_t rank;
  int32_t new_id;
};

inline uint64_t pair_key(int32_t a, int32_t b) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
}

}  // namespace tokenizer_detail

struct Tokenizer::Impl {
  using AddedToken = tokenizer_detail::AddedToken;
  using AddedMatcher = tokenizer_detail::AddedMatcher;
  using MergeInfo = tokenizer_detail::MergeInfo;

  std::string origin;
  std::unordered_map<std::string, int32_t> vocab;  // model vocabulary (byte-level strings)
  std::vector<AddedToken> added;
  std::unordered_map<std::string, int32_t> added_ids;
  AddedMatcher non_normalized, normalized;
  std::vector<std::string> tokens;   // id -> token string
  std::vector<std::string> decoded;  // id -> bytes the ByteLevel decoder makes of it
  std::vector<uint8_t> has_token, special;
  std::unordered_map<uint64_t, MergeInfo> merges;
  std::array<int32_t, 256> byte_ids{};  // id of each byte's one-character token, -1 if none
  std::optional<int32_t> unk_id;
  bool fuse_unk = false;
  bool ignore_merges = false;

  mutable std::mutex cache_mutex;
  mutable std::unordered_map<std::string, std::vector<int32_t>> cache;

  void encode_text(std::string_view text, std::vector<int32_t>& out) const;
  void encode_piece(std::string_view piece, std::vector<int32_t>& out) const;
  std::vector<int32_t> bpe(std::string_view piece) const;
};

}  // namespace bloom::io

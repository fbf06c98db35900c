// libFuzzer target: the BLOOM tokenizer (io/tokenizer.h). The first byte picks the mode:
//   even: encode the rest with tiny-bloom's tokenizer; every id is in range, and for valid UTF-8
//         decode(encode(x), keep special tokens) == x (byte-level BPE loses nothing; tiny-bloom
//         has all 256 byte tokens and no lstrip/rstrip added tokens); decode never throws.
//   odd:  load the rest as tokenizer.json text (io::Tokenizer::from_json_text): only bloom::Error
//         may come out; a tokenizer that loads must encode and decode a fixed text with ids in
//         range.
#include <cstdint>
#include <string>
#include <vector>

#include "io/tokenizer.h"
#include "io/unicode.h"
#include "tests/fuzz/fuzz_common.h"

#ifndef BLOOM_SOURCE_DIR
#error "BLOOM_SOURCE_DIR must name the project root (for tests/data/tiny-bloom/tokenizer.json)"
#endif

namespace {

const bloom::io::Tokenizer& tiny() {
  static const bloom::io::Tokenizer tok = bloom::io::Tokenizer::from_file(
      std::string(BLOOM_SOURCE_DIR) + "/tests/data/tiny-bloom/tokenizer.json");
  return tok;
}

void check_ids(const bloom::io::Tokenizer& tok, const std::vector<int32_t>& ids) {
  for (int32_t id : ids)
    if (id < 0 || id >= tok.vocab_size()) bloom::fuzz::violated("id out of range", std::to_string(id));
}

void encode_mode(const std::string& text) {
  const bloom::io::Tokenizer& tok = tiny();
  const std::vector<int32_t> ids = tok.encode(text);
  check_ids(tok, ids);
  if (text.empty() != ids.empty()) bloom::fuzz::violated("empty text <=> no ids");
  const std::string back = tok.decode(ids, /*skip_special_tokens=*/false);
  const std::string want = bloom::io::unicode::replace_invalid_utf8(text);
  if (back != want) bloom::fuzz::violated("decode(encode(x)) != x", "\n got: " + back + "\nwant: " + want);
  (void)tok.decode(ids, /*skip_special_tokens=*/true);
  // Ids that are not tokens are skipped, never a crash.
  (void)tok.decode({-1, tok.vocab_size(), 1 << 30, 0});
}

void load_mode(const std::string& json) {
  BLOOM_FUZZ_EXPECT_ONLY_BLOOM_ERRORS({
    const bloom::io::Tokenizer tok = bloom::io::Tokenizer::from_json_text(json, "fuzz.json");
    for (const char* text : {"Hello world, <s> caf\xc3\xa9 \xe2\x80\xa6 \xff end.", "", " ", "a"}) {
      const std::vector<int32_t> ids = tok.encode(text);
      check_ids(tok, ids);
      (void)tok.decode(ids, false);
      (void)tok.decode(ids, true);
    }
    for (int32_t id = -1; id <= tok.vocab_size(); ++id) {
      (void)tok.id_to_token(id);
      (void)tok.is_special(id);
    }
  });
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (data[0] % 2 == 0)
    encode_mode(rest);
  else
    load_mode(rest);
  return 0;
}

// libFuzzer target: the LAMBADA reader (io/dataset.h). The first byte picks the mode:
//   even: io::split_passage(rest): on success context + target == rest without trailing "\n"s,
//         the target is " " + a non-empty word without spaces, the context is not empty;
//   odd:  the rest is a JSON-lines file read by io::read_lambada (through an in-memory file),
//         with a limit taken from the second byte (0: all); every example obeys the split rule.
#include <cstdint>
#include <string>
#include <vector>

#include "io/dataset.h"
#include "tests/fuzz/fuzz_common.h"

namespace {

void check_example(const bloom::io::Example& e, const std::string* text) {
  if (e.context.empty()) bloom::fuzz::violated("empty context");
  if (e.target.size() < 2 || e.target[0] != ' ') bloom::fuzz::violated("target is not ' ' + word");
  if (e.target.find(' ', 1) != std::string::npos) bloom::fuzz::violated("target word has a space");
  if (text) {
    std::string t = *text;
    while (!t.empty() && t.back() == '\n') t.pop_back();
    if (e.context + e.target != t) bloom::fuzz::violated("context + target != text");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static bloom::fuzz::MemFile file;
  if (size == 0) return 0;
  if (data[0] % 2 == 0) {
    const std::string text(reinterpret_cast<const char*>(data) + 1, size - 1);
    BLOOM_FUZZ_EXPECT_ONLY_BLOOM_ERRORS(check_example(bloom::io::split_passage(text, "fuzz:1"), &text));
    return 0;
  }
  if (size < 2) return 0;
  const int64_t limit = data[1] == 0 ? -1 : data[1];
  const std::string& path = file.set(data + 2, size - 2);
  BLOOM_FUZZ_EXPECT_ONLY_BLOOM_ERRORS({
    const std::vector<bloom::io::Example> ex = bloom::io::read_lambada(path, limit);
    if (ex.empty() || (limit > 0 && static_cast<int64_t>(ex.size()) > limit))
      bloom::fuzz::violated("example count outside [1, limit]");
    for (size_t i = 0; i < ex.size(); ++i) {
      check_example(ex[i], nullptr);
      if (ex[i].index != static_cast<int64_t>(i)) bloom::fuzz::violated("index != position");
      if (i > 0 && ex[i].line <= ex[i - 1].line) bloom::fuzz::violated("line numbers not increasing");
    }
  });
  return 0;
}

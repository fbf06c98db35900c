// libFuzzer target: results files (io/results_file.h), read the way the runner reads one it did
// not just write. The input is the file. First the verification the runner runs before it
// trusts a file (ResultsFile::verify in a child process, with a time limit of 1 s here: HDF5 1.10
// crashes or loops on some damaged structures, which must come back as a "damaged" bloom::Error);
// then, for a file that passed, verify again and every reader in this process, under the
// fuzzer's coverage and sanitizers. Properties: nothing but bloom::Error escapes; a file that
// verifies reads without error, with as many prediction rows and done flags as n_examples, done
// flags 0 or 1.
#include <stdlib.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "io/results_file.h"
#include "io/results_integrity.h"
#include "tests/fuzz/fuzz_common.h"

// From the sanitizers' interface (<sanitizer/common_interface_defs.h>); a no-op without them.
extern "C" void __sanitizer_set_death_callback(void (*callback)(void)) __attribute__((weak));
extern "C" void __sanitizer_set_death_callback(void (*)(void)) {}

namespace {

// HDF5 opens files by name and resolves the real path, which a memfd (fuzz_common.h's MemFile)
// does not have: each input goes to a file in a private folder of the temp directory (tmpfs on
// most systems), removed at exit.
class InputFile {
 public:
  InputFile() {
    const char* base = std::getenv("TMPDIR");
    std::string dir = std::string(base && *base ? base : "/tmp") + "/bloom-fuzz-results-XXXXXX";
    if (!mkdtemp(dir.data())) std::abort();
    dir_ = dir;
    path_ = dir + "/input.h5";
  }
  ~InputFile() {
    std::remove(path_.c_str());
    rmdir(dir_.c_str());
  }
  const std::string& set(const uint8_t* data, size_t size) {
    std::FILE* f = std::fopen(path_.c_str(), "wb");
    if (!f || std::fwrite(data, 1, size, f) != size || std::fclose(f) != 0) std::abort();
    return path_;
  }

 private:
  std::string dir_, path_;
};

void read_everything(const std::string& path) {
  const bloom::io::ResultsFile f(path, bloom::io::OpenMode::ReadOnly, "", "");
  f.read_file_info();
  for (const std::string& name : f.run_names()) {
    const bloom::io::RunAttributes a = f.read_run_attributes(name);
    const std::vector<bloom::io::PassageResult> rows = f.read_predictions(name);
    const std::vector<uint8_t> done = f.done_rows(name);
    if (static_cast<int64_t>(rows.size()) != a.n_examples || done.size() != rows.size())
      bloom::fuzz::violated("a verified run's rows, done flags and n_examples differ", name);
    for (uint8_t d : done)
      if (d > 1) bloom::fuzz::violated("a verified run has a done flag other than 0/1", name);
    f.run_complete(name);
    try {
      f.read_timings(name);
    } catch (const bloom::Error&) {  // a torn append (columns of different lengths) is allowed
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static InputFile file;
  const std::string& path = file.set(data, size);
  bool verified = false;
  BLOOM_FUZZ_EXPECT_ONLY_BLOOM_ERRORS({
    bloom::io::integrity::run_isolated(
        path,
        [&] {
          // In the child, a sanitizer report is the damaged file's answer, not the fuzzer's
          // finding: no death callback (libFuzzer's writes a crash input).
          __sanitizer_set_death_callback(nullptr);
          bloom::io::ResultsFile::verify(path, /*require_checksums=*/false);
        },
        1.0, uint64_t{1} << 31);  // intact files read in milliseconds
    verified = true;
  });
  if (!verified) return 0;
  try {
    bloom::io::ResultsFile::verify(path, /*require_checksums=*/false);  // here, under coverage
    read_everything(path);
  } catch (const bloom::Error& e) {
    bloom::fuzz::violated("a file that verifies fails to read", e.what());
  }
  return 0;
}

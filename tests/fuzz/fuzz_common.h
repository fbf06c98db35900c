// Shared by the fuzz targets: an in-memory file with a path (memfd, opened through
// /proc/self/fd/N) so readers that take a path see each input without touching the disk, and the
// one rule every target checks: bad input may only throw bloom::Error (a clear message); any
// other exception escaping the code under test is a bug, reported as a crash.
#pragma once

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "core/check.h"

namespace bloom::fuzz {

class MemFile {
 public:
  MemFile() {
    fd_ = memfd_create("bloom-fuzz", 0);
    if (fd_ < 0) std::abort();
    path_ = "/proc/self/fd/" + std::to_string(fd_);
  }
  /// Replaces the file's contents with data[0, size); returns its path.
  const std::string& set(const uint8_t* data, size_t size) {
    if (ftruncate(fd_, 0) != 0) std::abort();
    size_t done = 0;
    while (done < size) {
      const ssize_t n = pwrite(fd_, data + done, size - done, static_cast<off_t>(done));
      if (n <= 0) std::abort();
      done += static_cast<size_t>(n);
    }
    return path_;
  }

 private:
  int fd_ = -1;
  std::string path_;
};

/// A failed property: print it and abort (libFuzzer saves the input).
[[noreturn]] inline void violated(const char* what, const std::string& detail = "") {
  std::fprintf(stderr, "property violated: %s %s\n", what, detail.c_str());
  std::abort();
}

}  // namespace bloom::fuzz

/// Runs `body`; a bloom::Error is the expected outcome for bad input, anything else escapes.
#define BLOOM_FUZZ_EXPECT_ONLY_BLOOM_ERRORS(body) \
  do {                                            \
    try {                                         \
      body;                                       \
    } catch (const ::bloom::Error&) {             \
    }                                             \
  } while (0)

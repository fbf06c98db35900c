// libFuzzer target: the safetensors header parser and reader (io/safetensors.h), through an
// in-memory file. The first byte picks the mode:
//   odd:  the rest is the whole file (length prefix, header, data), as on disk;
//   even: the rest is "<header JSON>\0<data>" and the 8-byte length prefix is computed, so the
//         fuzzer explores the header's meaning instead of breaking the prefix.
// A file that opens must have every entry inside its data section, and every entry must read
// (as F32 for float dtypes, I32 for I32/I64) or be refused with bloom::Error.
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "io/safetensors.h"
#include "tests/fuzz/fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static bloom::fuzz::MemFile file;
  if (size == 0) return 0;
  std::vector<uint8_t> bytes;
  if (data[0] % 2 == 1) {
    bytes.assign(data + 1, data + size);
  } else {
    const uint8_t* begin = data + 1;
    const uint8_t* end = data + size;
    const uint8_t* nul = static_cast<const uint8_t*>(std::memchr(begin, 0, static_cast<size_t>(end - begin)));
    const uint8_t* header_end = nul ? nul : end;
    const uint64_t n = static_cast<uint64_t>(header_end - begin);
    for (int i = 0; i < 8; ++i) bytes.push_back(static_cast<uint8_t>(n >> (8 * i)));
    bytes.insert(bytes.end(), begin, header_end);
    if (nul) bytes.insert(bytes.end(), nul + 1, end);
  }
  const std::string& path = file.set(bytes.data(), bytes.size());
  BLOOM_FUZZ_EXPECT_ONLY_BLOOM_ERRORS({
    const bloom::io::SafetensorsFile f = bloom::io::SafetensorsFile::open(path);
    for (const bloom::io::SafetensorsEntry& e : f.entries()) {
      if (e.begin > e.end || e.end > bytes.size()) bloom::fuzz::violated("entry outside the file", e.name);
      if (f.find(e.name) == nullptr) bloom::fuzz::violated("entry not found by name", e.name);
      bloom::DType want = bloom::DType::F32;
      bloom::DType own;
      if (bloom::io::dtype_from_safetensors(e.dtype, &own) && own == bloom::DType::I32) want = bloom::DType::I32;
      if (e.dtype == "I64") want = bloom::DType::I32;
      const int64_t n = e.numel();
      std::vector<float> out(static_cast<size_t>(n > 0 ? n : 1));
      BLOOM_FUZZ_EXPECT_ONLY_BLOOM_ERRORS(f.read_elements(e, 0, n, want, out.data()));
      // A slice from the middle, and one that runs past the end (refused).
      BLOOM_FUZZ_EXPECT_ONLY_BLOOM_ERRORS(f.read_elements(e, n / 2, n - n / 2, want, out.data()));
      BLOOM_FUZZ_EXPECT_ONLY_BLOOM_ERRORS({
        f.read_elements(e, n, 1, want, out.data());
        bloom::fuzz::violated("read past the end accepted", e.name);
      });
    }
  });
  return 0;
}

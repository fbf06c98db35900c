// libFuzzer target: the torch.save reader (io/torch_file.h: the zip directory reader and the
// restricted pickle interpreter under it), through an in-memory file. The first byte picks the
// mode:
//   odd:  the rest is the whole file, as on disk (the zip reader's input);
//   even: the rest is a pickle, stored as `archive/data.pkl` in a well-formed archive built here
//         with four storages (archive/data/0..3, 64 bytes each), so the fuzzer explores the
//         pickle interpreter instead of breaking the zip.
// A file that opens must give tensors that lie inside the file and read as fp32; bad input may
// only throw bloom::Error.
#include <cstdint>
#include <string>
#include <vector>

#include "io/torch_file.h"
#include "io/zip_archive.h"
#include "tests/fuzz/fuzz_common.h"

namespace {

void put16(std::vector<uint8_t>& b, uint32_t v) {
  b.push_back(static_cast<uint8_t>(v));
  b.push_back(static_cast<uint8_t>(v >> 8));
}
void put32(std::vector<uint8_t>& b, uint32_t v) {
  put16(b, v & 0xffff);
  put16(b, v >> 16);
}

// A stored (uncompressed) zip archive of `entries` (CRCs left 0: the reader does not check them).
std::vector<uint8_t> stored_zip(const std::vector<std::pair<std::string, std::string>>& entries) {
  std::vector<uint8_t> out, cd;
  for (const auto& [name, data] : entries) {
    const uint32_t off = static_cast<uint32_t>(out.size());
    put32(out, 0x04034b50);
    for (uint32_t v : {20u, 0u, 0u, 0u, 0u}) put16(out, v);
    for (uint32_t v : {0u, static_cast<uint32_t>(data.size()), static_cast<uint32_t>(data.size())})
      put32(out, v);
    put16(out, static_cast<uint32_t>(name.size()));
    put16(out, 0);
    out.insert(out.end(), name.begin(), name.end());
    out.insert(out.end(), data.begin(), data.end());
    put32(cd, 0x02014b50);
    for (uint32_t v : {20u, 20u, 0u, 0u, 0u, 0u}) put16(cd, v);
    for (uint32_t v : {0u, static_cast<uint32_t>(data.size()), static_cast<uint32_t>(data.size())})
      put32(cd, v);
    for (uint32_t v : {static_cast<uint32_t>(name.size()), 0u, 0u, 0u, 0u}) put16(cd, v);
    put32(cd, 0);
    put32(cd, off);
    cd.insert(cd.end(), name.begin(), name.end());
  }
  const uint32_t cd_off = static_cast<uint32_t>(out.size());
  out.insert(out.end(), cd.begin(), cd.end());
  put32(out, 0x06054b50);
  for (uint32_t v : {0u, 0u, static_cast<uint32_t>(entries.size()),
                     static_cast<uint32_t>(entries.size())})
    put16(out, v);
  put32(out, static_cast<uint32_t>(cd.size()));
  put32(out, cd_off);
  put16(out, 0);
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static bloom::fuzz::MemFile file;
  if (size == 0) return 0;
  std::vector<uint8_t> bytes;
  if (data[0] % 2 == 1) {
    bytes.assign(data + 1, data + size);
  } else {
    std::vector<std::pair<std::string, std::string>> entries = {
        {"archive/data.pkl", std::string(reinterpret_cast<const char*>(data + 1), size - 1)},
        {"archive/byteorder", "little"}};
    for (int k = 0; k < 4; ++k)
      entries.push_back({"archive/data/" + std::to_string(k), std::string(64, static_cast<char>(k))});
    bytes = stored_zip(entries);
  }
  const std::string& path = file.set(bytes.data(), bytes.size());
  BLOOM_FUZZ_EXPECT_ONLY_BLOOM_ERRORS({
    const bloom::io::ZipArchive z = bloom::io::ZipArchive::open(path);
    for (const bloom::io::ZipEntry& e : z.entries())
      if (e.data_offset > bytes.size() || e.compressed_size > bytes.size() - e.data_offset)
        bloom::fuzz::violated("zip entry outside the file", e.name);
  });
  BLOOM_FUZZ_EXPECT_ONLY_BLOOM_ERRORS({
    const bloom::io::TorchFile f = bloom::io::TorchFile::open(path);
    for (const bloom::io::TorchTensor& t : f.tensors()) {
      if (f.find(t.name) == nullptr) bloom::fuzz::violated("tensor not found by name", t.name);
      const uint64_t n = static_cast<uint64_t>(t.numel());
      const uint64_t es = t.is_float ? bloom::dtype_size(t.dtype) : 1;
      if (t.file_offset > bytes.size() || n * es > bytes.size() - t.file_offset)
        bloom::fuzz::violated("tensor outside the file", t.name);
      if (!t.is_float) continue;
      std::vector<float> out(n > 0 ? n : 1);
      bloom::io::read_mapped(t.data, t.dtype, t.numel(), bloom::DType::F32, out.data());
    }
  });
  return 0;
}

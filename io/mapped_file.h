// MappedFile: a whole file mapped read-only (RAII), the storage under every checkpoint reader
// (safetensors, torch.save zip archives, FasterTransformer's raw per-tensor files). Readers
// find tensors inside the mapping and read them in place: nothing is copied whole, and only the
// pages of the bytes actually read are touched, so each tensor-parallel rank pays for its slice.
// read_mapped() is the one conversion routine they share: F32/F16/BF16 in the file -> the
// requested dtype, aligned or not (no format promises alignment), with read-ahead advice.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "core/tensor.h"

namespace bloom::io {

class MappedFile {
 public:
  /// Maps `path` read-only; throws naming the file when it cannot be opened or mapped.
  /// An empty file maps to size 0 and a null data().
  static MappedFile open(const std::string& path);

  MappedFile() = default;
  ~MappedFile();
  MappedFile(MappedFile&& o) noexcept;
  MappedFile& operator=(MappedFile&& o) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const std::string& path() const { return path_; }
  uint64_t size() const { return size_; }
  const uint8_t* data() const { return data_; }

 private:
  void release() noexcept;
  std::string path_;
  const uint8_t* data_ = nullptr;
  uint64_t size_ = 0;
};

/// Converts n elements of `src_dtype` at `src` (inside a mapping, any alignment) to `dst_dtype`
/// into `dst`. Float dtypes only (F32/F16/BF16 both ways) and same-dtype copies of any dtype.
void read_mapped(const uint8_t* src, DType src_dtype, int64_t n, DType dst_dtype, void* dst);

}  // namespace bloom::io

// TorchFile: a file written by torch.save (zip format, torch >= 1.6) holding a state dict, read
// in place: the zip directory (zip_archive.h) gives each storage's bytes inside the mapping, the
// restricted pickle reader (torch_pickle.h) each tensor's storage, offset, shape and stride.
// Archive layout: `<archive>/data.pkl` (the pickle), `<archive>/data/<key>` (one stored entry per
// storage, raw little-endian elements), `<archive>/byteorder`, `<archive>/version`; <archive> is
// whatever name torch chose (the file's stem, or "archive").
// Several tensors may share a storage (views, tied weights); each must be contiguous (row-major
// strides) to be read in place, and lie inside its storage.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/tensor.h"
#include "io/zip_archive.h"

namespace bloom::io {

struct TorchTensor {
  std::string name;
  std::string storage_type;  // "HalfStorage", ...
  bool is_float = false;     // F32/F16/BF16: `dtype` is meaningful and the tensor can be read
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  const uint8_t* data = nullptr;  // first element inside the mapping
  uint64_t file_offset = 0;       // the same, as a byte offset in the file

  int64_t numel() const;
};

class TorchFile {
 public:
  /// Opens and validates `path`; every error names the file (and the tensor or the global).
  static TorchFile open(const std::string& path);

  const std::string& path() const { return zip_.path(); }
  /// The state dict's tensors in pickle order.
  const std::vector<TorchTensor>& tensors() const { return tensors_; }
  const TorchTensor* find(const std::string& name) const;

 private:
  ZipArchive zip_;
  std::vector<TorchTensor> tensors_;
  std::unordered_map<std::string, size_t> index_;
};

}  // namespace bloom::io

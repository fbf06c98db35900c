// safetensors files: a read-only memory-mapped reader that validates the whole header up front,
// and a streaming writer.
//
// Layout of a safetensors file (all little-endian):
//   [8 bytes: N = header length] [N bytes: JSON header] [data section]
//   header = {"__metadata__": {str: str}?, "<tensor>": {"dtype": "F32", "shape": [d0, ...],
//             "data_offsets": [begin, end]}, ...}
// Offsets are bytes relative to the data section; each tensor is row-major and contiguous.
// The reader accepts every dtype the format defines (so test references with I64 ids open too);
// conversion on read is defined for F32/F16/BF16 -> F32/F16/BF16 and I32/I64 -> I32.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/tensor.h"
#include "io/mapped_file.h"

namespace bloom::io {

/// One tensor of a safetensors header.
struct SafetensorsEntry {
  std::string name;
  std::string dtype;           // the file's own name: "F32", "F16", "BF16", "I64", ...
  size_t elem_size = 0;        // bytes per element
  std::vector<int64_t> shape;  // row-major; empty for a scalar
  uint64_t begin = 0;          // byte offsets inside the data section
  uint64_t end = 0;

  int64_t numel() const;
};

/// Our DType for a safetensors dtype name ("F32" -> F32, "F16", "BF16", "I32"); false otherwise.
bool dtype_from_safetensors(const std::string& name, DType* out);
/// The safetensors name of a DType: "F32", "F16", "BF16", "I32".
const char* safetensors_dtype_name(DType t);
/// "[3000, 96]"
std::string shape_to_string(const std::vector<int64_t>& shape);

/// A safetensors file mapped read-only. Movable (the mapping does not move), not copyable; the
/// mapping lives as long as the object. All read methods are const and safe to call from several threads at once.
class SafetensorsFile {
 public:
  /// Maps `path` and validates the header: length inside the file, valid JSON, known dtypes,
  /// shape x dtype size == offset span, offsets inside the data section, no overlaps.
  /// Every error names the file (and the tensor, where one is involved).
  static SafetensorsFile open(const std::string& path);

  const std::string& path() const { return map_.path(); }
  /// Entries in header order.
  const std::vector<SafetensorsEntry>& entries() const { return entries_; }
  /// nullptr when the file has no tensor of that name.
  const SafetensorsEntry* find(const std::string& name) const;
  /// Throws, naming the file and the tensor, when absent.
  const SafetensorsEntry& at(const std::string& name) const;
  /// First byte of the tensor inside the mapping (may be unaligned).
  const uint8_t* bytes(const SafetensorsEntry& e) const { return data_ + e.begin; }
  /// The same as a byte offset in the file.
  uint64_t file_offset(const SafetensorsEntry& e) const {
    return static_cast<uint64_t>(data_ - map_.data()) + e.begin;
  }

  /// Converts elements [elem0, elem0 + n) of `e` (flat, row-major) to `dst_dtype` into `dst`.
  /// Touches only the pages of that range.
  void read_elements(const SafetensorsEntry& e, int64_t elem0, int64_t n, DType dst_dtype,
                     void* dst) const;

 private:
  void parse_header(const char* json, size_t len, uint64_t data_size);

  MappedFile map_;
  const uint8_t* data_ = nullptr;  // start of the data section inside map_
  std::vector<SafetensorsEntry> entries_;
  std::unordered_map<std::string, size_t> index_;  // name -> position in entries_
};

/// A tensor to write. Give either `data` (numel x dtype size bytes, kept alive until the write
/// returns) or `fill`, which is called with consecutive element ranges [elem0, elem0 + n) and
/// writes n elements of `dtype` into `dst` (the writer streams: nothing is held whole in memory).
struct TensorToWrite {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  const void* data = nullptr;
  std::function<void(int64_t elem0, int64_t n, void* dst)> fill;

  int64_t numel() const;
  uint64_t nbytes() const;
};

/// Writes `tensors` (in the given order, data packed without gaps) to `path` atomically: to
/// `path.tmp`, then renamed. The header is padded with spaces to a multiple of 8 bytes, as the
/// reference implementation does; `metadata` becomes `__metadata__` (HF writes {"format": "pt"}).
void write_safetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                       const std::vector<std::pair<std::string, std::string>>& metadata = {
                           {"format", "pt"}});

}  // namespace bloom::io

// Checkpoint: the named tensors of a checkpoint, whatever the file format, read in place from
// memory maps. io/ knows formats, not models: which names a model needs, and how its layouts
// differ between formats, is the model's business (engine/bloom_params.h).
//
// Formats:
//   safetensors  `model.safetensors`, or shards listed by `model.safetensors.index.json`
//   bin          torch.save files: `pytorch_model.bin`, or shards listed by
//                `pytorch_model.bin.index.json` (read by io/torch_file.h, nothing executed)
//   raw          headerless little-endian files, one tensor each, whose names, dtypes and shapes
//                the caller gives (FasterTransformer's per-tensor files)
// An index is {"weight_map": {tensor name: shard file}}; where a folder holds both safetensors and
// bin weights, safetensors wins, as HF does. `strip_prefix` folds a name prefix (e.g. a model
// class's "transformer.") so that lookups use the name without it; a name stored both with and
// without it is an error.
// Each tensor is {name, file, byte offset in the file's mapping, dtype, shape}. Reads convert
// F32/F16/BF16 to the requested dtype, touch only the requested slice's pages, and are const and
// thread-safe (several threads may read different tensors at once).
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/tensor.h"
#include "io/mapped_file.h"
#include "io/safetensors.h"
#include "io/torch_file.h"

namespace bloom::io {

enum class CheckpointFormat { Safetensors, Bin, Raw };
/// "safetensors", "bin", "raw".
const char* checkpoint_format_name(CheckpointFormat f);

/// What a tensor is and where it lives.
struct TensorInfo {
  std::string name;         // canonical (strip_prefix removed)
  std::string stored_name;  // as in the file
  std::string file;         // path of the file holding it
  uint64_t offset = 0;      // byte offset of its first element in that file
  DType dtype = DType::F32;
  std::vector<int64_t> shape;

  int64_t numel() const;
  uint64_t nbytes() const { return static_cast<uint64_t>(numel()) * dtype_size(dtype); }
};

/// One raw file of Checkpoint::open_raw. `why` says where the expected shape comes from; it ends
/// the size-mismatch and missing-file messages.
struct RawTensorSpec {
  std::string name, path;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  std::string why;
};

class Checkpoint {
 public:
  /// Safetensors if `dir` holds them, else torch .bin weights; the error lists what was looked for.
  static Checkpoint open(const std::string& dir, const std::string& strip_prefix = "");
  static Checkpoint open_safetensors(const std::string& dir, const std::string& strip_prefix = "");
  static Checkpoint open_bin(const std::string& dir, const std::string& strip_prefix = "");
  /// Maps each file; its size must be numel x dtype size.
  static Checkpoint open_raw(const std::string& dir, const std::vector<RawTensorSpec>& files);
  /// Whether `dir` holds a single file or an index of that format.
  static bool has_safetensors(const std::string& dir);
  static bool has_bin(const std::string& dir);

  CheckpointFormat format() const { return format_; }
  const std::string& dir() const { return dir_; }
  /// The files in use, and what was searched ("X.index.json and its shards a, b"), for messages.
  std::vector<std::string> files() const { return file_paths_; }
  const std::string& searched() const { return searched_; }
  /// Canonical names of all tensors, sorted.
  std::vector<std::string> names() const;

  /// `name` canonical or stored.
  bool has(const std::string& name) const;
  TensorInfo info(const std::string& name) const;

  /// Whether two tensors hold the same dtype, shape and bytes (at one place, or compared).
  bool same_values(const std::string& a, const std::string& b) const;

  /// Throws "<file>: tensor <name> has shape [a, b], expected [c, d] (<why>)" on a mismatch.
  void check_shape(const std::string& name, const std::vector<int64_t>& expect,
                   const std::string& why = "") const;

  /// Reads the whole tensor into dst (numel x dtype_size(dst_dtype) bytes), converting.
  /// With a non-empty expect_shape, checks the shape first (see check_shape).
  void read(const std::string& name, DType dst_dtype, void* dst,
            const std::vector<int64_t>& expect_shape = {}, const std::string& why = "") const;
  /// Rows [row0, row0 + n_rows) along dim 0 (elements, for a 1-D tensor): one contiguous block.
  void read_rows(const std::string& name, int64_t row0, int64_t n_rows, DType dst_dtype,
                 void* dst) const;
  /// Columns [col0, col0 + n_cols) of a 2-D tensor: dst is [rows, n_cols], row-major.
  void read_cols(const std::string& name, int64_t col0, int64_t n_cols, DType dst_dtype,
                 void* dst) const;
  /// The box [start[d], start[d] + count[d]) of every dim d of an N-d tensor, into dst as a
  /// row-major [count[0], count[1], ...] array; trailing whole dims are read as one run.
  void read_box(const std::string& name, const std::vector<int64_t>& start,
                const std::vector<int64_t>& count, DType dst_dtype, void* dst) const;
  /// The same box written with strides: box element (i_0, i_1, ...) goes to dst + sum of
  /// i_d x dst_stride[d] elements of dst_dtype. A permutation of dst_stride writes the box
  /// transposed (in tiles, one pass over the file), an offset dst and larger strides write it
  /// into part of a bigger array. Boxes of different calls may fill one array from threads.
  void read_box_strided(const std::string& name, const std::vector<int64_t>& start,
                        const std::vector<int64_t>& count, const std::vector<int64_t>& dst_stride,
                        DType dst_dtype, void* dst) const;

 private:
  struct Entry {
    TensorInfo info;
    const uint8_t* data = nullptr;  // first element inside a mapping
  };
  const Entry& locate(const std::string& name) const;
  void add(TensorInfo info, const uint8_t* data);
  static Checkpoint open_indexed(const std::string& dir, const std::string& strip_prefix,
                                 CheckpointFormat format);
  void read_files(const std::string& single, const std::string& index_file, bool torch);

  CheckpointFormat format_ = CheckpointFormat::Safetensors;
  std::string dir_, prefix_;
  std::string searched_;
  std::vector<std::string> file_paths_;
  std::vector<SafetensorsFile> safetensors_;  // the mappings the entries point into
  std::vector<TorchFile> torch_files_;
  std::vector<MappedFile> raw_files_;
  std::vector<Entry> entries_;
  std::unordered_map<std::string, size_t> index_;  // canonical name -> entries_
};

}  // namespace bloom::io

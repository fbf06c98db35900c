// HF BLOOM checkpoint folders read directly (no conversion step), and the only place that knows
// HF's parameter names.
//
// A folder holds either `model.safetensors` or shards listed by `model.safetensors.index.json`
// ({"weight_map": {tensor name: shard file}}). Names may carry the `transformer.` prefix (what
// BloomForCausalLM.save_pretrained writes) or not (the original bigscience files); lookups use
// the canonical name without it. Per-layer HF shapes (h = hidden, n = n_head, d = h / n):
//   word_embeddings.weight [vocab, h]      query_key_value.weight [3h, h] rows [n, 3, d]
//   interleaved dense.weight [h, h]   dense_h_to_4h.weight [4h, h]   dense_4h_to_h.weight [h, 4h]
//   (out x in)
// Reads convert F32/F16/BF16 to the requested dtype, touch only the requested slice's pages, and
// are const and thread-safe (several threads may read different tensors at once).
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/tensor.h"
#include "io/safetensors.h"

namespace bloom::io {

/// BLOOM's parameters. Per-layer ones (Ln1Weight .. ProjBias) need a layer index.
enum class Param {
  WordEmbeddings,
  EmbLnWeight,
  EmbLnBias,
  Ln1Weight,
  Ln1Bias,
  QkvWeight,
  QkvBias,
  DenseWeight,
  DenseBias,
  Ln2Weight,
  Ln2Bias,
  FcWeight,
  FcBias,
  ProjWeight,
  ProjBias,
  LnFWeight,
  LnFBias,
};

/// True for the parameters that live inside h.{layer}.
bool param_is_per_layer(Param p);
/// HF's name without the `transformer.` prefix, e.g. "h.3.self_attention.query_key_value.weight".
/// `layer` is required (>= 0) for per-layer parameters and must be -1 for the others.
std::string param_name(Param p, int layer = -1);

/// What a tensor is and where it lives.
struct TensorInfo {
  std::string name;  // canonical (no `transformer.` prefix)
  std::string file;  // path of the safetensors file holding it
  DType dtype = DType::F32;
  std::vector<int64_t> shape;

  int64_t numel() const;
};

class Checkpoint {
 public:
  /// Opens `dir`: model.safetensors if present, else model.safetensors.index.json and its shards.
  /// Maps every file and validates every header; every tensor must be F32, F16 or BF16.
  static Checkpoint open(const std::string& dir);

  const std::string& dir() const { return dir_; }
  /// The safetensors files in use.
  std::vector<std::string> files() const;
  /// Canonical names of all tensors, sorted.
  std::vector<std::string> names() const;

  /// `name` with or without the `transformer.` prefix.
  bool has(const std::string& name) const;
  TensorInfo info(const std::string& name) const;

  /// Throws "<file>: tensor <name> has shape [a, b], expected [c, d] (<why>)" on a mismatch;
  /// `why` says where the expectation comes from, e.g. "config.json says hidden_size 1024".
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

 private:
  struct Location {
    size_t file;   // index into files_
    size_t entry;  // index into files_[file].entries()
  };
  const Location& locate(const std::string& name) const;
  const SafetensorsEntry& entry(const Location& loc) const;
  void add_tensor(size_t file, const std::string& stored_name);

  std::string dir_;
  std::string searched_;  // "model.safetensors" or the index and its shards, for error messages
  std::vector<SafetensorsFile> files_;
  std::unordered_map<std::string, Location> index_;  // canonical name -> location
};

}  // namespace bloom::io

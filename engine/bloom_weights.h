// BloomWeights: this TP rank's slice of every BLOOM parameter, in the compute dtype, on the
// context's device; ModelSource: a model folder opened (format, config, tensors) without
// reading any weight. Slices (PyTorch [out, in] layout, so a "row" is an output feature):
//   qkv   [3 H_local, H]  rows of heads [head_offset, +NH_local) (contiguous: per-head interleave)
//   dense [H, H_local]    columns of the same heads (row-parallel; bias full, added after reduce)
//   fc    [4H_local, H]   rows [ffn_offset, +ffn_local) (column-parallel h->4h)
//   proj  [H, 4H_local]   columns [ffn_offset, +ffn_local) (row-parallel 4h->h)
//   word_embeddings [V_local, H] rows [vocab_offset, +V_local); lm_head the same rows of the
//   untied lm_head.weight, or word_embeddings itself when tied.
// Every format is read into these same slices (engine/bloom_params.h maps names and layouts), so
// one checkpoint, a FasterTransformer folder converted for another TP size included, serves
// every tp that divides the heads.
#pragma once

#include <string>
#include <vector>

#include "core/context.h"
#include "core/tensor.h"
#include "engine/bloom_config.h"
#include "io/checkpoint.h"
#include "kernels/ops.h"

namespace bloom {

struct BloomLayer {
  Tensor ln1_gamma, ln1_beta;  // [H]
  Tensor qkv_w, qkv_b;         // [3H_local, H], [3H_local]
  Tensor dense_w, dense_b;     // [H, H_local], [H]
  Tensor ln2_gamma, ln2_beta;  // [H]
  Tensor fc_w, fc_b;           // [4H_local, H], [4H_local]
  Tensor proj_w, proj_b;       // [H, 4H_local], [H]
  // FP8 mode (dtype F8E4M3): the four weights above in e4m3 with one scale per output channel
  // (their rows), quantized at load time; the fp16 *_w tensors are then empty.
  ops::Fp8Matrix qkv_q, dense_q, fc_q, proj_q;
};

struct LoadStats {
  double seconds = 0.0;
  size_t bytes = 0;  // bytes of this rank's weights in the compute dtype
};

/// A model folder opened: where it is, its config, its tensors (mapped, not read), and what
/// does not add up without stopping a run (tensors the config does not account for, an
/// lm_head.weight that tie_word_embeddings makes HF ignore).
struct ModelSource {
  ModelLocation location;
  BloomConfig config;
  io::Checkpoint checkpoint;
  std::vector<std::string> warnings;

  /// Locates (see locate_model), reads the config and opens every weight file; throws, naming
  /// the file, when one cannot be opened or is malformed.
  static ModelSource open(const std::string& path, ModelFormat format = ModelFormat::Auto);
  /// Every problem that would stop BloomWeights::load (a missing tensor, a shape the config does
  /// not give), found without reading weights; empty when the model loads.
  std::vector<std::string> problems() const;
};

struct BloomWeights {
  BloomConfig config;
  TpPlan plan;
  DType dtype = DType::F32;
  Tensor word_embeddings;            // [V_local, H]
  Tensor emb_ln_gamma, emb_ln_beta;  // [H]
  std::vector<BloomLayer> layers;
  Tensor ln_f_gamma, ln_f_beta;  // [H]
  Tensor lm_head;                // [V_local, H]: word_embeddings when tied
  LoadStats load_stats;

  /// Reads this rank's slices, converting to `dtype`, onto ctx's device. dtype F8E4M3 is the
  /// FP8 mode: the linear weights are read as fp16 and quantized per output channel
  /// (core/fp8.h), everything else is kept in fp16 (fp32 on the CPU, as always). Every shape is checked
  /// against the config before anything is read; errors name the file and tensor. `threads`
  /// parallel readers.
  static BloomWeights load(const ModelSource& src, const TpPlan& plan, DType dtype, Context& ctx,
                           int threads = 4);
  /// The same from a checkpoint opened directly (HF names with or without `transformer.`, or an
  /// FT folder's raw files as open_ft_checkpoint names them).
  static BloomWeights load(const io::Checkpoint& ckpt, const BloomConfig& config,
                           const TpPlan& plan, DType dtype, Context& ctx, int threads = 4);

 private:
  void quantize_linears(Context& ctx);  // FP8 mode: *_w -> *_q, then the fp16 copies dropped
  Buffer storage_;      // one allocation holds every tensor above
  Buffer fp8_storage_;  // FP8 mode: the quantized linear weights and their scales
};

/// The raw files of a FasterTransformer folder, named by their stems and shaped from `config`
/// (its config.ini): every file must be there, with the size the config gives.
io::Checkpoint open_ft_checkpoint(const std::string& dir, const BloomConfig& config);

}  // namespace bloom

// BloomWeights: this TP rank's slice of every BLOOM parameter, in the compute dtype, on the
// context's device. Slices (PyTorch [out, in] layout, so a "row" is an output feature):
//   qkv   [3 H_local, H]  rows of heads [head_offset, +NH_local) (contiguous: per-head interleave)
//   dense [H, H_local]    columns of the same heads (row-parallel; bias full, added after reduce)
//   fc    [4H_local, H]   rows [ffn_offset, +ffn_local) (column-parallel h->4h)
//   proj  [H, 4H_local]   columns [ffn_offset, +ffn_local) (row-parallel 4h->h)
//   word_embeddings [V_local, H] rows [vocab_offset, +V_local): embedding and tied lm_head.
#pragma once

#include <string>
#include <vector>

#include "engine/bloom_config.h"
#include "core/context.h"
#include "core/tensor.h"

namespace bloom {

namespace io {
class Checkpoint;
}

struct BloomLayer {
  Tensor ln1_gamma, ln1_beta;  // [H]
  Tensor qkv_w, qkv_b;         // [3H_local, H], [3H_local]
  Tensor dense_w, dense_b;     // [H, H_local], [H]
  Tensor ln2_gamma, ln2_beta;  // [H]
  Tensor fc_w, fc_b;           // [4H_local, H], [4H_local]
  Tensor proj_w, proj_b;       // [H, 4H_local], [H]
};

struct LoadStats {
  double seconds = 0.0;
  size_t bytes = 0;  // bytes of this rank's weights in the compute dtype
};

struct BloomWeights {
  BloomConfig config;
  TpPlan plan;
  DType dtype = DType::F32;
  Tensor word_embeddings;            // [V_local, H]
  Tensor emb_ln_gamma, emb_ln_beta;  // [H]
  std::vector<BloomLayer> layers;
  Tensor ln_f_gamma, ln_f_beta;  // [H]
  LoadStats load_stats;

  /// Reads this rank's slices from `ckpt`, converting to `dtype`, onto ctx's device. Shapes are
  /// checked against the config; errors name the file and tensor. `threads` parallel readers.
  static BloomWeights load(const io::Checkpoint& ckpt, const BloomConfig& config,
                           const TpPlan& plan, DType dtype, Context& ctx, int threads = 4);

 private:
  Buffer storage_;  // one allocation holds every tensor above
};

}  // namespace bloom

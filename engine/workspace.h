// Workspace: every activation buffer of the forward pass and of scoring, sized once for the
// largest batch (max_tokens packed tokens, max_seqs sequences, max_rows scored rows), so the
// forward pass never allocates. Sizes are per TP rank (_local where sharded).
// Row padding: the outputs of the linear layers (qkv, attn, proj, ffn) give each micro-batch's
// rows a start at a multiple of kGemmRows and room to round its row count up to one, and xq /
// xs have that room too. The FP8 products run on the rounded count: cuBLASLt offers FP8
// algorithms with per-row x per-column scales only for row counts that are multiples of 16
// (seen on an H200, 2026-12-02). The extra rows are scratch that nothing reads. The buffer is
// zeroed once when made, so every byte of xq ever read is 0 or a quantized value (never NaN).
#pragma once

#include <cstdint>

#include "engine/bloom_config.h"
#include "core/context.h"
#include "core/tensor.h"

namespace bloom {

struct WorkspaceLimits {
  int64_t max_tokens = 0;  // packed tokens per batch
  int64_t max_seqs = 0;    // sequences per batch
  int64_t max_rows = 0;    // scored positions per batch
  int64_t logits_rows = 0; // rows of [rows, V_local] fp32 logits scored at once (0: max_rows)
};

/// Row granularity of the linear layers' outputs (see the top of this file).
constexpr int64_t kGemmRows = 16;
/// Micro-batches a batch is split into at most (engine/micro_batches.h).
constexpr int64_t kMaxMicroBatches = 2;
inline int64_t round_up_rows(int64_t n) { return (n + kGemmRows - 1) / kGemmRows * kGemmRows; }

/// The dtype activations are kept in for a model dtype on a device: fp32 on the CPU (its ops are
/// fp32), fp16 in FP8 mode (e4m3 weights, fp16 activations), else the model dtype.
DType activation_dtype(DType model_dtype, Device device);

struct Workspace {
  WorkspaceLimits limits;
  // Forward.
  Tensor ids;         // [T] i32
  Tensor cu_seqlens;  // [B+2] i32: one [B+1] array, or two when the batch is split in two
  Tensor x;           // [T, H] residual stream
  Tensor h;           // [T, H] layer-norm output
  // The linear layers' outputs, TP rows each: T plus the micro-batches' row padding.
  Tensor qkv;         // [TP, 3 H_local]
  Tensor attn;        // [TP, H_local]
  Tensor proj;        // [TP, H] row-parallel output (partial sums until the all-reduce)
  Tensor ffn;         // [TP, 4H_local]
  Tensor xq;          // FP8 mode: [TP * max(H, 4H_local)] e4m3, a linear layer's quantized input
  Tensor xs;          // FP8 mode: [TP] f32, its per-token scales
  // Scoring.
  Tensor rows;         // [R] i32 positions scored
  Tensor targets;      // [R] i32 expected next tokens
  Tensor sel;          // [R, H] final hidden states of the scored rows
  Tensor logits;       // [logits_rows, V_local] f32
  Tensor stats;        // [R, 4] f32 this rank's vocab-slice statistics
  Tensor stats_all;    // [tp, R, 4] f32 gathered over the TP group
  size_t bytes = 0;    // device bytes held

  static Workspace make(const BloomConfig& c, const TpPlan& p, DType dtype, Device device,
                        const WorkspaceLimits& limits);
  /// Device bytes a workspace of these limits would take (for choosing a token budget).
  static size_t bytes_needed(const BloomConfig& c, const TpPlan& p, DType dtype,
                             const WorkspaceLimits& limits);
  /// Rows of qkv, attn, proj and ffn (and of xq / xs): max_tokens and the row padding.
  int64_t padded_tokens() const;
  /// `view` (rows of qkv, attn, proj or ffn) seen with `n` rows, n >= its own: the padding rows
  /// after a micro-batch's outputs. Fails when the rows would leave the buffer `view` lies in.
  Tensor with_rows(const Tensor& view, int64_t n) const;

 private:
  Buffer storage_;
};

}  // namespace bloom

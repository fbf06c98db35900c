// The BLOOM forward pass and the scoring of target positions.
//   bloom_forward: packed token ids -> ln_f(hidden) of every token, in ws.h [T, H].
//   bloom_score:   for each scored row, log-softmax of the target token and the argmax, over the
//                  full vocabulary (vocab-parallel under TP), without [T, V] logits.
// Shapes: T tokens packed back to back (no padding), B sequences, H hidden, V vocab, R rows.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "engine/bloom_weights.h"
#include "core/comm.h"
#include "engine/workspace.h"

namespace bloom {

/// One batch on the host: sequences packed back to back.
struct PackedBatch {
  std::vector<int32_t> ids;         // [T]
  std::vector<int32_t> cu_seqlens;  // [B+1]: sequence b spans [cu[b], cu[b+1])
  std::vector<int32_t> rows;        // [R]: packed position whose logits predict targets[r]
  std::vector<int32_t> targets;     // [R]: the token expected after rows[r]
  int32_t max_seqlen = 0;
  int64_t n_tokens() const { return static_cast<int64_t>(ids.size()); }
  int64_t n_seqs() const { return cu_seqlens.empty() ? 0 : static_cast<int64_t>(cu_seqlens.size()) - 1; }
};

struct RowScore {
  double logprob = 0.0;  // log-softmax of the target token
  int32_t argmax = -1;   // most likely token (first on ties)
};

/// Debug hook (null in production): called after each named step with the tensor it produced,
/// e.g. ("embedding_ln", -1, x), ("block", l, x), ("ln_f", -1, h).
using ActivationDump = std::function<void(const char* step, int layer, const Tensor& t)>;

/// Runs the transformer over `batch`; leaves ln_f(x) for every token in ws.h.
void bloom_forward(const BloomWeights& w, const PackedBatch& batch, Workspace& ws,
                   Communicator& tp, Context& ctx, const ActivationDump* dump = nullptr);

/// Start-up warm-up: runs the first layer and the scoring of each batch (one per size class the
/// run will meet) with GEMM tuning on (Context::tune_gemms), so cuBLASLt's fastest algorithm for
/// each shape class is chosen before the timed evaluation. Results are discarded.
void bloom_warmup(const BloomWeights& w, const std::vector<const PackedBatch*>& batches,
                  Workspace& ws, Communicator& tp, Context& ctx);

/// Scores batch.rows against batch.targets from ws.h (call after bloom_forward).
std::vector<RowScore> bloom_score(const BloomWeights& w, const PackedBatch& batch, Workspace& ws,
                                  Communicator& tp, Context& ctx);

/// Logits of this rank's vocab slice for the given final hidden rows: hidden [R, H] ->
/// logits [R, V_local] f32, through lm_head (the embedding when tied). For tests and debugging (scoring never needs all of them).
void bloom_logits(const BloomWeights& w, const Tensor& hidden, Tensor& logits, Context& ctx);

}  // namespace bloom

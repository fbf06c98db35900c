// MicroBatches: the overlap of tensor-parallel all-reduces with compute, in one small unit.
// Under tensor parallelism (tp > 1) a packed batch is split at the sequence boundary nearest its
// middle into two micro-batches. Each row-parallel product's partial sums (u.proj) are reduced
// on a second stream (reduce_async) while the compute stream goes on with the other half; the
// compute stream waits for a half's sums (wait) only when it next needs them. At tp == 1 there is
// one micro-batch, every call runs on the compute stream, and nothing waits.
// Shapes: T_m tokens of micro-batch m, H hidden, H_local / 4H_local this rank's share.
#pragma once

#include <cstdint>
#include <vector>

#include "core/comm.h"
#include "core/context.h"
#include "engine/bloom.h"
#include "engine/workspace.h"

namespace bloom {

/// One micro-batch: whole sequences, tokens [tok0, tok0 + T) of the packed batch, with row
/// slices of the workspace and its own cu_seqlens rebased to 0. x and h are rows [tok0, tok0 +
/// T) of the batch's; the linear layers' outputs start at row0, a multiple of kGemmRows, with
/// room to round T up to one after them (engine/workspace.h).
struct MicroBatch {
  int64_t tok0 = 0, T = 0, row0 = 0;
  Tensor cu;                          // [B_m + 1] i32
  Tensor x, h, proj;                  // [T_m, H]: residual stream, layer-norm output, row-parallel output
  Tensor qkv, attn, ffn;              // [T_m, 3H_local], [T_m, H_local], [T_m, 4H_local]
  StreamEvent computed, reduced;      // proj written (compute stream) / all-reduced (comm stream)
};

class MicroBatches {
 public:
  /// Splits `batch` (two parts when tp.size() > 1 and it has two sequences or more) and uploads
  /// the parts' cu_seqlens into ws.cu_seqlens.
  MicroBatches(const PackedBatch& batch, Workspace& ws, Communicator& tp, Context& ctx);
  MicroBatches(const MicroBatches&) = delete;
  MicroBatches& operator=(const MicroBatches&) = delete;

  std::vector<MicroBatch>& parts() { return parts_; }
  /// Queues the all-reduce of u.proj behind the compute queued so far (on the side stream when
  /// there are two parts), so the compute stream can move on to the other part.
  void reduce_async(MicroBatch& u);
  /// Makes the compute stream wait until u.proj holds the full sums.
  void wait(MicroBatch& u) const;

  /// Where the batch is cut: [0, b, B] (two parts) or [0, B]; sequences b..B-1 form part two.
  static std::vector<int32_t> split_points(const PackedBatch& batch, int tp_size);

 private:
  Communicator& tp_;
  Context& ctx_;
  Context& comm_ctx_;  // the side stream with two parts, else ctx_
  std::vector<MicroBatch> parts_;
};

}  // namespace bloom

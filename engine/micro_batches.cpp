// MicroBatches (see micro_batches.h): splitting a packed batch in two and ordering each part's
// all-reduce between the compute stream and the communication stream with events.
#include "engine/micro_batches.h"

#include <cstdlib>

namespace bloom {

std::vector<int32_t> MicroBatches::split_points(const PackedBatch& batch, int tp_size) {
  const int64_t B = batch.n_seqs(), T = batch.n_tokens();
  if (tp_size < 2 || B < 2) return {0, static_cast<int32_t>(B)};
  int32_t best = 1;  // the sequence boundary nearest the middle token
  for (int32_t b = 1; b < B; ++b)
    if (std::llabs(2 * batch.cu_seqlens[b] - T) < std::llabs(2 * batch.cu_seqlens[best] - T)) best = b;
  return {0, best, static_cast<int32_t>(B)};
}

MicroBatches::MicroBatches(const PackedBatch& batch, Workspace& ws, Communicator& tp, Context& ctx)
    : tp_(tp), ctx_(ctx), comm_ctx_(split_points(batch, tp.size()).size() > 2 ? ctx.side() : ctx) {
  const std::vector<int32_t> cuts = split_points(batch, tp.size());
  parts_ = std::vector<MicroBatch>(cuts.size() - 1);
  std::vector<int32_t> cu_host;  // both parts' cu_seqlens, back to back
  int64_t row0 = 0;              // where the part's linear outputs start
  for (size_t m = 0; m < parts_.size(); ++m) {
    const int32_t b0 = cuts[m], b1 = cuts[m + 1], t0 = batch.cu_seqlens[b0];
    const int64_t n_cu = b1 - b0 + 1;
    MicroBatch& u = parts_[m];
    u.tok0 = t0;
    u.T = batch.cu_seqlens[b1] - t0;
    u.cu = ws.cu_seqlens.rows(static_cast<int64_t>(cu_host.size()), n_cu);
    for (int32_t b = b0; b <= b1; ++b) cu_host.push_back(batch.cu_seqlens[b] - t0);
    u.x = ws.x.rows(t0, u.T);
    u.h = ws.h.rows(t0, u.T);
    u.row0 = row0;
    u.proj = ws.proj.rows(row0, u.T);
    u.qkv = ws.qkv.rows(row0, u.T);
    u.attn = ws.attn.rows(row0, u.T);
    u.ffn = ws.ffn.rows(row0, u.T);
    row0 += round_up_rows(u.T);
  }
  Tensor src(cu_host.data(), DType::I32, Device::CPU, {static_cast<int64_t>(cu_host.size())});
  Tensor dst = ws.cu_seqlens.rows(0, static_cast<int64_t>(cu_host.size()));
  copy_tensor(src, dst, &ctx);
}

void MicroBatches::reduce_async(MicroBatch& u) {
  u.computed.record(ctx_);
  u.computed.wait(comm_ctx_);
  tp_.all_reduce_sum(u.proj, comm_ctx_);
  u.reduced.record(comm_ctx_);
}

void MicroBatches::wait(MicroBatch& u) const { u.reduced.wait(ctx_); }

}  // namespace bloom

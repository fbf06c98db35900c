// Workspace layout: one buffer, tensors at 256-byte aligned offsets.
#include "engine/workspace.h"

#include <algorithm>
#include <vector>

#include "core/check.h"

namespace bloom {

namespace {

// Each micro-batch may round its rows up by kGemmRows - 1.
int64_t token_rows(int64_t max_tokens) {
  return max_tokens + kMaxMicroBatches * (kGemmRows - 1);
}

struct Slot {
  Tensor* t;
  DType dtype;
  std::vector<int64_t> shape;
};

std::vector<Slot> layout(Workspace& ws, const BloomConfig& c, const TpPlan& p, DType act,
                         bool fp8, const WorkspaceLimits& lim) {
  const int64_t T = lim.max_tokens, H = c.hidden, HL = p.n_head_local * c.head_dim();
  const int64_t TP = token_rows(T);
  const int64_t R = lim.max_rows, LR = lim.logits_rows > 0 ? lim.logits_rows : R;
  return {
      {&ws.ids, DType::I32, {T}},
      {&ws.cu_seqlens, DType::I32, {lim.max_seqs + 2}},  // room for two micro-batches
      {&ws.x, act, {T, H}},
      {&ws.h, act, {T, H}},
      {&ws.qkv, act, {TP, 3 * HL}},
      {&ws.attn, act, {TP, HL}},
      {&ws.proj, act, {TP, H}},
      {&ws.ffn, act, {TP, p.ffn_local}},
      {&ws.xq, DType::F8E4M3, {fp8 ? TP * std::max(H, p.ffn_local) : 0}},
      {&ws.xs, DType::F32, {fp8 ? TP : 0}},
      {&ws.rows, DType::I32, {R}},
      {&ws.targets, DType::I32, {R}},
      {&ws.sel, act, {R, H}},
      {&ws.logits, DType::F32, {LR, p.vocab_local}},
      {&ws.stats, DType::F32, {R, 4}},
      {&ws.stats_all, DType::F32, {p.size, R, 4}},
  };
}

size_t slot_bytes(const Slot& s) {
  size_t n = dtype_size(s.dtype);
  for (int64_t d : s.shape) n *= static_cast<size_t>(d);
  return (n + 255) / 256 * 256;
}

}  // namespace

DType activation_dtype(DType model_dtype, Device device) {
  if (device == Device::CPU) return DType::F32;
  return model_dtype == DType::F8E4M3 ? DType::F16 : model_dtype;
}

size_t Workspace::bytes_needed(const BloomConfig& c, const TpPlan& p, DType dtype,
                               const WorkspaceLimits& limits) {
  Workspace tmp;
  size_t total = 0;
  // Asked for the GPU's token budget: activations as they are kept there.
  for (const Slot& s : layout(tmp, c, p, activation_dtype(dtype, Device::CUDA),
                              dtype == DType::F8E4M3, limits))
    total += slot_bytes(s);
  return total;
}

Workspace Workspace::make(const BloomConfig& c, const TpPlan& p, DType dtype, Device device,
                          const WorkspaceLimits& limits) {
  BLOOM_CHECK(limits.max_tokens > 0 && limits.max_seqs > 0 && limits.max_rows > 0,
              "workspace limits must be positive (tokens {}, sequences {}, rows {})",
              limits.max_tokens, limits.max_seqs, limits.max_rows);
  const DType act = activation_dtype(dtype, device);
  Workspace ws;
  ws.limits = limits;
  if (ws.limits.logits_rows <= 0) ws.limits.logits_rows = limits.max_rows;
  std::vector<Slot> slots = layout(ws, c, p, act, dtype == DType::F8E4M3, ws.limits);
  size_t total = 0;
  for (const Slot& s : slots) total += slot_bytes(s);
  ws.storage_ = Buffer(total, device);
  ws.storage_.zero();  // padding rows are read before anything writes them (see workspace.h)
  ws.bytes = total;
  size_t off = 0;
  for (const Slot& s : slots) {
    if (s.shape.size() == 1) *s.t = ws.storage_.tensor(s.dtype, {s.shape[0]}, off);
    else if (s.shape.size() == 2) *s.t = ws.storage_.tensor(s.dtype, {s.shape[0], s.shape[1]}, off);
    else *s.t = ws.storage_.tensor(s.dtype, {s.shape[0], s.shape[1], s.shape[2]}, off);
    off += slot_bytes(s);
  }
  return ws;
}

int64_t Workspace::padded_tokens() const { return token_rows(limits.max_tokens); }

Tensor Workspace::with_rows(const Tensor& view, int64_t n) const {
  const char* p = static_cast<const char*>(view.data);
  for (const Tensor* buf : {&qkv, &attn, &proj, &ffn}) {
    const char* b = static_cast<const char*>(buf->data);
    if (buf->rank != 2 || view.rank != 2 || view.dim(1) != buf->dim(1) || p < b ||
        p >= b + buf->nbytes())
      continue;
    const int64_t row0 = (p - b) / static_cast<int64_t>(dtype_size(buf->dtype) * buf->dim(1));
    BLOOM_CHECK(n >= view.dim(0) && row0 + n <= buf->dim(0),
                "{} rows from row {} of a workspace buffer of {} rows", n, row0, buf->dim(0));
    return buf->rows(row0, n);
  }
  BLOOM_FAIL("with_rows: {} is not a view of a linear layer's output in the workspace",
             view.shape_str());
}

}  // namespace bloom

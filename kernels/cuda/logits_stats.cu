// Per-row statistics of one vocab slice, for a vocab-parallel log-softmax.
// logits [R, V_local] f32 holding global ids [vocab_offset, vocab_offset + V_local);
// targets [R] i32 (global ids); stats [R, 4] f32: 0 max, 1 sum exp(logit - max),
// 2 argmax as a global id (first on ties; exact in fp32 below 2^24), 3 target logit or -inf.
// One block per row (rows are few: the scored positions of a batch, V_local up to 250880).
// Each thread runs an online (max, sum) over its elements in index order, so ties keep the
// first index; partial states merge through the warp and the block, smaller index on ties.
// exp(x - m) is exp2(fma(x, log2 e, -m log2 e)): one rounding inside the exponent.
#include <climits>

#include "kernels/cuda/common.cuh"
#include "kernels/cuda/ops_cuda.h"

namespace bloom::ops::cuda {

namespace {

constexpr int kThreads = 512;
constexpr float kLog2e = 1.4426950408889634f;

struct Stat {
  float m;    // running max (-inf when empty)
  float s;    // sum of exp(x - m)
  int idx;    // local index of the first maximum (INT_MAX when empty)
};

__device__ __forceinline__ void push(Stat& st, float x, int j) {
  if (x > st.m) {
    st.s = (st.m == -INFINITY ? 0.0f : st.s * exp2f((st.m - x) * kLog2e)) + 1.0f;
    st.m = x;
    st.idx = j;
  } else if (st.m != -INFINITY) {  // x <= m; both -inf would give exp(nan)
    st.s += exp2f(fmaf(x, kLog2e, -st.m * kLog2e));
  }
  if (isnan(x)) st.s = x;  // a NaN logit poisons the sum instead of being skipped by max
}

__device__ __forceinline__ Stat merge(const Stat& a, const Stat& b) {
  Stat r;
  r.m = fmaxf(a.m, b.m);
  if (r.m == -INFINITY) {
    r.s = a.s + b.s;  // both empty (or all -inf): 0, or NaN propagates
  } else {
    const float sa = a.m == -INFINITY ? 0.0f : a.s * exp2f((a.m - r.m) * kLog2e);
    const float sb = b.m == -INFINITY ? 0.0f : b.s * exp2f((b.m - r.m) * kLog2e);
    r.s = sa + sb;
  }
  r.idx = a.m > b.m ? a.idx : (b.m > a.m ? b.idx : min(a.idx, b.idx));
  return r;
}

__device__ __forceinline__ Stat warp_merge(Stat st) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) {
    Stat other;
    other.m = __shfl_xor_sync(0xffffffffu, st.m, o);
    other.s = __shfl_xor_sync(0xffffffffu, st.s, o);
    other.idx = __shfl_xor_sync(0xffffffffu, st.idx, o);
    st = merge(st, other);
  }
  return st;
}

/// kVec4: the row is read as float4 (V % 4 == 0 and 16-byte aligned rows).
template <bool kVec4>
__global__ void __launch_bounds__(kThreads)
    logits_stats_kernel(const float* __restrict__ logits, const int32_t* __restrict__ targets,
                        int64_t vocab_offset, int V, float* __restrict__ stats) {
  __shared__ Stat partial[kThreads / 32];
  const int64_t r = blockIdx.x;
  const float* row = logits + r * V;
  Stat st{-INFINITY, 0.0f, INT_MAX};
  if constexpr (kVec4) {
    const float4* row4 = reinterpret_cast<const float4*>(row);
    for (int i = threadIdx.x; i < V / 4; i += kThreads) {
      const float4 v = row4[i];
      push(st, v.x, 4 * i);
      push(st, v.y, 4 * i + 1);
      push(st, v.z, 4 * i + 2);
      push(st, v.w, 4 * i + 3);
    }
  } else {
    for (int i = threadIdx.x; i < V; i += kThreads) push(st, row[i], i);
  }
  st = warp_merge(st);
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  if (lane == 0) partial[warp] = st;
  __syncthreads();
  if (warp == 0) {
    st = lane < kThreads / 32 ? partial[lane] : Stat{-INFINITY, 0.0f, INT_MAX};
    st = warp_merge(st);
    if (lane == 0) {
      const int64_t local_target = static_cast<int64_t>(targets[r]) - vocab_offset;
      const int arg = st.idx == INT_MAX ? 0 : st.idx;  // all -inf: index 0, like the reference
      float* out = stats + r * 4;
      out[0] = st.m;
      out[1] = st.s;
      out[2] = static_cast<float>(static_cast<int64_t>(arg) + vocab_offset);
      out[3] = (local_target >= 0 && local_target < V) ? row[local_target] : -INFINITY;
    }
  }
}

}  // namespace

void logits_stats(Context& ctx, const Tensor& logits, const Tensor& targets,
                  int64_t vocab_offset, Tensor& stats) {
  const char* op = "logits_stats";
  const int64_t V = logits.dim(-1), R = logits.numel() / V;
  if (R == 0) return;
  const bool vec4 = V % 4 == 0 && is_aligned(logits.data, 16);
  const auto* lp = static_cast<const float*>(logits.data);
  const auto* tp = static_cast<const int32_t*>(targets.data);
  auto* sp = static_cast<float*>(stats.data);
  const int v = static_cast<int>(V);
  if (vec4) {
    logits_stats_kernel<true><<<static_cast<unsigned>(R), kThreads, 0, stream_of(ctx)>>>(
        lp, tp, vocab_offset, v, sp);
  } else {
    logits_stats_kernel<false><<<static_cast<unsigned>(R), kThreads, 0, stream_of(ctx)>>>(
        lp, tp, vocab_offset, v, sp);
  }
  check_launch(ctx, op);
}

}  // namespace bloom::ops::cuda

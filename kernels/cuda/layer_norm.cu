// Layer norm over the last dim, and the residual step fused with the next layer norm.
//   layer_norm:                    y = (x - mean) / sqrt(var + eps) * gamma + beta
//   add_bias_residual_layer_norm:  x += h + bias (one rounding to x's dtype), y = layer_norm(x)
//   add_bias_residual_layer_norm_fp8: the same, y rounded to x's dtype and then quantized per
//     row to e4m3 (kernels/cuda/common.cuh) instead of stored: the bytes and scale quantize_fp8
//     gives for the stored y, without writing y and reading it back (FP8 mode: the layer norm
//     feeds a linear layer's quantized input).
// x, h, y [T, H]; gamma, beta, bias [H]; one dtype (F32/F16/BF16) for all. layer_norm's y
// may alias x; the fused op's y may alias h (arguments checked in kernels/dispatch.cpp).
// One block per row. The row is loaded once into registers (16-byte packs when H and the
// pointers allow), statistics are fp32 and two-pass (mean, then mean of squared deviations:
// no E[x^2] - mean^2 cancellation); var is biased, as torch. The statistics of the fused op use
// the rounded x that is stored, so y is exactly layer_norm(stored x). Rows too long for
// registers (> 8 packs per thread at 512 threads) take a loop over global memory instead.
#include <algorithm>

#include "kernels/cuda/common.cuh"
#include "kernels/cuda/ops_cuda.h"

namespace bloom::ops::cuda {

namespace {

constexpr int kMaxPacksPerThread = 8;
constexpr int kMaxThreads = 512;  // 8 packs x 16 B x 512 = rows up to 32768 halves

template <typename T>
struct LnArgs {
  const T* x;      // input rows (layer_norm) or residual stream (fused op)
  const T* h;      // fused op: the block output, else null
  const T* bias;   // fused op: bias of the row-parallel product, else null
  T* x_out;        // fused op: updated residual stream (== x), else null
  const T* gamma;
  const T* beta;
  T* y;           // the normalized rows, unless quantized
  uint8_t* q;     // quantized: e4m3 rows [T, H] and one scale per row
  float* q_scale;
  int H;
  float eps;
};

/// One normalized value: an explicit rounding order, the same in every kernel here, so the
/// quantizing kernels see exactly the values the storing kernels store.
__device__ __forceinline__ float ln_value(float v, float mean, float rstd, float g, float b) {
  return __fmaf_rn(__fmul_rn(v - mean, rstd), g, b);
}

/// Row in registers. kVec elements per pack (16 bytes, or 1 for the scalar path).
template <typename T, int kVec, bool kResidual, bool kQuantize>
__global__ void __launch_bounds__(kMaxThreads) layer_norm_kernel(LnArgs<T> a) {
  __shared__ float scratch[32];
  const int64_t row = blockIdx.x;
  const int n_packs = a.H / kVec;
  float v[kMaxPacksPerThread][kVec];

  float sum = 0.0f;
#pragma unroll
  for (int i = 0; i < kMaxPacksPerThread; ++i) {
    const int p = threadIdx.x + i * blockDim.x;
    if (p < n_packs) {
      const int64_t off = row * a.H + static_cast<int64_t>(p) * kVec;
      Vec<T, kVec> xs = load_vec<kVec>(a.x + off);
#pragma unroll
      for (int j = 0; j < kVec; ++j) v[i][j] = to_float(xs.v[j]);
      if constexpr (kResidual) {
        const Vec<T, kVec> hs = load_vec<kVec>(a.h + off);
        const Vec<T, kVec> bs = load_vec<kVec>(a.bias + p * kVec);
#pragma unroll
        for (int j = 0; j < kVec; ++j) {
          xs.v[j] = from_float<T>(v[i][j] + to_float(hs.v[j]) + to_float(bs.v[j]));
          v[i][j] = to_float(xs.v[j]);
        }
        store_vec(a.x_out + off, xs);
      }
#pragma unroll
      for (int j = 0; j < kVec; ++j) sum += v[i][j];
    }
  }
  const float mean = block_sum(sum, scratch) / static_cast<float>(a.H);

  float sq = 0.0f;
#pragma unroll
  for (int i = 0; i < kMaxPacksPerThread; ++i) {
    if (static_cast<int>(threadIdx.x + i * blockDim.x) < n_packs) {
#pragma unroll
      for (int j = 0; j < kVec; ++j) {
        const float d = v[i][j] - mean;
        sq += d * d;
      }
    }
  }
  const float rstd = rsqrtf(block_sum(sq, scratch) / static_cast<float>(a.H) + a.eps);

  float amax = 0.0f;
#pragma unroll
  for (int i = 0; i < kMaxPacksPerThread; ++i) {
    const int p = threadIdx.x + i * blockDim.x;
    if (p < n_packs) {
      const Vec<T, kVec> gs = load_vec<kVec>(a.gamma + p * kVec);
      const Vec<T, kVec> bs = load_vec<kVec>(a.beta + p * kVec);
      Vec<T, kVec> ys;
#pragma unroll
      for (int j = 0; j < kVec; ++j) {
        ys.v[j] = from_float<T>(ln_value(v[i][j], mean, rstd, to_float(gs.v[j]), to_float(bs.v[j])));
        if constexpr (kQuantize) {
          v[i][j] = to_float(ys.v[j]);
          amax = fmaxf(amax, fabsf(v[i][j]));
        }
      }
      if constexpr (!kQuantize) store_vec(a.y + row * a.H + static_cast<int64_t>(p) * kVec, ys);
    }
  }
  if constexpr (kQuantize) {
    const Fp8RowScale rs = fp8_row_scale(block_max(amax, scratch));
    if (threadIdx.x == 0) a.q_scale[row] = rs.scale;
#pragma unroll
    for (int i = 0; i < kMaxPacksPerThread; ++i) {
      const int p = threadIdx.x + i * blockDim.x;
      if (p < n_packs) {
        Vec<uint8_t, kVec> qs;
#pragma unroll
        for (int j = 0; j < kVec; ++j) qs.v[j] = to_e4m3(v[i][j], rs.inv);
        store_vec(a.q + row * a.H + static_cast<int64_t>(p) * kVec, qs);
      }
    }
  }
}

/// Rows of any length: three passes over global memory (the row stays in L1/L2). Each thread
/// only rereads the elements it wrote itself, so aliasing y with x or h stays safe.
template <typename T, bool kResidual, bool kQuantize>
__global__ void __launch_bounds__(1024) layer_norm_long_kernel(LnArgs<T> a) {
  __shared__ float scratch[32];
  const int64_t base = static_cast<int64_t>(blockIdx.x) * a.H;
  const T* src = kResidual ? a.x_out : a.x;
  float sum = 0.0f;
  for (int i = threadIdx.x; i < a.H; i += blockDim.x) {
    float v = to_float(a.x[base + i]);
    if constexpr (kResidual) {
      const T r = from_float<T>(v + to_float(a.h[base + i]) + to_float(a.bias[i]));
      a.x_out[base + i] = r;
      v = to_float(r);
    }
    sum += v;
  }
  const float mean = block_sum(sum, scratch) / static_cast<float>(a.H);
  float sq = 0.0f;
  for (int i = threadIdx.x; i < a.H; i += blockDim.x) {
    const float d = to_float(src[base + i]) - mean;
    sq += d * d;
  }
  const float rstd = rsqrtf(block_sum(sq, scratch) / static_cast<float>(a.H) + a.eps);
  auto y_at = [&](int i) {
    return from_float<T>(ln_value(to_float(src[base + i]), mean, rstd, to_float(a.gamma[i]),
                                  to_float(a.beta[i])));
  };
  if constexpr (kQuantize) {  // a fourth pass: the row's max first, then its bytes
    float amax = 0.0f;
    for (int i = threadIdx.x; i < a.H; i += blockDim.x) amax = fmaxf(amax, fabsf(to_float(y_at(i))));
    const Fp8RowScale rs = fp8_row_scale(block_max(amax, scratch));
    if (threadIdx.x == 0) a.q_scale[blockIdx.x] = rs.scale;
    for (int i = threadIdx.x; i < a.H; i += blockDim.x) a.q[base + i] = to_e4m3(to_float(y_at(i)), rs.inv);
  } else {
    for (int i = threadIdx.x; i < a.H; i += blockDim.x) a.y[base + i] = y_at(i);
  }
}

template <typename T, bool kResidual, bool kQuantize = false>
void launch(Context& ctx, const LnArgs<T>& a, int64_t T_rows) {
  constexpr int kVec = kVec16<T>;
  bool vec_ok = a.H % kVec == 0 && is_aligned(a.x, 16) && is_aligned(a.gamma, 16) &&
                is_aligned(a.beta, 16);
  vec_ok = vec_ok && (kQuantize ? is_aligned(a.q, kVec) : is_aligned(a.y, 16));
  if (kResidual) vec_ok = vec_ok && is_aligned(a.h, 16) && is_aligned(a.bias, 16);
  const int vec = vec_ok ? kVec : 1;
  const int n_packs = a.H / vec;
  // ~4 packs per thread: enough loads in flight per thread, rows of 4096 halves on 128 threads.
  const int threads = std::min(kMaxThreads, std::max(32, (n_packs / 4 + 31) / 32 * 32));
  const bool in_registers = (n_packs + threads - 1) / threads <= kMaxPacksPerThread;
  const dim3 grid(static_cast<unsigned>(T_rows));
  cudaStream_t s = stream_of(ctx);
  if (!in_registers) {
    layer_norm_long_kernel<T, kResidual, kQuantize><<<grid, 1024, 0, s>>>(a);
  } else if (vec_ok) {
    layer_norm_kernel<T, kVec, kResidual, kQuantize><<<grid, threads, 0, s>>>(a);
  } else {
    layer_norm_kernel<T, 1, kResidual, kQuantize><<<grid, threads, 0, s>>>(a);
  }
}

// The three ops: a plain layer norm (no h), the residual step (h, bias) storing y, or quantizing
// it (q).
void run(Context& ctx, const char* op, const Tensor& x, const Tensor* h, const Tensor* bias,
         const Tensor& gamma, const Tensor& beta, float eps, const Tensor* y, const Fp8Matrix* q) {
  const int64_t H = x.dim(-1), rows = x.numel() / H;
  if (rows == 0) return;
  dispatch_float(x.dtype, op, [&](auto tag) {
    using T = decltype(tag);
    LnArgs<T> a{};
    a.x = static_cast<const T*>(x.data);
    if (h) {
      a.h = static_cast<const T*>(h->data);
      a.bias = static_cast<const T*>(bias->data);
      a.x_out = static_cast<T*>(x.data);
    }
    a.gamma = static_cast<const T*>(gamma.data);
    a.beta = static_cast<const T*>(beta.data);
    if (y) a.y = static_cast<T*>(y->data);
    if (q) {
      a.q = static_cast<uint8_t*>(q->q.data);
      a.q_scale = static_cast<float*>(q->scale.data);
    }
    a.H = static_cast<int>(H);
    a.eps = eps;
    if (!h) launch<T, false>(ctx, a, rows);
    else if (!q) launch<T, true>(ctx, a, rows);
    else launch<T, true, true>(ctx, a, rows);
  });
  check_launch(ctx, op);
}

}  // namespace

void layer_norm(Context& ctx, const Tensor& x, const Tensor& gamma, const Tensor& beta,
                float eps, Tensor& y) {
  run(ctx, "layer_norm", x, nullptr, nullptr, gamma, beta, eps, &y, nullptr);
}

void add_bias_residual_layer_norm(Context& ctx, const Tensor& h, const Tensor& bias, Tensor& x,
                                  const Tensor& gamma, const Tensor& beta, float eps, Tensor& y) {
  run(ctx, "add_bias_residual_layer_norm", x, &h, &bias, gamma, beta, eps, &y, nullptr);
}

void add_bias_residual_layer_norm_fp8(Context& ctx, const Tensor& h, const Tensor& bias, Tensor& x,
                                      const Tensor& gamma, const Tensor& beta, float eps,
                                      Fp8Matrix& y) {
  run(ctx, "add_bias_residual_layer_norm_fp8", x, &h, &bias, gamma, beta, eps, nullptr, &y);
}

}  // namespace bloom::ops::cuda

// Per-row FP8 quantization on the GPU: x [T, K] (F32/F16/BF16) -> q [T, K] e4m3, scale [T] f32.
// One block per row: the row's max |x| (fp32, exact), then q = e4m3(x * (448 / amax)) rounded
// to nearest even and saturating (__NV_SATFINITE), scale = amax / 448. For 16-bit rows of a
// multiple of 8 values (every linear layer's input) the row is read once, 16 bytes per load,
// held in registers across the reduction, and written 8 bytes per store: one pass over memory
// (the first version read the row twice with 2-byte loads: 1.1 TB/s on an H200, a sixth of a
// BLOOM-7b1 FP8 batch). Other rows take the plain two-pass kernel. The divisions and the
// product use the IEEE-rounded intrinsics (this file is built with --use_fast_math), so the bytes
// equal the CPU reference's (core/fp8.h) for the same input (kernels/cuda/common.cuh).
#include <algorithm>

#include "kernels/cuda/common.cuh"
#include "kernels/cuda/ops_cuda.h"

namespace bloom::ops::cuda {

namespace {

constexpr int kThreads = 256;

template <typename T>
__global__ void quantize_fp8_kernel(const T* __restrict__ x, int64_t K, uint8_t* __restrict__ q,
                                    float* __restrict__ scale) {
  __shared__ float scratch[32];
  const T* row = x + blockIdx.x * K;
  float amax = 0.0f;
  for (int64_t j = threadIdx.x; j < K; j += blockDim.x) amax = fmaxf(amax, fabsf(to_float(row[j])));
  const Fp8RowScale rs = fp8_row_scale(block_max(amax, scratch));
  if (threadIdx.x == 0) scale[blockIdx.x] = rs.scale;
  uint8_t* out = q + blockIdx.x * K;
  for (int64_t j = threadIdx.x; j < K; j += blockDim.x) out[j] = to_e4m3(to_float(row[j]), rs.inv);
}

// One pass: each thread holds up to kChunks chunks of 8 values (one 16-byte load each).
constexpr int kChunks = 8;

template <typename T>
__global__ void quantize_fp8_vec_kernel(const T* __restrict__ x, int64_t K,
                                        uint8_t* __restrict__ q, float* __restrict__ scale) {
  __shared__ float scratch[32];
  const int64_t n_chunks = K / 8;
  const T* row = x + blockIdx.x * K;
  Vec<T, 8> v[kChunks];
  float amax = 0.0f;
#pragma unroll
  for (int c = 0; c < kChunks; ++c) {
    const int64_t chunk = threadIdx.x + static_cast<int64_t>(c) * blockDim.x;
    if (chunk < n_chunks) {
      v[c] = load_vec<8>(row + chunk * 8);
#pragma unroll
      for (int i = 0; i < 8; ++i) amax = fmaxf(amax, fabsf(to_float(v[c].v[i])));
    }
  }
  const Fp8RowScale rs = fp8_row_scale(block_max(amax, scratch));
  if (threadIdx.x == 0) scale[blockIdx.x] = rs.scale;
  uint8_t* out = q + blockIdx.x * K;
#pragma unroll
  for (int c = 0; c < kChunks; ++c) {
    const int64_t chunk = threadIdx.x + static_cast<int64_t>(c) * blockDim.x;
    if (chunk < n_chunks) {
      Vec<uint8_t, 8> b;
#pragma unroll
      for (int i = 0; i < 8; ++i) b.v[i] = to_e4m3(to_float(v[c].v[i]), rs.inv);
      store_vec<8>(out + chunk * 8, b);
    }
  }
}

}  // namespace

void quantize_fp8(Context& ctx, const Tensor& x, Fp8Matrix& out) {
  const int64_t K = x.dim(-1), T = x.numel() / K;
  if (T == 0) return;
  const int64_t n_chunks = K / 8;
  const int threads = static_cast<int>(
      std::min<int64_t>(1024, ((n_chunks + kChunks - 1) / kChunks + 31) / 32 * 32));
  const bool vec = x.dtype != DType::F32 && K % 8 == 0 && is_aligned(x.data, 16) &&
                   is_aligned(out.q.data, 8) && n_chunks <= static_cast<int64_t>(threads) * kChunks;
  if (vec) {
    dispatch_float(x.dtype, "quantize_fp8", [&](auto tag) {
      using T_ = decltype(tag);
      quantize_fp8_vec_kernel<T_><<<static_cast<unsigned>(T), threads, 0, stream_of(ctx)>>>(
          static_cast<const T_*>(x.data), K, static_cast<uint8_t*>(out.q.data),
          static_cast<float*>(out.scale.data));
    });
    check_launch(ctx, "quantize_fp8");
    return;
  }
  dispatch_float(x.dtype, "quantize_fp8", [&](auto tag) {
    using T_ = decltype(tag);
    quantize_fp8_kernel<T_><<<static_cast<unsigned>(T), kThreads, 0, stream_of(ctx)>>>(
        static_cast<const T_*>(x.data), K, static_cast<uint8_t*>(out.q.data),
        static_cast<float*>(out.scale.data));
  });
  check_launch(ctx, "quantize_fp8");
}

}  // namespace bloom::ops::cuda

// Per-row FP8 quantization on the GPU: x [T, K] (F32/F16/BF16) -> q [T, K] e4m3, scale [T] f32.
// One block per row: the row's max |x| (fp32, exact), then q = e4m3(x * (448 / amax)) rounded
// to nearest even and saturating (__NV_SATFINITE), scale = amax / 448. The divisions and the
// product use the IEEE-rounded intrinsics (this file is built with --use_fast_math), so the bytes
// equal the CPU reference's (core/fp8.h) for the same input.
#include <cuda_fp8.h>

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
  amax = warp_max(amax);
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  if (lane == 0) scratch[warp] = amax;
  __syncthreads();
  amax = lane < static_cast<int>(blockDim.x >> 5) ? scratch[lane] : 0.0f;
  amax = warp_max(amax);
  const bool usable = amax > 0.0f && isfinite(amax);   // as core/fp8.cpp's row_scale
  const float inv = usable ? __fdiv_rn(448.0f, amax) : 1.0f;
  if (threadIdx.x == 0) scale[blockIdx.x] = usable ? __fdiv_rn(amax, 448.0f) : 1.0f;
  uint8_t* out = q + blockIdx.x * K;
  for (int64_t j = threadIdx.x; j < K; j += blockDim.x)
    out[j] = __nv_cvt_float_to_fp8(__fmul_rn(to_float(row[j]), inv), __NV_SATFINITE, __NV_E4M3);
}

}  // namespace

void quantize_fp8(Context& ctx, const Tensor& x, Fp8Matrix& out) {
  const int64_t K = x.dim(-1), T = x.numel() / K;
  if (T == 0) return;
  dispatch_float(x.dtype, "quantize_fp8", [&](auto tag) {
    using T_ = decltype(tag);
    quantize_fp8_kernel<T_><<<static_cast<unsigned>(T), kThreads, 0, stream_of(ctx)>>>(
        static_cast<const T_*>(x.data), K, static_cast<uint8_t*>(out.q.data),
        static_cast<float*>(out.scale.data));
  });
  check_launch(ctx, "quantize_fp8");
}

}  // namespace bloom::ops::cuda

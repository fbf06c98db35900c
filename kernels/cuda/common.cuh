// Shared helpers of the CUDA ops (included by kernels/cuda/*.cu only, never by host headers):
// launch checks naming the op, a dtype -> C++ type dispatcher, dtype conversion
// float <-> {float, __half, __nv_bfloat16}, 16-byte vector packs, warp/block reductions, the
// per-row FP8 e4m3 scaling of core/fp8.h, and the row copy of embedding and gather_rows. Argument checks live in kernels/dispatch.cpp.
#pragma once

#include <cstdint>
#include <type_traits>

#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_fp8.h>
#include <cuda_runtime.h>

#include "core/check.h"
#include "core/context.h"
#include "core/tensor.h"

namespace bloom::ops::cuda {

inline cudaStream_t stream_of(const Context& ctx) {
  return static_cast<cudaStream_t>(ctx.stream());
}

/// After a launch: report launch errors under the op's name; with BLOOM_SYNC_CHECK also wait
/// for the kernel so that asynchronous faults (illegal address, trap) name the right op.
inline void check_launch(const Context& ctx, const char* op) {
  cudaError_t err = cudaGetLastError();
  if (err != cudaSuccess)
    BLOOM_FAIL("{}: CUDA kernel launch failed: {} ({})", op, cudaGetErrorName(err),
               cudaGetErrorString(err));
  if (ctx.sync_check()) {
    err = cudaStreamSynchronize(stream_of(ctx));
    if (err != cudaSuccess)
      BLOOM_FAIL("{}: CUDA kernel failed: {} ({})", op, cudaGetErrorName(err),
                 cudaGetErrorString(err));
  }
}

/// True when p is aligned to `bytes` (a power of two).
inline bool is_aligned(const void* p, size_t bytes) {
  return (reinterpret_cast<uintptr_t>(p) & (bytes - 1)) == 0;
}

/// dst[r, :] = src[idx[r] - idx_offset, :] if that row of src exists, else bytes `fill`.
/// src [S, W], idx [R] i32, dst [R, W], one dtype (kernels/cuda/copy_rows.cu).
void copy_rows(Context& ctx, const Tensor& src, const Tensor& idx, int64_t idx_offset,
               unsigned char fill, Tensor& dst);

/// Calls f(T{}) with T the C++ element type of a floating dtype (float, __half, __nv_bfloat16).
template <typename F>
void dispatch_float(DType t, const char* op, F&& f) {
  switch (t) {
    case DType::F32: f(float{}); return;
    case DType::F16: f(__half{}); return;
    case DType::BF16: f(__nv_bfloat16{}); return;
    default: BLOOM_FAIL("{}: unsupported dtype {}", op, dtype_name(t));
  }
}

// ---- dtype conversion -------------------------------------------------------------------

template <typename T>
__device__ __forceinline__ float to_float(T x);
template <>
__device__ __forceinline__ float to_float<float>(float x) { return x; }
template <>
__device__ __forceinline__ float to_float<__half>(__half x) { return __half2float(x); }
template <>
__device__ __forceinline__ float to_float<__nv_bfloat16>(__nv_bfloat16 x) {
  return __bfloat162float(x);
}

template <typename T>
__device__ __forceinline__ T from_float(float x);
template <>
__device__ __forceinline__ float from_float<float>(float x) { return x; }
template <>
__device__ __forceinline__ __half from_float<__half>(float x) { return __float2half_rn(x); }
template <>
__device__ __forceinline__ __nv_bfloat16 from_float<__nv_bfloat16>(float x) {
  return __float2bfloat16_rn(x);
}

/// N consecutive elements of T moved as one aligned load/store (N * sizeof(T) <= 16 bytes).
template <typename T, int N>
struct alignas(sizeof(T) * N) Vec {
  T v[N];
};

/// Elements of T in one 16-byte vector (4 floats, 8 halves).
template <typename T>
constexpr int kVec16 = 16 / static_cast<int>(sizeof(T));

template <int N, typename T>
__device__ __forceinline__ Vec<T, N> load_vec(const T* p) {
  return *reinterpret_cast<const Vec<T, N>*>(p);
}

template <int N, typename T>
__device__ __forceinline__ void store_vec(T* p, const Vec<T, N>& v) {
  *reinterpret_cast<Vec<T, N>*>(p) = v;
}

// ---- reductions -------------------------------------------------------------------------

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

/// Sum over the block (blockDim.x a multiple of 32, at most 1024); every thread gets the
/// result. `scratch` holds 32 floats of shared memory; safe to call repeatedly.
__device__ __forceinline__ float block_sum(float v, float* scratch) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int n_warps = (blockDim.x + 31) >> 5;
  v = warp_sum(v);
  __syncthreads();  // scratch may still be read by a previous call
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  v = lane < n_warps ? scratch[lane] : 0.0f;
  return warp_sum(v);
}

/// Largest value over the block, as block_sum (0 for a block of negative values: for |x|).
__device__ __forceinline__ float block_max(float v, float* scratch) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int n_warps = (blockDim.x + 31) >> 5;
  v = warp_max(v);
  __syncthreads();
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  v = lane < n_warps ? scratch[lane] : 0.0f;
  return warp_max(v);
}

// ---- FP8 e4m3, one scale per row (core/fp8.h) ----------------------------------------------
// The divisions and the product are the IEEE-rounded intrinsics (the CUDA files are built with
// --use_fast_math), so the bytes equal the CPU reference's for the same input.

struct Fp8RowScale {
  float inv;    // values are multiplied by this before rounding: 448 / amax
  float scale;  // what the row's bytes are multiplied by: amax / 448
};

/// From a row's max |x|; a row of zeros (or a non-finite max) gets 1 and 1, as core/fp8.cpp.
__device__ __forceinline__ Fp8RowScale fp8_row_scale(float amax) {
  const bool usable = amax > 0.0f && isfinite(amax);
  return {usable ? __fdiv_rn(448.0f, amax) : 1.0f, usable ? __fdiv_rn(amax, 448.0f) : 1.0f};
}

/// v * inv rounded to the nearest e4m3 (ties to even), saturating at +-448.
__device__ __forceinline__ uint8_t to_e4m3(float v, float inv) {
  return __nv_cvt_float_to_fp8(__fmul_rn(v, inv), __NV_SATFINITE, __NV_E4M3);
}

}  // namespace bloom::ops::cuda

// FP8 linear on the GPU (Hopper and later): y = act(x.scale[t] w.scale[n] (x.q . w.q)[t, n] + b[n])
// with cuBLASLt, e4m3 x e4m3, fp32 accumulate, F16/BF16 output. Layout as kernels/cuda/linear.cu
// (A = w.q transposed, B = x.q: the "TN" form FP8 GEMMs require). The per-row scales ride on
// cuBLASLt's outer-vector scaling (A scale: one per output channel, B scale: one per token).
// Three ways, the first cuBLASLt offers an algorithm for:
//   1. outer-vector scales with bias / GELU fused as the epilogue;
//   2. outer-vector scales, then bias / GELU by a small kernel;
//   3. no scales: the raw product written as bf16 into y's memory (same element size; bf16 has
//      fp32's range, and 8 mantissa bits, finer than e4m3's 3), then one kernel scales, adds the
//      bias, applies GELU and writes y's dtype in place.
// cuBLASLt (13.0, H200) has outer-vector algorithms only for T a multiple of 16: the FP8 mode
// rounds its row counts up (engine/workspace.h), so its products take way 1; other T fall back.
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/gemm_plan.cuh"
#include "kernels/cuda/ops_cuda.h"

namespace bloom::ops::cuda {

namespace {

enum class Way { OuterFused, OuterThenKernel, UnscaledThenKernel };

__device__ __forceinline__ float gelu(float v) {
  return 0.5f * v * (1.0f + tanhf(0.79788456f * v * (1.0f + 0.044715f * v * v)));
}

// In place over y [T, N]: v = y (bf16 raw product when `unscaled`, else y's dtype, scales already
// applied); v *= xs[t] ws[n] when unscaled; v += b[n]; GELU; stored as TY.
template <typename TY, bool kUnscaled>
__global__ void fp8_epilogue_kernel(TY* __restrict__ y, const float* __restrict__ xs,
                                    const float* __restrict__ ws, const TY* __restrict__ bias,
                                    int64_t N, int64_t total, bool gelu_on) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t t = i / N, n = i - t * N;
    float v;
    if constexpr (kUnscaled) {
      v = __bfloat162float(reinterpret_cast<const __nv_bfloat16*>(y)[i]) * xs[t] * ws[n];
    } else {
      v = to_float(y[i]);
    }
    if (bias) v += to_float(bias[n]);
    if (gelu_on) v = gelu(v);
    y[i] = from_float<TY>(v);
  }
}

void launch_epilogue(Context& ctx, bool unscaled, const Fp8Matrix& x, const Fp8Matrix& w,
                     const Tensor& bias, bool gelu_on, Tensor& y, int64_t N) {
  const int64_t total = y.numel();
  const int threads = 256;
  const unsigned blocks =
      static_cast<unsigned>(std::min<int64_t>((total + threads - 1) / threads, 65535));
  const bool has_bias = bias.numel() > 0;
  dispatch_float(y.dtype, "linear_fp8", [&](auto tag) {
    using TY = decltype(tag);
    const auto* b = has_bias ? static_cast<const TY*>(bias.data) : nullptr;
    const auto* xs = static_cast<const float*>(x.scale.data);
    const auto* ws = static_cast<const float*>(w.scale.data);
    if (unscaled)
      fp8_epilogue_kernel<TY, true><<<blocks, threads, 0, stream_of(ctx)>>>(
          static_cast<TY*>(y.data), xs, ws, b, N, total, gelu_on);
    else
      fp8_epilogue_kernel<TY, false><<<blocks, threads, 0, stream_of(ctx)>>>(
          static_cast<TY*>(y.data), xs, ws, b, N, total, gelu_on);
  });
}

}  // namespace

void linear_fp8(Context& ctx, const Fp8Matrix& x, const Fp8Matrix& w, const Tensor& bias,
                Activation act, Tensor& y) {
  const int64_t K = w.q.dim(1), N = w.q.dim(0), T = x.q.numel() / K;
  if (T == 0 || N == 0) return;
  const bool has_bias = bias.numel() > 0, gelu_on = act == Activation::GeluTanh;
  cublasLtEpilogue_t fused = CUBLASLT_EPILOGUE_DEFAULT;
  if (has_bias) fused = gelu_on ? CUBLASLT_EPILOGUE_GELU_BIAS : CUBLASLT_EPILOGUE_BIAS;
  else if (gelu_on) fused = CUBLASLT_EPILOGUE_GELU;
  const bool fuse_ok = !has_bias || is_aligned(bias.data, 16);
  auto handle = static_cast<cublasLtHandle_t>(ctx.cublaslt());
  const cudaDataType_t d_type = y.dtype == DType::BF16 ? CUDA_R_16BF : CUDA_R_16F;

  GemmPlans& plans = gemm_plans();
  std::lock_guard<std::mutex> lock(plans.mutex());
  for (Way way : {Way::OuterFused, Way::OuterThenKernel, Way::UnscaledThenKernel}) {
    if (way == Way::OuterFused && (fused == CUBLASLT_EPILOGUE_DEFAULT || !fuse_ok)) continue;
    GemmShape shape;
    shape.device = ctx.cuda_device();
    shape.ab_type = CUDA_R_8F_E4M3;
    shape.d_type = way == Way::UnscaledThenKernel ? CUDA_R_16BF : d_type;
    shape.bias_type = d_type;
    shape.epilogue = way == Way::OuterFused ? fused : CUBLASLT_EPILOGUE_DEFAULT;
    shape.m = N;
    shape.n = T;
    shape.k = K;
    shape.outer_vector_scales = way != Way::UnscaledThenKernel;
    shape.align_a = alignment_of(w.q.data);
    shape.align_b = alignment_of(x.q.data);
    shape.align_d = alignment_of(y.data);
    shape.workspace = ctx.gemm_workspace_size();
    GemmOperands ops;
    ops.a = w.q.data;
    ops.b = x.q.data;
    ops.d = y.data;
    if (way != Way::UnscaledThenKernel) {
      ops.a_scale = w.scale.data;
      ops.b_scale = x.scale.data;
    }
    if (way == Way::OuterFused && has_bias) ops.bias = bias.data;
    GemmPlan& plan = plans.get(handle, shape, ctx.tune_gemms(), ops, ctx.gemm_workspace(),
                               stream_of(ctx));
    if (!plan.ok) continue;
    run_gemm_plan(handle, plan, ops, ctx.gemm_workspace(), ctx.gemm_workspace_size(),
                  stream_of(ctx));
    if (way != Way::OuterFused && (has_bias || gelu_on || way == Way::UnscaledThenKernel))
      launch_epilogue(ctx, way == Way::UnscaledThenKernel, x, w, bias, gelu_on, y, N);
    check_launch(ctx, "linear_fp8");
    return;
  }
  BLOOM_FAIL("linear_fp8: cuBLASLt has no FP8 algorithm for x {} w {} y {} on this GPU (FP8 "
             "needs compute capability 8.9 or later)", x.q.shape_str(), w.q.shape_str(),
             y.shape_str());
}

}  // namespace bloom::ops::cuda

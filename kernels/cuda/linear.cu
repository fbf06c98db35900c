// y = act(x @ w^T + bias) with cuBLASLt. x [T, K], w [N, K] (PyTorch's [out, in]), bias [N] or
// empty, y [T, N]; all row-major. x, w and bias share one dtype (F32/F16/BF16); y has that
// dtype or F32 (logits). Compute and scaling are fp32 (CUBLAS_COMPUTE_32F: no TF32 for F32).
// Column-major view: y^T [N, T] = w [K, N]^T . x^T [K, T], i.e. A = w with transa = T,
// B = x with transb = N, m = N, n = T, k = K; the bias runs along m (one value per row of D).
// Bias and GELU are fused as cuBLASLt epilogues (BIAS, GELU, GELU_BIAS). cuBLASLt's GELU is
// the tanh approximation (PyTorch's _addmm_activation tests it against
// gelu(approximate="tanh")), which is BLOOM's. Where no fused algorithm exists for a shape or
// type combination, a plain GEMM is followed by a bias + GELU kernel with the same math.
// Plans (descriptors, layouts, algorithm) come from the shared cache of kernels/cuda/gemm_plan.cuh,
// per shape, type and alignment; during the start-up warm-up their algorithms are tuned.
#include <algorithm>
#include <mutex>

#include "kernels/cuda/common.cuh"
#include "kernels/cuda/gemm_plan.cuh"
#include "kernels/cuda/ops_cuda.h"

namespace bloom::ops::cuda {

namespace {

cudaDataType_t cuda_type(DType t) {
  switch (t) {
    case DType::F32: return CUDA_R_32F;
    case DType::F16: return CUDA_R_16F;
    case DType::BF16: return CUDA_R_16BF;
    default: BLOOM_FAIL("linear: unsupported dtype {}", dtype_name(t));
  }
}

__device__ __forceinline__ float gelu_tanh(float v) {
  return 0.5f * v * (1.0f + tanhf(0.79788456f * v * (1.0f + 0.044715f * v * v)));
}

/// Unfused epilogue: y[t, n] = act(y[t, n] + bias[n]). bias may be null.
template <typename TY, typename TB>
__global__ void bias_act_kernel(TY* __restrict__ y, const TB* __restrict__ bias, int64_t N,
                                int64_t total, bool gelu) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    float v = to_float(y[i]);
    if (bias) v += to_float(bias[i % N]);
    if (gelu) v = gelu_tanh(v);
    y[i] = from_float<TY>(v);
  }
}

void launch_bias_act(Context& ctx, Tensor& y, const Tensor& bias, bool has_bias, bool gelu,
                     int64_t N) {
  const int64_t total = y.numel();
  const int threads = 256;
  const unsigned blocks =
      static_cast<unsigned>(std::min<int64_t>((total + threads - 1) / threads, 65535));
  dispatch_float(y.dtype, "linear", [&](auto ytag) {
    using TY = decltype(ytag);
    dispatch_float(has_bias ? bias.dtype : y.dtype, "linear", [&](auto btag) {
      using TB = decltype(btag);
      bias_act_kernel<TY, TB><<<blocks, threads, 0, stream_of(ctx)>>>(
          static_cast<TY*>(y.data), has_bias ? static_cast<const TB*>(bias.data) : nullptr, N,
          total, gelu);
    });
  });
}

}  // namespace

void linear(Context& ctx, const Tensor& x, const Tensor& w, const Tensor& bias, Activation act,
            Tensor& y) {
  const char* op = "linear";
  const bool has_bias = bias.numel() > 0;
  const int64_t K = w.dim(1), N = w.dim(0), T = x.numel() / K;
  if (T == 0 || N == 0) return;

  const bool gelu = act == Activation::GeluTanh;
  // The bias pointer's alignment is not part of the heuristic query: fuse aligned biases only.
  const bool fuse_bias = has_bias && is_aligned(bias.data, 16);
  cublasLtEpilogue_t epi = CUBLASLT_EPILOGUE_DEFAULT;
  if (fuse_bias) epi = gelu ? CUBLASLT_EPILOGUE_GELU_BIAS : CUBLASLT_EPILOGUE_BIAS;
  else if (gelu && !has_bias) epi = CUBLASLT_EPILOGUE_GELU;

  GemmShape shape;
  shape.device = ctx.cuda_device();
  shape.ab_type = cuda_type(x.dtype);
  shape.d_type = cuda_type(y.dtype);
  shape.bias_type = cuda_type(has_bias ? bias.dtype : x.dtype);
  shape.epilogue = epi;
  shape.m = N;
  shape.n = T;
  shape.k = K;
  shape.align_a = alignment_of(w.data);
  shape.align_b = alignment_of(x.data);
  shape.align_d = alignment_of(y.data);
  shape.workspace = ctx.gemm_workspace_size();
  GemmOperands ops;
  ops.a = w.data;
  ops.b = x.data;
  ops.d = y.data;
  ops.bias = fuse_bias ? bias.data : nullptr;
  auto handle = static_cast<cublasLtHandle_t>(ctx.cublaslt());
  BLOOM_CHECK(handle != nullptr, "linear: the context has no cuBLASLt handle");
  GemmPlans& plans = gemm_plans();
  bool fused = false;
  {
    std::lock_guard<std::mutex> lock(plans.mutex());
    GemmPlan* plan = &plans.get(handle, shape, ctx.tune_gemms(), ops, ctx.gemm_workspace(),
                                stream_of(ctx));
    fused = plan->ok && epi != CUBLASLT_EPILOGUE_DEFAULT;
    if (!plan->ok && epi != CUBLASLT_EPILOGUE_DEFAULT) {  // no fused kernel: plain GEMM + kernel
      shape.epilogue = CUBLASLT_EPILOGUE_DEFAULT;
      ops.bias = nullptr;
      plan = &plans.get(handle, shape, ctx.tune_gemms(), ops, ctx.gemm_workspace(), stream_of(ctx));
    }
    BLOOM_CHECK(plan->ok, "linear: cuBLASLt has no algorithm for x {} w {} y {}: {}",
                x.shape_str(), w.shape_str(), y.shape_str(), cublasGetStatusString(plan->status));
    run_gemm_plan(handle, *plan, ops, ctx.gemm_workspace(), ctx.gemm_workspace_size(),
                  stream_of(ctx));
  }
  if (!fused && (has_bias || gelu)) launch_bias_act(ctx, y, bias, has_bias, gelu, N);
  check_launch(ctx, op);
}

}  // namespace bloom::ops::cuda

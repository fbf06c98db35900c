// y = act(x @ w^T + bias) with cuBLASLt. x [T, K], w [N, K] (PyTorch's [out, in]), bias [N] or
// empty, y [T, N]; all row-major. x, w and bias share one dtype (F32/F16/BF16); y has that
// dtype or F32 (logits). Compute and scaling are fp32 (CUBLAS_COMPUTE_32F: no TF32 for F32).
// Column-major view: y^T [N, T] = w [K, N]^T . x^T [K, T], i.e. A = w with transa = T,
// B = x with transb = N, m = N, n = T, k = K; the bias runs along m (one value per row of D).
// Bias and GELU are fused as cuBLASLt epilogues (BIAS, GELU, GELU_BIAS). cuBLASLt's GELU is
// the tanh approximation (PyTorch's _addmm_activation tests it against
// gelu(approximate="tanh")), which is BLOOM's. Where no fused algorithm exists for a shape or
// type combination, a plain GEMM is followed by a bias + GELU kernel with the same math.
// Plans (descriptors, layouts, heuristic algorithm) are cached per shape, type and alignment.
#include <algorithm>
#include <memory>
#include <mutex>
#include <tuple>
#include <unordered_map>

#include "kernels/cuda/common.cuh"
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

/// Largest power of two dividing the address, capped at 256 (cuBLASLt's default assumption).
uint32_t alignment_of(const void* p) {
  const uintptr_t a = reinterpret_cast<uintptr_t>(p);
  if (a == 0) return 256;
  return static_cast<uint32_t>(std::min<uintptr_t>(a & (~a + 1), 256));
}

struct PlanKey {
  int device;
  cudaDataType_t ab_type, d_type, bias_type;
  cublasLtEpilogue_t epilogue;
  int64_t m, n, k;
  uint32_t align_a, align_b, align_d;
  size_t workspace;

  auto tie() const {
    return std::tie(device, ab_type, d_type, bias_type, epilogue, m, n, k, align_a, align_b,
                    align_d, workspace);
  }
  bool operator==(const PlanKey& o) const { return tie() == o.tie(); }
};

struct PlanKeyHash {
  size_t operator()(const PlanKey& k) const {
    size_t h = 0;
    auto mix = [&h](uint64_t v) {
      h ^= std::hash<uint64_t>()(v) + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
    };
    mix(static_cast<uint64_t>(k.device));
    mix(static_cast<uint64_t>(k.ab_type) << 16 | static_cast<uint64_t>(k.d_type) << 8 |
        static_cast<uint64_t>(k.bias_type));
    mix(static_cast<uint64_t>(k.epilogue));
    mix(static_cast<uint64_t>(k.m));
    mix(static_cast<uint64_t>(k.n));
    mix(static_cast<uint64_t>(k.k));
    mix(static_cast<uint64_t>(k.align_a) << 32 | static_cast<uint64_t>(k.align_b) << 16 |
        k.align_d);
    mix(static_cast<uint64_t>(k.workspace));
    return h;
  }
};

/// One cached GEMM configuration; `ok` is false when cuBLASLt offered no algorithm (cached too,
/// so the heuristic is not asked again), `status` then says why.
struct Plan {
  bool ok = false;
  cublasStatus_t status = CUBLAS_STATUS_SUCCESS;
  cublasLtMatmulDesc_t desc = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, d = nullptr;
  cublasLtMatmulAlgo_t algo{};

  Plan() = default;
  Plan(const Plan&) = delete;
  Plan& operator=(const Plan&) = delete;
  ~Plan() {  // host-side objects only; errors ignored (destructors never throw)
    if (d) cublasLtMatrixLayoutDestroy(d);
    if (b) cublasLtMatrixLayoutDestroy(b);
    if (a) cublasLtMatrixLayoutDestroy(a);
    if (desc) cublasLtMatmulDescDestroy(desc);
  }
};

constexpr size_t kMaxPlans = 1024;  // distinct token counts keep adding shapes: bound the cache

std::mutex g_plans_mutex;
std::unordered_map<PlanKey, std::unique_ptr<Plan>, PlanKeyHash> g_plans;

template <typename V>
void set_attr(cublasLtMatmulDesc_t d, cublasLtMatmulDescAttributes_t attr, const V& v) {
  BLOOM_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(d, attr, &v, sizeof(v)));
}

template <typename V>
void set_pref(cublasLtMatmulPreference_t p, cublasLtMatmulPreferenceAttributes_t attr,
              const V& v) {
  BLOOM_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(p, attr, &v, sizeof(v)));
}

std::unique_ptr<Plan> make_plan(cublasLtHandle_t handle, const PlanKey& key) {
  auto plan = std::make_unique<Plan>();
  BLOOM_CUBLAS_CHECK(cublasLtMatmulDescCreate(&plan->desc, CUBLAS_COMPUTE_32F, CUDA_R_32F));
  set_attr(plan->desc, CUBLASLT_MATMUL_DESC_TRANSA, static_cast<int32_t>(CUBLAS_OP_T));
  set_attr(plan->desc, CUBLASLT_MATMUL_DESC_TRANSB, static_cast<int32_t>(CUBLAS_OP_N));
  set_attr(plan->desc, CUBLASLT_MATMUL_DESC_EPILOGUE, key.epilogue);
  if (key.epilogue == CUBLASLT_EPILOGUE_BIAS || key.epilogue == CUBLASLT_EPILOGUE_GELU_BIAS)
    set_attr(plan->desc, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, static_cast<int32_t>(key.bias_type));
  BLOOM_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&plan->a, key.ab_type, key.k, key.m, key.k));
  BLOOM_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&plan->b, key.ab_type, key.k, key.n, key.k));
  BLOOM_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&plan->d, key.d_type, key.m, key.n, key.m));

  cublasLtMatmulPreference_t pref = nullptr;
  BLOOM_CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&pref));
  cublasLtMatmulHeuristicResult_t result{};
  int returned = 0;
  try {
    set_pref(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, static_cast<uint64_t>(key.workspace));
    set_pref(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, key.align_a);
    set_pref(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, key.align_b);
    set_pref(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, key.align_d);
    set_pref(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, key.align_d);
  } catch (...) {
    cublasLtMatmulPreferenceDestroy(pref);
    throw;
  }
  // A type/epilogue combination without kernels answers NOT_SUPPORTED (or INVALID_VALUE on some
  // versions) or returns no result: the caller falls back to a plain GEMM.
  plan->status = cublasLtMatmulAlgoGetHeuristic(handle, plan->desc, plan->a, plan->b, plan->d,
                                                plan->d, pref, 1, &result, &returned);
  cublasLtMatmulPreferenceDestroy(pref);
  if (plan->status == CUBLAS_STATUS_SUCCESS &&
      (returned == 0 || result.state != CUBLAS_STATUS_SUCCESS))
    plan->status = CUBLAS_STATUS_NOT_SUPPORTED;
  plan->ok = plan->status == CUBLAS_STATUS_SUCCESS;
  if (plan->ok) plan->algo = result.algo;
  return plan;
}

/// Cached plan for `key` (caller holds g_plans_mutex).
Plan& get_plan(cublasLtHandle_t handle, const PlanKey& key) {
  auto it = g_plans.find(key);
  if (it != g_plans.end()) return *it->second;
  if (g_plans.size() >= kMaxPlans) g_plans.clear();
  auto plan = make_plan(handle, key);
  return *g_plans.emplace(key, std::move(plan)).first->second;
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

  PlanKey key{ctx.cuda_device(),
              cuda_type(x.dtype),
              cuda_type(y.dtype),
              cuda_type(has_bias ? bias.dtype : x.dtype),
              epi,
              /*m=*/N,
              /*n=*/T,
              /*k=*/K,
              alignment_of(w.data),
              alignment_of(x.data),
              alignment_of(y.data),
              ctx.gemm_workspace_size()};
  auto handle = static_cast<cublasLtHandle_t>(ctx.cublaslt());
  BLOOM_CHECK(handle != nullptr, "linear: the context has no cuBLASLt handle");
  bool fused = false;
  {
    std::lock_guard<std::mutex> lock(g_plans_mutex);
    Plan* plan = &get_plan(handle, key);
    fused = plan->ok && epi != CUBLASLT_EPILOGUE_DEFAULT;
    if (!plan->ok && epi != CUBLASLT_EPILOGUE_DEFAULT) {
      key.epilogue = CUBLASLT_EPILOGUE_DEFAULT;
      plan = &get_plan(handle, key);
    }
    BLOOM_CHECK(plan->ok, "linear: cuBLASLt has no algorithm for x {} w {} y {}: {}",
                x.shape_str(), w.shape_str(), y.shape_str(), cublasGetStatusString(plan->status));
    if (fused && fuse_bias) {
      const void* bias_ptr = bias.data;
      set_attr(plan->desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, bias_ptr);
    }
    const float alpha = 1.0f, beta = 0.0f;
    BLOOM_CUBLAS_CHECK(cublasLtMatmul(handle, plan->desc, &alpha, w.data, plan->a, x.data,
                                      plan->b, &beta, y.data, plan->d, y.data, plan->d,
                                      &plan->algo, ctx.gemm_workspace(),
                                      ctx.gemm_workspace_size(), stream_of(ctx)));
  }
  if (!fused && (has_bias || gelu)) launch_bias_act(ctx, y, bias, has_bias, gelu, N);
  check_launch(ctx, op);
}

}  // namespace bloom::ops::cuda

// GemmPlan (see gemm_plan.cuh): cuBLASLt descriptors built once per shape, pointers set per call.
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/gemm_plan.cuh"

namespace bloom::ops::cuda {

namespace {

template <typename V>
void set_attr(cublasLtMatmulDesc_t d, cublasLtMatmulDescAttributes_t attr, const V& v) {
  BLOOM_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(d, attr, &v, sizeof(v)));
}

template <typename V>
void set_pref(cublasLtMatmulPreference_t p, cublasLtMatmulPreferenceAttributes_t attr,
              const V& v) {
  BLOOM_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(p, attr, &v, sizeof(v)));
}

bool has_bias(cublasLtEpilogue_t e) {
  return e == CUBLASLT_EPILOGUE_BIAS || e == CUBLASLT_EPILOGUE_GELU_BIAS;
}

}  // namespace

GemmPlan::~GemmPlan() {
  if (d) cublasLtMatrixLayoutDestroy(d);
  if (b) cublasLtMatrixLayoutDestroy(b);
  if (a) cublasLtMatrixLayoutDestroy(a);
  if (desc) cublasLtMatmulDescDestroy(desc);
}

std::unique_ptr<GemmPlan> make_gemm_plan(cublasLtHandle_t handle, const GemmShape& s) {
  auto plan = std::make_unique<GemmPlan>();
  BLOOM_CUBLAS_CHECK(cublasLtMatmulDescCreate(&plan->desc, CUBLAS_COMPUTE_32F, CUDA_R_32F));
  set_attr(plan->desc, CUBLASLT_MATMUL_DESC_TRANSA, static_cast<int32_t>(CUBLAS_OP_T));
  set_attr(plan->desc, CUBLASLT_MATMUL_DESC_TRANSB, static_cast<int32_t>(CUBLAS_OP_N));
  set_attr(plan->desc, CUBLASLT_MATMUL_DESC_EPILOGUE, s.epilogue);
  if (has_bias(s.epilogue))
    set_attr(plan->desc, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, static_cast<int32_t>(s.bias_type));
  if (s.outer_vector_scales) {
    const int32_t mode = CUBLASLT_MATMUL_MATRIX_SCALE_OUTER_VEC_32F;
    set_attr(plan->desc, CUBLASLT_MATMUL_DESC_A_SCALE_MODE, mode);
    set_attr(plan->desc, CUBLASLT_MATMUL_DESC_B_SCALE_MODE, mode);
  }
  BLOOM_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&plan->a, s.ab_type, s.k, s.m, s.k));
  BLOOM_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&plan->b, s.ab_type, s.k, s.n, s.k));
  BLOOM_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&plan->d, s.d_type, s.m, s.n, s.m));

  cublasLtMatmulPreference_t pref = nullptr;
  BLOOM_CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&pref));
  cublasLtMatmulHeuristicResult_t result{};
  int returned = 0;
  try {
    set_pref(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, static_cast<uint64_t>(s.workspace));
    set_pref(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, s.align_a);
    set_pref(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, s.align_b);
    set_pref(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, s.align_d);
    set_pref(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, s.align_d);
  } catch (...) {
    cublasLtMatmulPreferenceDestroy(pref);
    throw;
  }
  // No kernels for a combination: NOT_SUPPORTED (or INVALID_VALUE on some versions), or no result.
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

void run_gemm_plan(cublasLtHandle_t handle, GemmPlan& p, const GemmOperands& o, void* workspace,
                   size_t workspace_bytes, cudaStream_t stream) {
  if (o.bias) set_attr(p.desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, o.bias);
  if (o.a_scale) set_attr(p.desc, CUBLASLT_MATMUL_DESC_A_SCALE_POINTER, o.a_scale);
  if (o.b_scale) set_attr(p.desc, CUBLASLT_MATMUL_DESC_B_SCALE_POINTER, o.b_scale);
  const float alpha = 1.0f, beta = 0.0f;
  BLOOM_CUBLAS_CHECK(cublasLtMatmul(handle, p.desc, &alpha, o.a, p.a, o.b, p.b, &beta, o.d, p.d,
                                    o.d, p.d, &p.algo, workspace, workspace_bytes, stream));
}

}  // namespace bloom::ops::cuda

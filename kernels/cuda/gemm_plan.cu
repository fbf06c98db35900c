// GemmPlan and GemmPlans (see gemm_plan.cuh): cuBLASLt descriptors built once per shape, the
// bias and scale pointers set per call, algorithms tuned once per bucket when asked.
#include <cstdio>
#include <cstdlib>

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

// Descriptors for `s`, and an algorithm: `preferred` when cuBLASLt accepts it for this exact
// shape, else the heuristic's first.
std::unique_ptr<GemmPlan> make_plan(cublasLtHandle_t handle, const GemmShape& s,
                                    const cublasLtMatmulAlgo_t* preferred) {
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
  if (plan->ok && preferred) {
    cublasLtMatmulHeuristicResult_t check{};
    if (cublasLtMatmulAlgoCheck(handle, plan->desc, plan->a, plan->b, plan->d, plan->d, preferred,
                                &check) == CUBLAS_STATUS_SUCCESS &&
        check.workspaceSize <= s.workspace) {
      plan->algo = *preferred;
      plan->tuned = true;
    }
  }
  return plan;
}

// Times the heuristic's top candidates on the call's operands (one untimed run, then the best of
// two timed runs each) and keeps the fastest in plan.algo.
void tune(cublasLtHandle_t handle, GemmPlan& plan, const GemmShape& s, const GemmOperands& ops,
          void* workspace, cudaStream_t stream) {
  constexpr int kCandidates = 6;
  cublasLtMatmulPreference_t pref = nullptr;
  BLOOM_CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&pref));
  cublasLtMatmulHeuristicResult_t results[kCandidates];
  int returned = 0;
  const uint64_t ws = s.workspace;
  cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws,
                                       sizeof(ws));
  const cublasStatus_t st = cublasLtMatmulAlgoGetHeuristic(
      handle, plan.desc, plan.a, plan.b, plan.d, plan.d, pref, kCandidates, results, &returned);
  cublasLtMatmulPreferenceDestroy(pref);
  if (st != CUBLAS_STATUS_SUCCESS || returned < 2) return;
  cudaEvent_t e0 = nullptr, e1 = nullptr;
  BLOOM_CUDA_CHECK(cudaEventCreate(&e0));
  BLOOM_CUDA_CHECK(cudaEventCreate(&e1));
  float best_ms = 0.0f;
  cublasLtMatmulAlgo_t best = plan.algo;
  for (int i = 0; i < returned; ++i) {
    if (results[i].state != CUBLAS_STATUS_SUCCESS) continue;
    plan.algo = results[i].algo;
    float ms = -1.0f;
    for (int rep = 0; rep < 3; ++rep) {
      cudaEventRecord(e0, stream);
      const float alpha = 1.0f, beta = 0.0f;
      if (cublasLtMatmul(handle, plan.desc, &alpha, ops.a, plan.a, ops.b, plan.b, &beta, ops.d,
                         plan.d, ops.d, plan.d, &plan.algo, workspace, s.workspace, stream) !=
          CUBLAS_STATUS_SUCCESS) {
        ms = -1.0f;
        break;
      }
      cudaEventRecord(e1, stream);
      cudaEventSynchronize(e1);
      float t = 0.0f;
      cudaEventElapsedTime(&t, e0, e1);
      if (rep > 0 && (ms < 0.0f || t < ms)) ms = t;  // rep 0 warms up
    }
    if (ms > 0.0f && (best_ms == 0.0f || ms < best_ms)) {
      best_ms = ms;
      plan.tuned = true;
      best = results[i].algo;
    }
  }
  plan.algo = best;
  cudaEventDestroy(e0);
  cudaEventDestroy(e1);
  BLOOM_CUDA_CHECK(cudaGetLastError());
}

int64_t bucket_of(int64_t n) {
  int64_t b = 1;
  while (b < n) b <<= 1;
  return b;
}

}  // namespace

GemmPlan::~GemmPlan() {
  if (d) cublasLtMatrixLayoutDestroy(d);
  if (b) cublasLtMatrixLayoutDestroy(b);
  if (a) cublasLtMatrixLayoutDestroy(a);
  if (desc) cublasLtMatmulDescDestroy(desc);
}

GemmPlans& gemm_plans() {
  static GemmPlans plans;
  return plans;
}

GemmPlan& GemmPlans::get(cublasLtHandle_t handle, const GemmShape& s, bool tune_now,
                         const GemmOperands& ops, void* workspace, cudaStream_t stream) {
  auto it = plans_.find(s);
  if (it != plans_.end()) return *it->second;
  constexpr size_t kMaxPlans = 1024;  // distinct token counts keep adding shapes: bound the cache
  if (plans_.size() >= kMaxPlans) plans_.clear();
  // Only large token counts are tuned and share a choice: measured on an H200, the algorithm
  // timed fastest for one batch of ~1400 tokens made others of its bucket slower (the seed's
  // 16-passage batches took 10.8 s against 10.0 s), while at 16k-32k tokens one choice holds.
  constexpr int64_t kMinTunedN = 8192;
  GemmShape bucket = s;
  bucket.n = bucket_of(s.n);
  auto tuned = s.n >= kMinTunedN ? tuned_.find(bucket) : tuned_.end();
  auto plan = make_plan(handle, s, tuned == tuned_.end() ? nullptr : &tuned->second);
  if (plan->ok && tune_now && s.n >= kMinTunedN && tuned == tuned_.end()) {
    if (ops.bias) set_attr(plan->desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, ops.bias);
    if (ops.a_scale) set_attr(plan->desc, CUBLASLT_MATMUL_DESC_A_SCALE_POINTER, ops.a_scale);
    if (ops.b_scale) set_attr(plan->desc, CUBLASLT_MATMUL_DESC_B_SCALE_POINTER, ops.b_scale);
    tune(handle, *plan, s, ops, workspace, stream);
    tuned_[bucket] = plan->algo;
  }
  // BLOOM_GEMM_LOG=1: each new plan of >= 8192 rows on stderr (which way an op took, whether
  // cuBLASLt had an algorithm, whether it was tuned): what the per-op profile cannot show.
  static const bool log = std::getenv("BLOOM_GEMM_LOG") != nullptr;
  if (log && s.n >= kMinTunedN)
    std::fprintf(stderr, "gemm plan: m %lld n %lld k %lld ab %d d %d epilogue %d outer-vector "
                 "scales %d align %u/%u/%u: %s%s\n", static_cast<long long>(s.m),
                 static_cast<long long>(s.n), static_cast<long long>(s.k),
                 static_cast<int>(s.ab_type), static_cast<int>(s.d_type),
                 static_cast<int>(s.epilogue), s.outer_vector_scales ? 1 : 0, s.align_a,
                 s.align_b, s.align_d, plan->ok ? "ok" : "no algorithm",
                 plan->tuned ? ", tuned" : "");
  return *plans_.emplace(s, std::move(plan)).first->second;
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

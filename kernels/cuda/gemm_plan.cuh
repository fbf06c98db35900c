// GemmPlan: one cuBLASLt matmul configuration (descriptor, layouts, algorithm), shared by the
// GEMM ops (kernels/cuda/linear.cu, linear_fp8.cu). Column-major view of our row-major
// y [T, N] = x [T, K] . w [N, K]^T: D [m = N, n = T] = A^T . B with A = w (transposed, lda K),
// B = x (ldb K), fp32 compute and scaling. Included by kernels/cuda/*.cu only.
#pragma once

#include <cstdint>
#include <memory>

#include <cublasLt.h>
#include <cuda_runtime.h>

namespace bloom::ops::cuda {

struct GemmShape {
  cudaDataType_t ab_type = CUDA_R_16F, d_type = CUDA_R_16F, bias_type = CUDA_R_16F;
  cublasLtEpilogue_t epilogue = CUBLASLT_EPILOGUE_DEFAULT;
  int64_t m = 0, n = 0, k = 0;
  bool outer_vector_scales = false;  // FP8: A scale [m] and B scale [n] fp32 vectors
  uint32_t align_a = 256, align_b = 256, align_d = 256;  // bytes, powers of two
  size_t workspace = 0;
};

/// `ok` is false when cuBLASLt offers no algorithm for the shape; `status` then says why.
struct GemmPlan {
  bool ok = false;
  cublasStatus_t status = CUBLAS_STATUS_SUCCESS;
  cublasLtMatmulDesc_t desc = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, d = nullptr;
  cublasLtMatmulAlgo_t algo{};

  GemmPlan() = default;
  GemmPlan(const GemmPlan&) = delete;
  GemmPlan& operator=(const GemmPlan&) = delete;
  ~GemmPlan();  // host objects only; never throws
};

/// Builds the descriptors and asks the heuristic for its first algorithm. A type / epilogue
/// combination without kernels gives ok == false (not an exception): callers fall back.
std::unique_ptr<GemmPlan> make_gemm_plan(cublasLtHandle_t handle, const GemmShape& shape);

struct GemmOperands {
  const void* a = nullptr;  // weights
  const void* b = nullptr;  // activations
  void* d = nullptr;
  const void* bias = nullptr;     // epilogues with a bias
  const void* a_scale = nullptr;  // FP8 outer-vector scales
  const void* b_scale = nullptr;
};

/// D = epilogue(A^T . B) on `stream`; the caller serialises calls that share a plan.
void run_gemm_plan(cublasLtHandle_t handle, GemmPlan& plan, const GemmOperands& ops,
                   void* workspace, size_t workspace_bytes, cudaStream_t stream);

}  // namespace bloom::ops::cuda

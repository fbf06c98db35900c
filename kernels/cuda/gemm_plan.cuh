// GemmPlan: one cuBLASLt matmul configuration (descriptor, layouts, algorithm), shared by the
// GEMM ops (kernels/cuda/linear.cu, linear_fp8.cu), and the process-wide cache of them.
// Column-major view of our row-major y [T, N] = x [T, K] . w [N, K]^T: D [m = N, n = T] =
// A^T . B with A = w (transposed, lda K), B = x (ldb K), fp32 compute and scaling.
// Tuning: the heuristic's first algorithm is often not the fastest at our shapes (measured on an
// H200: up to 7% at 32768 x 16384 x 4096). While a caller asks for tuning (a start-up warm-up),
// a new plan times the heuristic's top candidates on the call's own operands and keeps the
// fastest; the choice then serves every n in the same bucket (n rounded up to a power of two),
// so batches of other token counts reuse it without timing again. Only n >= 8192 is tuned: at
// small n one batch's best algorithm is not its bucket's (see GemmPlans::get). Included by kernels/cuda/*.cu.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <tuple>

#include <cublasLt.h>
#include <cuda_runtime.h>

namespace bloom::ops::cuda {

/// Largest power of two dividing the address, capped at 256 (cuBLASLt's default assumption):
/// a plan is only valid for pointers at least this aligned, so it is part of the shape.
inline uint32_t alignment_of(const void* p) {
  const uintptr_t a = reinterpret_cast<uintptr_t>(p);
  if (a == 0) return 256;
  const uintptr_t low = a & (~a + 1);
  return static_cast<uint32_t>(low < 256 ? low : 256);
}

struct GemmShape {
  int device = 0;
  cudaDataType_t ab_type = CUDA_R_16F, d_type = CUDA_R_16F, bias_type = CUDA_R_16F;
  cublasLtEpilogue_t epilogue = CUBLASLT_EPILOGUE_DEFAULT;
  int64_t m = 0, n = 0, k = 0;
  bool outer_vector_scales = false;  // FP8: A scale [m] and B scale [n] fp32 vectors
  uint32_t align_a = 256, align_b = 256, align_d = 256;  // bytes, powers of two
  size_t workspace = 0;

  auto tie() const {
    return std::tie(device, ab_type, d_type, bias_type, epilogue, m, n, k, outer_vector_scales,
                    align_a, align_b, align_d, workspace);
  }
  bool operator<(const GemmShape& o) const { return tie() < o.tie(); }
};

/// `ok` is false when cuBLASLt offers no algorithm for the shape; `status` then says why.
struct GemmPlan {
  bool ok = false;
  bool tuned = false;
  cublasStatus_t status = CUBLAS_STATUS_SUCCESS;
  cublasLtMatmulDesc_t desc = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, d = nullptr;
  cublasLtMatmulAlgo_t algo{};

  GemmPlan() = default;
  GemmPlan(const GemmPlan&) = delete;
  GemmPlan& operator=(const GemmPlan&) = delete;
  ~GemmPlan();  // host objects only; never throws
};

struct GemmOperands {
  const void* a = nullptr;  // weights
  const void* b = nullptr;  // activations
  void* d = nullptr;
  const void* bias = nullptr;     // epilogues with a bias
  const void* a_scale = nullptr;  // FP8 outer-vector scales
  const void* b_scale = nullptr;
};

/// D = epilogue(A^T . B) on `stream`; the caller holds GemmPlans::mutex().
void run_gemm_plan(cublasLtHandle_t handle, GemmPlan& plan, const GemmOperands& ops,
                   void* workspace, size_t workspace_bytes, cudaStream_t stream);

class GemmPlans {
 public:
  /// The plan for `shape`, made on first use (see the file comment for `tune`). A type /
  /// epilogue combination without kernels gives ok == false, not an exception: callers fall
  /// back. The caller holds mutex() while it gets and runs the plan.
  GemmPlan& get(cublasLtHandle_t handle, const GemmShape& shape, bool tune,
                const GemmOperands& ops, void* workspace, cudaStream_t stream);
  std::mutex& mutex() { return mutex_; }

 private:
  std::mutex mutex_;
  std::map<GemmShape, std::unique_ptr<GemmPlan>> plans_;
  std::map<GemmShape, cublasLtMatmulAlgo_t> tuned_;  // by bucket (n: next power of two)
};

GemmPlans& gemm_plans();

}  // namespace bloom::ops::cuda

// y = act(x @ w^T + bias) with OpenBLAS sgemm. x [T, K], w [N, K] (PyTorch [out, in]),
// bias [N] or empty, y [T, N], all fp32 row-major; fp32 accumulation.
// GELU is BLOOM's tanh form 0.5 v (1 + tanh(0.79788456 (v + 0.044715 v^3))) (common.h).
// Threads: the OpenMP threads split y into blocks along its longer side (rows of x for the
// model's products, rows of w for the lm_head's few rows x large vocab); each runs one
// single-threaded sgemm on its block, then the bias + GELU epilogue on that block (no second
// parallel region, no barrier in between). GELU uses a vectorised exp (common.h): a libm
// tanh per element cost more than the product itself at bloom-560m's shape.
#include <cblas.h>

#include "kernels/cpu/common.h"
#include "kernels/cpu/ops_cpu.h"

namespace bloom::ops::cpu {

namespace {

/// row[n] = act(row[n] + bias[n]) for n in [0, N); bias may be null.
BLOOM_CPU_VECTORIZED void bias_act_row(float* row, const float* bias, int64_t N, bool gelu) {
  if (bias != nullptr) {
    for (int64_t n = 0; n < N; ++n) row[n] += bias[n];
  }
  if (gelu) {
    for (int64_t n = 0; n < N; ++n) row[n] = gelu_tanh(row[n]);
  }
}

}  // namespace

void linear(Context&, const Tensor& x, const Tensor& w, const Tensor& bias, Activation act,
            Tensor& y) {
  const int64_t K = x.dim(-1), T = x.numel() / K, N = w.dim(0);
  if (T == 0 || N == 0) return;
  const float* xp = x.data_as<float>();
  const float* wp = w.data_as<float>();
  const float* bp = bias.numel() > 0 ? bias.data_as<float>() : nullptr;
  float* yp = y.data_as<float>();
  const bool gelu = act == Activation::GeluTanh;
  const bool split_rows = T >= N;  // else split the output columns (the vocab of the lm_head)
  BlasOnCallingThread blas;
#pragma omp parallel
  {
    int64_t lo = 0, hi = 0;
    split_range(split_rows ? T : N, thread_id(), n_threads(), lo, hi);
    if (hi > lo) {
      // Block y[t0:t1, n0:n1] = x[t0:t1] . w[n0:n1]^T.
      const int64_t t0 = split_rows ? lo : 0, t1 = split_rows ? hi : T;
      const int64_t n0 = split_rows ? 0 : lo, n1 = split_rows ? N : hi;
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(t1 - t0),
                  static_cast<int>(n1 - n0), static_cast<int>(K), 1.0f, xp + t0 * K,
                  static_cast<int>(K), wp + n0 * K, static_cast<int>(K), 0.0f, yp + t0 * N + n0,
                  static_cast<int>(N));
      if (bp != nullptr || gelu) {
        for (int64_t t = t0; t < t1; ++t)
          bias_act_row(yp + t * N + n0, bp ? bp + n0 : nullptr, n1 - n0, gelu);
      }
    }
  }
}

}  // namespace bloom::ops::cpu

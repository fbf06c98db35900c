// y = act(x @ w^T + bias) with OpenBLAS sgemm. x [T, K], w [N, K] (PyTorch [out, in]),
// bias [N] or empty, y [T, N], all fp32 row-major.
// GELU is BLOOM's tanh form: 0.5 x (1 + tanh(0.79788456 x (1 + 0.044715 x^2))).
#include <cmath>

#include <cblas.h>

#include "kernels/cpu/ops_cpu.h"

namespace bloom::ops::cpu {

void linear(Context&, const Tensor& x, const Tensor& w, const Tensor& bias, Activation act,
            Tensor& y) {
  const int64_t K = x.dim(-1), T = x.numel() / K, N = w.dim(0);
  float* yp = y.data_as<float>();
  if (T == 0) return;
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(T), static_cast<int>(N),
              static_cast<int>(K), 1.0f, x.data_as<float>(), static_cast<int>(K),
              w.data_as<float>(), static_cast<int>(K), 0.0f, yp, static_cast<int>(N));
  if (bias.numel() == 0 && act == Activation::None) return;
  const float* bp = bias.numel() ? bias.data_as<float>() : nullptr;
#pragma omp parallel for schedule(static)
  for (int64_t t = 0; t < T; ++t) {
    float* row = yp + t * N;
    for (int64_t n = 0; n < N; ++n) {
      float v = row[n] + (bp ? bp[n] : 0.0f);
      if (act == Activation::GeluTanh)
        v = v * 0.5f * (1.0f + std::tanh(0.79788456f * v * (1.0f + 0.044715f * v * v)));
      row[n] = v;
    }
  }
}

}  // namespace bloom::ops::cpu

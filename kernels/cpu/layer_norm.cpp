// Layer norm over the last dim, and the residual step fused with the next layer norm.
//   mean = sum(x)/H; var = sum((x-mean)^2)/H (biased, as torch); y = (x-mean)/sqrt(var+eps)*g+b
// Shapes: x, y, h [T, H]; gamma, beta, bias [H]. Statistics in double for a reference that sits
// well inside fp32 rounding of HF's own result.
#include <cmath>

#include "kernels/cpu/ops_cpu.h"

namespace bloom::ops::cpu {

namespace {
void norm_row(const float* x, const float* g, const float* b, float eps, int64_t H, float* y) {
  double mean = 0.0;
  for (int64_t i = 0; i < H; ++i) mean += x[i];
  mean /= static_cast<double>(H);
  double var = 0.0;
  for (int64_t i = 0; i < H; ++i) var += (x[i] - mean) * (x[i] - mean);
  var /= static_cast<double>(H);
  const double inv = 1.0 / std::sqrt(var + eps);
  for (int64_t i = 0; i < H; ++i) y[i] = static_cast<float>((x[i] - mean) * inv * g[i] + b[i]);
}
}  // namespace

void layer_norm(Context&, const Tensor& x, const Tensor& gamma, const Tensor& beta, float eps,
                Tensor& y) {
  const int64_t H = x.dim(-1), T = x.numel() / H;
  const float* xp = x.data_as<float>();
  float* yp = y.data_as<float>();
#pragma omp parallel for schedule(static)
  for (int64_t t = 0; t < T; ++t)
    norm_row(xp + t * H, gamma.data_as<float>(), beta.data_as<float>(), eps, H, yp + t * H);
}

void add_bias_residual_layer_norm(Context&, const Tensor& h, const Tensor& bias, Tensor& x,
                                  const Tensor& gamma, const Tensor& beta, float eps, Tensor& y) {
  const int64_t H = x.dim(-1), T = x.numel() / H;
  const float* hp = h.data_as<float>();
  const float* bp = bias.data_as<float>();
  float* xp = x.data_as<float>();
  float* yp = y.data_as<float>();
#pragma omp parallel for schedule(static)
  for (int64_t t = 0; t < T; ++t) {
    float* xr = xp + t * H;
    for (int64_t i = 0; i < H; ++i) xr[i] += hp[t * H + i] + bp[i];
    norm_row(xr, gamma.data_as<float>(), beta.data_as<float>(), eps, H, yp + t * H);
  }
}

}  // namespace bloom::ops::cpu

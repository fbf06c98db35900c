// Layer norm over the last dim, and the residual step fused with the next layer norm.
//   mean = sum(x)/H; var = sum((x-mean)^2)/H (biased, as torch); y = (x-mean)/sqrt(var+eps)*g+b
//   fused: x += h + bias, then y = layer_norm(x)
//   fused, quantized: the same y, quantized per row to e4m3 (kernels/cpu/quantize_fp8.cpp)
// Shapes: x, y, h [T, H]; gamma, beta, bias [H]. Statistics in fp32, two passes (mean, then the
// mean of squared deviations: no E[x^2] - mean^2 cancellation), each a vectorised sum of 16
// lane-wise partial sums. Rows are split over the OpenMP threads.
#include <cmath>
#include <vector>

#include "kernels/cpu/common.h"
#include "kernels/cpu/ops_cpu.h"

namespace bloom::ops::cpu {

namespace {

BLOOM_CPU_VECTORIZED void norm_row(const float* x, const float* g, const float* b, float eps,
                                   int64_t H, float* y) {
  float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
  for (int64_t i = 0; i < H; ++i) sum += x[i];
  const float mean = sum / static_cast<float>(H);
  float sq = 0.0f;
#pragma omp simd reduction(+ : sq)
  for (int64_t i = 0; i < H; ++i) sq += (x[i] - mean) * (x[i] - mean);
  const float rstd = 1.0f / std::sqrt(sq / static_cast<float>(H) + eps);
  for (int64_t i = 0; i < H; ++i) y[i] = (x[i] - mean) * rstd * g[i] + b[i];
}

BLOOM_CPU_VECTORIZED void add_row(float* x, const float* h, const float* bias, int64_t H) {
  for (int64_t i = 0; i < H; ++i) x[i] += h[i] + bias[i];
}

}  // namespace

void layer_norm(Context&, const Tensor& x, const Tensor& gamma, const Tensor& beta, float eps,
                Tensor& y) {
  const int64_t H = x.dim(-1), T = x.numel() / H;
  const float* xp = x.data_as<float>();
  const float* gp = gamma.data_as<float>();
  const float* bp = beta.data_as<float>();
  float* yp = y.data_as<float>();
#pragma omp parallel for schedule(static)
  for (int64_t t = 0; t < T; ++t) norm_row(xp + t * H, gp, bp, eps, H, yp + t * H);
}

void add_bias_residual_layer_norm(Context&, const Tensor& h, const Tensor& bias, Tensor& x,
                                  const Tensor& gamma, const Tensor& beta, float eps, Tensor& y) {
  const int64_t H = x.dim(-1), T = x.numel() / H;
  const float* hp = h.data_as<float>();
  const float* biasp = bias.data_as<float>();
  const float* gp = gamma.data_as<float>();
  const float* bp = beta.data_as<float>();
  float* xp = x.data_as<float>();
  float* yp = y.data_as<float>();
#pragma omp parallel for schedule(static)
  for (int64_t t = 0; t < T; ++t) {
    add_row(xp + t * H, hp + t * H, biasp, H);
    norm_row(xp + t * H, gp, bp, eps, H, yp + t * H);
  }
}

void add_bias_residual_layer_norm_fp8(Context& ctx, const Tensor& h, const Tensor& bias, Tensor& x,
                                      const Tensor& gamma, const Tensor& beta, float eps,
                                      Fp8Matrix& y) {
  // The reference is the two ops in a row, the normalized rows kept in a per-thread buffer.
  thread_local std::vector<float> rows;
  rows.resize(static_cast<size_t>(x.numel()));
  Tensor normalized(rows.data(), DType::F32, Device::CPU, {x.numel() / x.dim(-1), x.dim(-1)});
  cpu::add_bias_residual_layer_norm(ctx, h, bias, x, gamma, beta, eps, normalized);
  cpu::quantize_fp8(ctx, normalized, y);
}

}  // namespace bloom::ops::cpu

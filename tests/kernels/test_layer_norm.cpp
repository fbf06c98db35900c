// layer_norm and add_bias_residual_layer_norm (kernels/cpu/layer_norm.cpp,
// kernels/cuda/layer_norm.cu) against their formulas:
//   y = (x - mean) / sqrt(var + eps) * gamma + beta, var biased (as torch);
//   fused: x += h + bias (stored once in x's dtype), then y = layer_norm(stored x).
// Row lengths cover the CUDA kernel's paths: 16-byte packs in registers, scalar, long rows.
#include <cmath>

#include "tests/kernels/op_test.h"

namespace bloom::ops::testing {
namespace {

std::vector<double> layer_norm_reference(const std::vector<double>& x, const std::vector<float>& g,
                                         const std::vector<float>& b, double eps, int64_t H) {
  std::vector<double> y(x.size());
  for (size_t r = 0; r < x.size() / H; ++r) {
    const double* row = &x[r * H];
    double mean = 0.0, var = 0.0;
    for (int64_t i = 0; i < H; ++i) mean += row[i];
    mean /= static_cast<double>(H);
    for (int64_t i = 0; i < H; ++i) var += (row[i] - mean) * (row[i] - mean);
    var /= static_cast<double>(H);
    for (int64_t i = 0; i < H; ++i) y[r * H + i] = (row[i] - mean) / std::sqrt(var + eps) * g[i] + b[i];
  }
  return y;
}

std::vector<double> widened(const std::vector<float>& v) { return {v.begin(), v.end()}; }

TEST_P(OpTest, LayerNorm) {
  for (int64_t H : {96, 1000, 1003, 4096, 40000}) {
    const int64_t T = H > 10000 ? 3 : 13;
    const auto x = randn(T * H, 1.5f, 3.0f);  // offset mean: the variance must not cancel
    const auto g = randn(H, 0.2f, 1.0f), b = randn(H, 0.2f);
    DeviceTensor d_x = make({T, H}), d_g = make({H}), d_b = make({H}), d_y = make({T, H});
    d_x.upload(x);
    d_g.upload(g);
    d_b.upload(b);
    d_y.poison();
    layer_norm(ctx(), d_x.t, d_g.t, d_b.t, 1e-5f, d_y.t);
    const auto want = layer_norm_reference(widened(x), g, b, 1e-5, H);
    const std::string what = tag() + " layer_norm H=" + std::to_string(H);
    expect_close(d_y.download(), want, dtype_rtol(dt()), what);
    layer_norm(ctx(), d_x.t, d_g.t, d_b.t, 1e-5f, d_x.t);  // in place: y is x
    expect_close(d_x.download(), want, dtype_rtol(dt()), what + " in place");
  }
}

TEST_P(OpTest, LayerNormEpsilonMatters) {
  // Rows of tiny variance (1e-6 against eps 1e-5): eps dominates, so an op that drops or
  // misplaces it fails. Mean 0: a large mean over a tiny spread is fp32's own limit, not the op's.
  const int64_t T = 4, H = 256;
  auto x = randn(T * H, 1e-3f);
  const auto g = randn(H, 0.2f, 1.0f), b = randn(H, 0.2f);
  DeviceTensor d_x = make({T, H}), d_g = make({H}), d_b = make({H}), d_y = make({T, H});
  d_x.upload(x);
  d_g.upload(g);
  d_b.upload(b);
  d_y.poison();
  layer_norm(ctx(), d_x.t, d_g.t, d_b.t, 1e-5f, d_y.t);
  expect_close(d_y.download(), layer_norm_reference(widened(x), g, b, 1e-5, H), dtype_rtol(dt()),
               tag() + " layer_norm, variance ~ eps");
}

TEST_P(OpTest, AddBiasResidualLayerNorm) {
  for (int64_t H : {96, 1000, 1003, 4096, 40000}) {
    const int64_t T = H > 10000 ? 3 : 13;
    const auto x = randn(T * H, 1.0f, 2.0f), h = randn(T * H), bias = randn(H, 0.5f);
    const auto g = randn(H, 0.2f, 1.0f), b = randn(H, 0.2f);
    DeviceTensor d_x = make({T, H}), d_h = make({T, H}), d_bias = make({H}), d_g = make({H}),
                 d_b = make({H}), d_y = make({T, H});
    d_x.upload(x);
    d_h.upload(h);
    d_bias.upload(bias);
    d_g.upload(g);
    d_b.upload(b);
    d_y.poison();
    add_bias_residual_layer_norm(ctx(), d_h.t, d_bias.t, d_x.t, d_g.t, d_b.t, 1e-5f, d_y.t);
    std::vector<float> sum(T * H);  // x + h + bias, then stored once in the tested dtype
    for (int64_t i = 0; i < T * H; ++i)
      sum[i] = static_cast<float>(static_cast<double>(x[i]) + h[i] + bias[i % H]);
    const auto stored = rounded(sum, dt());
    const auto want_y = layer_norm_reference(widened(stored), g, b, 1e-5, H);
    const std::string what = tag() + " H=" + std::to_string(H);
    expect_close(d_x.download(), widened(sum), dtype_rtol(dt()), "residual x" + what);
    expect_close(d_y.download(), want_y, dtype_rtol(dt()), "normalized y" + what);
    d_x.upload(x);  // y may take h's place (the block output is dead once added)
    add_bias_residual_layer_norm(ctx(), d_h.t, d_bias.t, d_x.t, d_g.t, d_b.t, 1e-5f, d_h.t);
    expect_close(d_h.download(), want_y, dtype_rtol(dt()), "y in h's place" + what);
  }
}

}  // namespace
}  // namespace bloom::ops::testing

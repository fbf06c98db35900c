// CPU reference ops against independent, directly written formulas on small random inputs.
// (The whole-model comparison with HF lives in tests/engine/test_bloom_forward.cpp.)
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "kernels/cpu/ops_cpu.h"
#include "kernels/ops.h"

namespace bloom::ops {
namespace {

std::vector<float> randn(size_t n, uint32_t seed) {
  std::mt19937 g(seed);
  std::normal_distribution<float> d(0.f, 1.f);
  std::vector<float> v(n);
  for (float& x : v) x = d(g);
  return v;
}

Tensor T(std::vector<float>& v, std::initializer_list<int64_t> s) {
  return Tensor(v.data(), DType::F32, Device::CPU, s);
}

TEST(CpuOps, AlibiSlopesMatchHfFormula) {
  // 8 heads: 2^-1 .. 2^-8; 6 heads: 4 from 2^(-2i), then 2^-1 and 2^-3 (the odd series of 8).
  for (int h = 0; h < 8; ++h) EXPECT_FLOAT_EQ(cpu::alibi_slope(h, 8), std::pow(2.0f, -(h + 1.0f)));
  const float six[] = {0.25f, 0.0625f, 0.015625f, 0.00390625f, 0.5f, 0.125f};
  for (int h = 0; h < 6; ++h) EXPECT_FLOAT_EQ(cpu::alibi_slope(h, 6), six[h]);
  EXPECT_NEAR(cpu::alibi_slope(0, 32), 0.8408964f, 1e-6);
  EXPECT_NEAR(cpu::alibi_slope(64, 112), std::pow(2.0f, -1.0f / 16), 1e-6);
}

TEST(CpuOps, LinearWithGeluMatchesLoops) {
  Context ctx(Device::CPU);
  const int M = 5, K = 7, N = 3;
  auto x = randn(M * K, 1), w = randn(N * K, 2), b = randn(N, 3);
  std::vector<float> y(M * N);
  Tensor ty = T(y, {M, N});
  linear(ctx, T(x, {M, K}), T(w, {N, K}), T(b, {N}), Activation::GeluTanh, ty);
  for (int m = 0; m < M; ++m)
    for (int n = 0; n < N; ++n) {
      double a = b[n];
      for (int k = 0; k < K; ++k) a += static_cast<double>(x[m * K + k]) * w[n * K + k];
      const double g = 0.5 * a * (1 + std::tanh(0.7978845608 * (a + 0.044715 * a * a * a)));
      EXPECT_NEAR(y[m * N + n], g, 1e-5);
    }
}

TEST(CpuOps, AttentionSingleTokenIsItsValue) {
  // A sequence of one token attends only to itself: the output is its v.
  Context ctx(Device::CPU);
  const int NH = 2, HD = 4;
  auto qkv = randn(2 * NH * 3 * HD, 4);  // two sequences of one token
  std::vector<int32_t> cu = {0, 1, 2};
  std::vector<float> out(2 * NH * HD);
  Tensor tcu(cu.data(), DType::I32, Device::CPU, {3});
  Tensor to = T(out, {2, NH * HD});
  AttentionParams p{NH, NH, 0, HD, 1};
  attention_alibi(ctx, T(qkv, {2, NH * 3 * HD}), tcu, p, to);
  for (int t = 0; t < 2; ++t)
    for (int h = 0; h < NH; ++h)
      for (int d = 0; d < HD; ++d)
        EXPECT_FLOAT_EQ(out[t * NH * HD + h * HD + d], qkv[t * NH * 3 * HD + h * 3 * HD + 2 * HD + d]);
}

TEST(CpuOps, LogitsStatsOfASlice) {
  Context ctx(Device::CPU);
  std::vector<float> l = {1.f, 3.f, 3.f, -2.f, 0.f, 0.5f};
  std::vector<int32_t> tg = {12, 99};
  std::vector<float> st(8);
  Tensor tt(tg.data(), DType::I32, Device::CPU, {2});
  Tensor ts = T(st, {2, 4});
  logits_stats(ctx, T(l, {2, 3}), tt, 10, ts);
  EXPECT_FLOAT_EQ(st[0], 3.f);
  EXPECT_NEAR(st[1], std::exp(-2.0) + 2.0, 1e-6);
  EXPECT_FLOAT_EQ(st[2], 11.f);  // first of the tied maxima, as a global id
  EXPECT_FLOAT_EQ(st[3], 3.f);   // target 12 -> local 2
  EXPECT_FLOAT_EQ(st[6], 12.f);  // row 1: max 0.5 at local 2
  EXPECT_TRUE(std::isinf(st[7]) && st[7] < 0);  // target outside the slice
}

TEST(CpuOps, FusedResidualLayerNorm) {
  Context ctx(Device::CPU);
  const int Tn = 3, H = 8;
  auto h = randn(Tn * H, 5), x = randn(Tn * H, 6), b = randn(H, 7), g = randn(H, 8), be = randn(H, 9);
  std::vector<float> x0 = x, y(Tn * H);
  Tensor tx = T(x, {Tn, H}), ty = T(y, {Tn, H});
  add_bias_residual_layer_norm(ctx, T(h, {Tn, H}), T(b, {H}), tx, T(g, {H}), T(be, {H}), 1e-5f, ty);
  for (int t = 0; t < Tn; ++t) {
    double mean = 0, var = 0;
    for (int i = 0; i < H; ++i) {
      const double v = x0[t * H + i] + h[t * H + i] + b[i];
      EXPECT_NEAR(x[t * H + i], v, 1e-6);
      mean += v / H;
    }
    for (int i = 0; i < H; ++i) var += std::pow(x[t * H + i] - mean, 2) / H;
    for (int i = 0; i < H; ++i)
      EXPECT_NEAR(y[t * H + i], (x[t * H + i] - mean) / std::sqrt(var + 1e-5) * g[i] + be[i], 1e-5);
  }
}

}  // namespace
}  // namespace bloom::ops

// FP8 ops (quantize_fp8 and linear_fp8, its operands' maker) on every device against references written here from the
// formulas of kernels/ops.h in double precision, and CUDA against the CPU byte for byte where
// the contract says so (the quantized bytes and scales); the layer norm that quantizes its
// output (add_bias_residual_layer_norm_fp8) against the two ops it fuses. Without a GPU the
// CUDA cases skip.
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <random>
#include <vector>

#include "core/context.h"
#include "core/fp8.h"
#include "core/tensor.h"
#include "kernels/ops.h"
#include "tests/test_support.h"

namespace bloom::ops {
namespace {

bool device_available(Device d) { return d == Device::CPU || ::bloom::testing::gpu_present(); }

// A tensor on `device` holding `bytes` (host data in the tensor's dtype).
struct Owned {
  Buffer buf;
  Tensor t;
  Owned(Device device, DType dt, std::initializer_list<int64_t> shape, const void* host) {
    Tensor probe(nullptr, dt, device, shape);
    buf = Buffer(std::max<size_t>(probe.nbytes(), 1), device);
    t = buf.tensor(dt, shape);
    if (host) {
      Tensor src(const_cast<void*>(host), dt, Device::CPU, shape);
      copy_tensor(src, t);
    }
  }
  template <typename T>
  std::vector<T> download() const {
    std::vector<T> out(t.nbytes() / sizeof(T));
    Tensor dst(out.data(), t.dtype, Device::CPU, {t.numel()});
    copy_tensor(t.view({t.numel()}), dst);
    return out;
  }
};

std::vector<float> random_values(size_t n, uint32_t seed, float spread) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = nd(rng) * spread;
  return v;
}

std::vector<float> widen(const std::vector<uint16_t>& v, DType t) {
  std::vector<float> out(v.size());
  convert_host(v.data(), t, out.data(), DType::F32, v.size());
  return out;
}

struct Case {
  Device device;
  DType act;  // activation dtype: F32 on the CPU, F16/BF16 on CUDA
};

class Fp8Ops : public ::testing::TestWithParam<Case> {
 protected:
  void SetUp() override {
    if (!device_available(GetParam().device)) GTEST_SKIP() << "no CUDA device";
    ctx_ = std::make_unique<Context>(GetParam().device);
  }
  std::unique_ptr<Context> ctx_;
};

// Host values in the activation dtype, and those values widened (what the op really sees).
std::vector<float> in_dtype(const std::vector<float>& v, DType t, std::vector<uint16_t>* narrow) {
  if (t == DType::F32) return v;
  narrow->resize(v.size());
  convert_host(v.data(), DType::F32, narrow->data(), t, v.size());
  return widen(*narrow, t);
}

TEST_P(Fp8Ops, QuantizeGivesTheReferenceBytesAndScales) {
  const Case c = GetParam();
  // K 300: the plain kernel; 256 and 4096: one-pass vector rows (16-bit inputs, K % 8 == 0).
  for (const int64_t K : {300, 256, 4096}) {
    SCOPED_TRACE(::testing::Message() << "K " << K);
    const int64_t T = 37;
    std::vector<float> x = random_values(T * K, 1, 3.0f);
    for (int64_t j = 0; j < K; ++j) x[5 * K + j] = 0.0f;  // an all-zero row: scale 1, bytes 0
    x[7 * K + 11] = 2000.0f;                               // a row with an outlier
    std::vector<uint16_t> narrow;
    const std::vector<float> seen = in_dtype(x, c.act, &narrow);
    Owned xt(c.device, c.act, {T, K},
             c.act == DType::F32 ? static_cast<const void*>(x.data()) : narrow.data());
    Owned q(c.device, DType::F8E4M3, {T, K}, nullptr), s(c.device, DType::F32, {T}, nullptr);
    Fp8Matrix out{q.t, s.t};
    quantize_fp8(*ctx_, xt.t, out);
    ctx_->synchronize();
    std::vector<uint8_t> want_q(T * K);
    std::vector<float> want_s(T);
    quantize_rows_e4m3(seen.data(), T, K, want_q.data(), want_s.data());
    EXPECT_EQ(q.download<uint8_t>(), want_q);
    EXPECT_EQ(s.download<float>(), want_s);
    EXPECT_EQ(want_s[5], 1.0f);
  }
}

// add_bias_residual_layer_norm_fp8 against its definition on the same device: the residual add
// and layer norm (add_bias_residual_layer_norm, tested against the CPU reference in
// test_layer_norm.cpp), then quantize_fp8 of the stored rows: the same updated x, bytes and
// scales, exactly. H 96 and 4096: rows in registers as 16-byte packs; 100: the scalar path;
// 40000: rows too long for registers (the kernel that loops over memory).
TEST_P(Fp8Ops, FusedLayerNormQuantizeIsTheTwoOps) {
  const Case c = GetParam();
  for (const int64_t H : {96, 100, 4096, 40000}) {
    SCOPED_TRACE(::testing::Message() << "H " << H);
    const int64_t T = H > 5000 ? 3 : 37;
    std::vector<float> gamma = random_values(H, 13, 0.1f);
    for (float& v : gamma) v += 1.0f;
    // A tensor of the activation dtype holding `v` (rounded to it).
    auto make = [&](const std::vector<float>& v, std::initializer_list<int64_t> shape) {
      std::vector<uint16_t> narrow;
      in_dtype(v, c.act, &narrow);
      const void* src = c.act == DType::F32 ? static_cast<const void*>(v.data()) : narrow.data();
      return std::make_unique<Owned>(c.device, c.act, shape, src);
    };
    const std::vector<float> x = random_values(T * H, 11, 2.0f);
    const auto x1 = make(x, {T, H}), x2 = make(x, {T, H});
    const auto h = make(random_values(T * H, 12, 1.0f), {T, H});
    const auto bias = make(random_values(H, 15, 0.3f), {H});
    const auto g = make(gamma, {H}), b = make(random_values(H, 14, 0.1f), {H});
    Owned y(c.device, c.act, {T, H}, nullptr);
    Owned q1(c.device, DType::F8E4M3, {T, H}, nullptr), s1(c.device, DType::F32, {T}, nullptr);
    Owned q2(c.device, DType::F8E4M3, {T, H}, nullptr), s2(c.device, DType::F32, {T}, nullptr);
    Fp8Matrix two{q1.t, s1.t}, fused{q2.t, s2.t};
    add_bias_residual_layer_norm(*ctx_, h->t, bias->t, x1->t, g->t, b->t, 1e-5f, y.t);
    quantize_fp8(*ctx_, y.t, two);
    add_bias_residual_layer_norm_fp8(*ctx_, h->t, bias->t, x2->t, g->t, b->t, 1e-5f, fused);
    ctx_->synchronize();
    EXPECT_EQ(x2->download<uint8_t>(), x1->download<uint8_t>()) << "x updated differently";
    const std::vector<uint8_t> want_q = q1.download<uint8_t>();
    EXPECT_EQ(q2.download<uint8_t>(), want_q);
    EXPECT_EQ(s2.download<float>(), s1.download<float>());
    size_t nonzero = 0;
    for (uint8_t v : want_q) nonzero += (v & 0x7f) != 0;
    EXPECT_GT(nonzero, want_q.size() / 2);  // real values, not an untouched buffer
  }
}

// y = act(xs[t] ws[n] sum_k e4m3(xq) e4m3(wq) + b[n]) in double.
std::vector<double> reference(const std::vector<uint8_t>& xq, const std::vector<float>& xs,
                              const std::vector<uint8_t>& wq, const std::vector<float>& ws,
                              const std::vector<float>& bias, bool gelu, int64_t T, int64_t N,
                              int64_t K) {
  std::vector<double> y(T * N);
  for (int64_t t = 0; t < T; ++t)
    for (int64_t n = 0; n < N; ++n) {
      double acc = 0.0;
      for (int64_t k = 0; k < K; ++k)
        acc += double(e4m3_to_float(xq[t * K + k])) * double(e4m3_to_float(wq[n * K + k]));
      double v = acc * xs[t] * ws[n] + (bias.empty() ? 0.0 : bias[n]);
      if (gelu) v = 0.5 * v * (1.0 + std::tanh(0.7978845608028654 * v * (1.0 + 0.044715 * v * v)));
      y[t * N + n] = v;
    }
  return y;
}

TEST_P(Fp8Ops, LinearMatchesTheReference) {
  const Case c = GetParam();
  // K, N multiples of 16 as FP8 GEMMs need. T 64: cuBLASLt's scaled algorithms (the FP8 mode
  // rounds its rows up to 16: engine/workspace.h); T 67: the fallbacks of kernels/cuda/linear_fp8.cu.
  const int64_t K = 256, N = 96;
  for (const int64_t T : {64, 67}) {
  for (const bool gelu : {false, true}) {
    for (const bool with_bias : {false, true}) {
      SCOPED_TRACE(::testing::Message() << "T " << T << " gelu " << gelu << " bias " << with_bias);
      const std::vector<float> x = random_values(T * K, 2, 1.0f), w = random_values(N * K, 3, 0.05f);
      std::vector<uint8_t> xq(T * K), wq(N * K);
      std::vector<float> xs(T), ws(N);
      quantize_rows_e4m3(x.data(), T, K, xq.data(), xs.data());
      quantize_rows_e4m3(w.data(), N, K, wq.data(), ws.data());
      std::vector<uint16_t> bias_narrow;
      const std::vector<float> bias =
          with_bias ? in_dtype(random_values(N, 4, 0.5f), c.act, &bias_narrow) : std::vector<float>();
      Owned xqt(c.device, DType::F8E4M3, {T, K}, xq.data()), xst(c.device, DType::F32, {T}, xs.data());
      Owned wqt(c.device, DType::F8E4M3, {N, K}, wq.data()), wst(c.device, DType::F32, {N}, ws.data());
      Owned bt(c.device, c.act, {with_bias ? N : 0},
               c.act == DType::F32 ? static_cast<const void*>(bias.data()) : bias_narrow.data());
      Owned y(c.device, c.act, {T, N}, nullptr);
      linear_fp8(*ctx_, {xqt.t, xst.t}, {wqt.t, wst.t}, with_bias ? bt.t : Tensor(),
                 gelu ? Activation::GeluTanh : Activation::None, y.t);
      ctx_->synchronize();
      const std::vector<double> want = reference(xq, xs, wq, ws, bias, gelu, T, N, K);
      const std::vector<float> got =
          c.act == DType::F32 ? y.download<float>() : widen(y.download<uint16_t>(), c.act);
      const double tol = c.act == DType::F32 ? 1e-5 : c.act == DType::F16 ? 1e-2 : 4e-2;
      // Each element within tol of |want| + the output's rms (sums of cancelling terms have no
      // meaningful relative error of their own).
      double ss = 0.0;
      for (double v : want) ss += v * v;
      const double rms = std::sqrt(ss / static_cast<double>(want.size()));
      double worst = 0.0;
      for (int64_t i = 0; i < T * N; ++i) {
        ASSERT_TRUE(std::isfinite(got[i])) << "element " << i;
        worst = std::max(worst, std::fabs(got[i] - want[i]) / (std::fabs(want[i]) + rms));
      }
      EXPECT_LT(worst, tol);
    }
  }
  }
}

INSTANTIATE_TEST_SUITE_P(CPU, Fp8Ops, ::testing::Values(Case{Device::CPU, DType::F32}),
                         [](const ::testing::TestParamInfo<Case>&) { return std::string("fp32"); });
#ifdef BLOOM_WITH_CUDA
INSTANTIATE_TEST_SUITE_P(CUDA, Fp8Ops,
                         ::testing::Values(Case{Device::CUDA, DType::F16},
                                           Case{Device::CUDA, DType::BF16}),
                         [](const ::testing::TestParamInfo<Case>& i) {
                           return std::string(dtype_name(i.param.act));
                         });
#endif

}  // namespace
}  // namespace bloom::ops

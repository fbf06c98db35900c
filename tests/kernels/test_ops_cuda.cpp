// CUDA ops (kernels/cuda) against the CPU reference (kernels/cpu) on random inputs, for each of
// F32, F16 and BF16. Inputs are rounded to the tested dtype first and the reference runs in fp32
// on exactly those values, so only the CUDA op's own arithmetic is measured. Outputs are
// poisoned with NaN before each run (a row the kernel forgets to write fails the comparison).
// Without a CUDA device every test skips itself with a message.
#include <gtest/gtest.h>

#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <limits>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "core/context.h"
#include "core/tensor.h"
#include "kernels/cpu/ops_cpu.h"
#include "kernels/cuda/ops_cuda.h"

namespace bloom::ops {
namespace {

bool cuda_available() {
  int n = 0;
  return cudaGetDeviceCount(&n) == cudaSuccess && n > 0;
}

struct Tol {
  double rtol, atol;
};

/// Element-wise tolerance for results stored in `t` (fp32 1e-5, fp16 1e-2, bf16 4e-2 relative).
Tol tol_for(DType t) {
  switch (t) {
    case DType::F16: return {1e-2, 1e-2};
    case DType::BF16: return {4e-2, 4e-2};
    default: return {1e-5, 1e-4};
  }
}

/// v rounded to dtype t and widened back: the values a tensor of dtype t holds.
std::vector<float> rounded(const std::vector<float>& v, DType t) {
  if (t == DType::F32) return v;
  std::vector<uint16_t> narrow(v.size());
  std::vector<float> out(v.size());
  convert_host(v.data(), DType::F32, narrow.data(), t, v.size());
  convert_host(narrow.data(), t, out.data(), DType::F32, v.size());
  return out;
}

/// A device tensor owning its memory, with fp32 host upload/download in its dtype.
struct DevTensor {
  Buffer buf;
  Tensor t;

  DevTensor(DType dt, std::initializer_list<int64_t> shape) {
    Tensor probe(nullptr, dt, Device::CUDA, shape);
    int64_t n = 1;
    for (int i = 0; i < probe.rank; ++i) n *= probe.shape[i];
    buf = Buffer(std::max<size_t>(1, static_cast<size_t>(n) * dtype_size(dt)), Device::CUDA);
    t = buf.tensor(dt, shape);
  }
  void upload(const std::vector<float>& v) {
    ASSERT_EQ(static_cast<int64_t>(v.size()), t.numel());
    std::vector<char> host(t.nbytes());
    convert_host(v.data(), DType::F32, host.data(), t.dtype, v.size());
    Tensor src(host.data(), t.dtype, Device::CPU, {t.numel()});
    Tensor dst = t.view({t.numel()});
    copy_tensor(src, dst);
  }
  void upload_i32(const std::vector<int32_t>& v) {
    ASSERT_EQ(static_cast<int64_t>(v.size()), t.numel());
    Tensor src(const_cast<int32_t*>(v.data()), DType::I32, Device::CPU, {t.numel()});
    Tensor dst = t.view({t.numel()});
    copy_tensor(src, dst);
  }
  std::vector<float> download() const {
    std::vector<char> host(t.nbytes());
    Tensor dst(host.data(), t.dtype, Device::CPU, {t.numel()});
    copy_tensor(t.view({t.numel()}), dst);
    std::vector<float> out(static_cast<size_t>(t.numel()));
    convert_host(host.data(), t.dtype, out.data(), DType::F32, out.size());
    return out;
  }
  void poison() { ASSERT_EQ(cudaMemset(t.data, 0xFF, t.nbytes()), cudaSuccess); }  // NaN
};

Tensor host(std::vector<float>& v, std::initializer_list<int64_t> shape) {
  return Tensor(v.data(), DType::F32, Device::CPU, shape);
}
Tensor host_i32(std::vector<int32_t>& v, std::initializer_list<int64_t> shape) {
  return Tensor(v.data(), DType::I32, Device::CPU, shape);
}

void expect_close(const std::vector<float>& got, const std::vector<float>& want, Tol tol,
                  const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  size_t bad = 0, first = 0;
  double max_err = 0.0;
  for (size_t i = 0; i < got.size(); ++i) {
    if (got[i] == want[i]) continue;  // also equal infinities
    const double err = std::fabs(static_cast<double>(got[i]) - want[i]);
    const bool ok = err <= tol.atol + tol.rtol * std::fabs(static_cast<double>(want[i]));
    if (!ok) {  // NaN lands here too
      if (bad++ == 0) first = i;
    }
    if (err == err) max_err = std::max(max_err, err);
  }
  EXPECT_EQ(bad, 0u) << what << ": " << bad << " of " << got.size()
                     << " elements outside tolerance (rtol " << tol.rtol << ", atol " << tol.atol
                     << "); first at " << first << ": got " << got[first] << ", want "
                     << want[first] << "; max finite error " << max_err;
}

class CudaOps : public ::testing::TestWithParam<DType> {
 protected:
  void SetUp() override {
    if (!cuda_available()) GTEST_SKIP() << "no CUDA device: CUDA op tests skipped";
    ctx_ = std::make_unique<Context>(Device::CUDA, 0);
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    rng_.seed(static_cast<uint32_t>(std::hash<std::string>()(info->name())));
  }
  DType dt() const { return GetParam(); }

  /// Normal(mean, sd) values rounded to the tested dtype.
  std::vector<float> randn(size_t n, float sd = 1.0f, float mean = 0.0f) {
    std::normal_distribution<float> d(mean, sd);
    std::vector<float> v(n);
    for (float& x : v) x = d(rng_);
    return rounded(v, dt());
  }
  int uniform_int(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }

  std::unique_ptr<Context> ctx_;
  Context cpu_{Device::CPU};
  std::mt19937 rng_;
};

TEST_P(CudaOps, EmbeddingWithVocabOffset) {
  const int64_t V = 50, offset = 100, T = 37;
  for (int64_t H : {96, 36, 3}) {  // 16-byte, 4-byte and 2-byte copy paths
    auto table = randn(V * H);
    std::vector<int32_t> ids(T);
    for (auto& id : ids) id = uniform_int(0, 249);  // ~20% inside [100, 150)
    ids[0] = 100;
    ids[1] = 149;
    ids[2] = 150;
    ids[3] = 99;
    DevTensor d_table(dt(), {V, H}), d_ids(DType::I32, {T}), d_out(dt(), {T, H});
    d_table.upload(table);
    d_ids.upload_i32(ids);
    d_out.poison();
    cuda::embedding(*ctx_, d_table.t, d_ids.t, offset, d_out.t);
    std::vector<float> want(T * H);
    Tensor w = host(want, {T, H});
    cpu::embedding(cpu_, host(table, {V, H}), host_i32(ids, {T}), offset, w);
    expect_close(d_out.download(), want, {0, 0}, "embedding H=" + std::to_string(H));
  }
}

TEST_P(CudaOps, LayerNorm) {
  // 4096: vector path in registers; 1000 halves: 8-wide packs, 1003: scalar; 40000: long rows.
  for (int64_t H : {96, 1000, 1003, 4096, 40000}) {
    const int64_t T = H > 10000 ? 3 : 13;
    auto x = randn(T * H, 1.5f, 3.0f);  // offset mean: the variance must not cancel
    auto g = randn(H, 0.2f, 1.0f), b = randn(H, 0.2f);
    DevTensor d_x(dt(), {T, H}), d_g(dt(), {H}), d_b(dt(), {H}), d_y(dt(), {T, H});
    d_x.upload(x);
    d_g.upload(g);
    d_b.upload(b);
    d_y.poison();
    cuda::layer_norm(*ctx_, d_x.t, d_g.t, d_b.t, 1e-5f, d_y.t);
    std::vector<float> want(T * H);
    Tensor w = host(want, {T, H});
    cpu::layer_norm(cpu_, host(x, {T, H}), host(g, {H}), host(b, {H}), 1e-5f, w);
    expect_close(d_y.download(), want, tol_for(dt()), "layer_norm H=" + std::to_string(H));
    cuda::layer_norm(*ctx_, d_x.t, d_g.t, d_b.t, 1e-5f, d_x.t);  // in place: y aliases x
    expect_close(d_x.download(), want, tol_for(dt()),
                 "in-place layer_norm H=" + std::to_string(H));
  }
}

TEST_P(CudaOps, AddBiasResidualLayerNorm) {
  for (int64_t H : {96, 1000, 1003, 4096, 40000}) {
    const int64_t T = H > 10000 ? 3 : 13;
    auto x = randn(T * H, 1.0f, 2.0f), h = randn(T * H), bias = randn(H, 0.5f);
    auto g = randn(H, 0.2f, 1.0f), b = randn(H, 0.2f);
    DevTensor d_x(dt(), {T, H}), d_h(dt(), {T, H}), d_bias(dt(), {H}), d_g(dt(), {H}),
        d_b(dt(), {H}), d_y(dt(), {T, H});
    d_x.upload(x);
    d_h.upload(h);
    d_bias.upload(bias);
    d_g.upload(g);
    d_b.upload(b);
    d_y.poison();
    cuda::add_bias_residual_layer_norm(*ctx_, d_h.t, d_bias.t, d_x.t, d_g.t, d_b.t, 1e-5f,
                                       d_y.t);
    std::vector<float> want_y(T * H), want_x = x;
    Tensor wx = host(want_x, {T, H}), wy = host(want_y, {T, H});
    cpu::add_bias_residual_layer_norm(cpu_, host(h, {T, H}), host(bias, {H}), wx, host(g, {H}),
                                      host(b, {H}), 1e-5f, wy);
    const std::string tag = " H=" + std::to_string(H);
    expect_close(d_x.download(), want_x, tol_for(dt()), "residual x" + tag);
    expect_close(d_y.download(), want_y, tol_for(dt()), "normalized y" + tag);
    // y may alias h (the block output is dead once added).
    d_x.upload(x);
    cuda::add_bias_residual_layer_norm(*ctx_, d_h.t, d_bias.t, d_x.t, d_g.t, d_b.t, 1e-5f,
                                       d_h.t);
    expect_close(d_h.download(), want_y, tol_for(dt()), "y aliasing h" + tag);
  }
}

struct LinearCase {
  int64_t T, K, N;
  bool bias;
  Activation act;
  bool f32_out;
};

TEST_P(CudaOps, Linear) {
  const Activation none = Activation::None, gelu = Activation::GeluTanh;
  const LinearCase cases[] = {
      {1, 96, 64, true, none, false},     {37, 96, 288, true, gelu, false},
      {37, 256, 100, false, none, false}, {37, 256, 100, false, gelu, false},
      {5, 64, 1000, false, none, true},   {37, 96, 288, true, gelu, true},
      {130, 512, 1536, true, gelu, false}};
  for (const LinearCase& c : cases) {
    const DType out_t = c.f32_out ? DType::F32 : dt();
    auto x = randn(c.T * c.K);
    auto w = randn(c.N * c.K, 1.0f / std::sqrt(static_cast<float>(c.K)));
    auto bias = randn(c.N, 0.5f);
    DevTensor d_x(dt(), {c.T, c.K}), d_w(dt(), {c.N, c.K}), d_bias(dt(), {c.N}),
        d_y(out_t, {c.T, c.N});
    d_x.upload(x);
    d_w.upload(w);
    d_bias.upload(bias);
    d_y.poison();
    const Tensor no_bias;
    cuda::linear(*ctx_, d_x.t, d_w.t, c.bias ? d_bias.t : no_bias, c.act, d_y.t);
    std::vector<float> want(c.T * c.N);
    Tensor wy = host(want, {c.T, c.N});
    cpu::linear(cpu_, host(x, {c.T, c.K}), host(w, {c.N, c.K}),
                c.bias ? host(bias, {c.N}) : Tensor(), c.act, wy);
    // fp32 results: summation order and cuBLASLt's GELU epilogue differ from the reference at
    // the 1e-6 level; 1e-4 leaves room without hiding real errors (those are O(0.1)).
    const Tol tol = out_t == DType::F32 ? Tol{1e-4, 1e-4} : tol_for(out_t);
    std::ostringstream what;
    what << "linear T=" << c.T << " K=" << c.K << " N=" << c.N << " bias=" << c.bias
         << " gelu=" << (c.act == Activation::GeluTanh) << " out=" << dtype_name(out_t);
    expect_close(d_y.download(), want, tol, what.str());
  }
}

struct AttnCase {
  int head_dim, n_head_local, n_head_total, head_offset;
};

TEST_P(CudaOps, AttentionAlibiVarlen) {
  const std::vector<int32_t> lens = {1, 2, 17, 130, 300};
  std::vector<int32_t> cu = {0};
  for (int32_t l : lens) cu.push_back(cu.back() + l);
  const int64_t T = cu.back(), B = static_cast<int64_t>(lens.size());
  const AttnCase cases[] = {
      {16, 3, 6, 3},    // tiny-bloom geometry: second ALiBi series, TP rank 1 of 2
      {64, 4, 12, 8},   // TP rank 2 of 3 of 12 heads
      {128, 2, 6, 1},   // bloom-7b1's head_dim
      {80, 2, 32, 5},   // bloom-3b's head_dim (padded to 80 in the flash kernel)
      {24, 2, 12, 0},   // multiple of 8, not of 16: zero-padded columns
      {20, 1, 6, 5}};   // not a multiple of 8: simple kernel for every dtype
  for (const AttnCase& c : cases) {
    for (bool force_simple : {false, true}) {
      if (force_simple && dt() == DType::F32) continue;  // fp32 always takes the simple kernel
      const int64_t cols = static_cast<int64_t>(c.n_head_local) * 3 * c.head_dim;
      auto qkv = randn(T * cols, 1.5f);
      DevTensor d_qkv(dt(), {T, cols}), d_cu(DType::I32, {B + 1}),
          d_out(dt(), {T, static_cast<int64_t>(c.n_head_local) * c.head_dim});
      d_qkv.upload(qkv);
      d_cu.upload_i32(cu);
      d_out.poison();
      AttentionParams p{c.n_head_local, c.n_head_total, c.head_offset, c.head_dim, 300};
      if (force_simple) setenv("BLOOM_ATTENTION_SIMPLE", "1", 1);
      cuda::attention_alibi(*ctx_, d_qkv.t, d_cu.t, p, d_out.t);
      if (force_simple) unsetenv("BLOOM_ATTENTION_SIMPLE");
      std::vector<float> want(d_out.t.numel());
      Tensor wo = host(want, {T, static_cast<int64_t>(c.n_head_local) * c.head_dim});
      cpu::attention_alibi(cpu_, host(qkv, {T, cols}), host_i32(cu, {B + 1}), p, wo);
      // fp32: scores reach ~250 (ALiBi x 300 positions), where one fp32 ulp is 1.5e-5.
      const Tol tol = dt() == DType::F32 ? Tol{1e-4, 2e-4} : tol_for(dt());
      std::ostringstream what;
      what << "attention head_dim=" << c.head_dim << " heads [" << c.head_offset << ", "
           << c.head_offset + c.n_head_local << ") of " << c.n_head_total
           << (force_simple ? " (simple kernel)" : "");
      expect_close(d_out.download(), want, tol, what.str());
    }
  }
}

TEST_P(CudaOps, GatherRows) {
  const int64_t T = 50, H = 96, R = 7;
  auto x = randn(T * H);
  std::vector<int32_t> rows = {0, 49, 3, 3, 17, 48, 1};
  DevTensor d_x(dt(), {T, H}), d_rows(DType::I32, {R}), d_y(dt(), {R, H});
  d_x.upload(x);
  d_rows.upload_i32(rows);
  d_y.poison();
  cuda::gather_rows(*ctx_, d_x.t, d_rows.t, d_y.t);
  std::vector<float> want(R * H);
  Tensor wy = host(want, {R, H});
  cpu::gather_rows(cpu_, host(x, {T, H}), host_i32(rows, {R}), wy);
  expect_close(d_y.download(), want, {0, 0}, "gather_rows");
}

// logits_stats takes fp32 logits only: the dtype parameter just varies the data.
TEST_P(CudaOps, LogitsStatsWithTies) {
  const int64_t offset = 1000, R = 6;
  for (int64_t V : {1003, 50000, 62720}) {  // 1003: not a multiple of 4 nor of the block
    std::normal_distribution<float> d(0.0f, 3.0f);
    std::vector<float> logits(R * V);
    for (float& x : logits) x = d(rng_);
    auto at = [&](int64_t r, int64_t j) -> float& { return logits[r * V + j]; };
    at(0, 17) = at(0, 900) = 30.0f;  // tie across threads: first index wins
    at(1, 4) = at(1, 5) = 30.0f;     // tie inside one thread's float4
    at(2, V - 1) = at(2, 0) = 30.0f; // tie at both ends
    at(3, V - 1) = 30.0f;            // maximum at the last element
    at(4, V % 4 == 0 ? 2052 : 516) = at(4, 4) = 30.0f;  // one thread, two strides
    const auto id = [&](int64_t global) { return static_cast<int32_t>(global); };
    std::vector<int32_t> targets = {id(offset),     id(offset + V - 1), id(offset + V),
                                    id(offset - 1), id(offset + 17),    5};
    DevTensor d_logits(DType::F32, {R, V}), d_targets(DType::I32, {R}),
        d_stats(DType::F32, {R, 4});
    d_logits.upload(logits);
    d_targets.upload_i32(targets);
    d_stats.poison();
    cuda::logits_stats(*ctx_, d_logits.t, d_targets.t, offset, d_stats.t);
    std::vector<float> want(R * 4);
    Tensor ws = host(want, {R, 4});
    cpu::logits_stats(cpu_, host(logits, {R, V}), host_i32(targets, {R}), offset, ws);
    const auto got = d_stats.download();
    for (int64_t r = 0; r < R; ++r) {
      const std::string tag = "V=" + std::to_string(V) + " row " + std::to_string(r);
      EXPECT_EQ(got[r * 4 + 0], want[r * 4 + 0]) << "max, " << tag;
      EXPECT_NEAR(got[r * 4 + 1], want[r * 4 + 1], 1e-5 * want[r * 4 + 1]) << "sum exp, " << tag;
      EXPECT_EQ(got[r * 4 + 2], want[r * 4 + 2]) << "argmax, " << tag;
      EXPECT_EQ(got[r * 4 + 3], want[r * 4 + 3]) << "target logit, " << tag;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Dtypes, CudaOps,
                         ::testing::Values(DType::F32, DType::F16, DType::BF16),
                         [](const ::testing::TestParamInfo<DType>& info) {
                           return std::string(dtype_name(info.param));
                         });

}  // namespace
}  // namespace bloom::ops

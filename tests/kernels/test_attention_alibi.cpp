// attention_alibi (kernels/cpu/attention_alibi.cpp, kernels/cuda/attention_alibi.cu) against
// its formula, for query i and key j <= i of one packed sequence:
//   s_ij = q_i . k_j / sqrt(HD) + slope(head_offset + h, n_head_total) * j,
//   o_i = sum_j softmax_j(s_ij) v_j,
// with HF's slopes (build_alibi_tensor) computed here in double. Every case is chosen so that
// ALiBi moves the result: keys up to 300 positions back, slopes of non-power-of-two head counts
// (the second series), TP head offsets > 0. Each test first shows that its inputs tell a wrong
// slope, a wrong head offset, a wrong head count, a reversed or tile-relative key position and a
// missing bias apart from the right answer, then compares the op with the right answer.
#include <cmath>
#include <functional>
#include <sstream>

#include "kernels/cpu/ops_cpu.h"
#include "tests/kernels/op_test.h"

namespace bloom::ops::testing {
namespace {

/// HF's slope of head h (0-based) among n: closest power of two c <= n gives
/// 2^(-8/c)^(1..c); the remaining n - c heads take the odd powers 1, 3, 5... of 2^(-4/c).
double hf_slope(int h, int n) {
  int c = 1;
  while (2 * c <= n) c *= 2;
  const double base = std::pow(2.0, -std::pow(2.0, -(std::log2(static_cast<double>(c)) - 3)));
  if (h < c) return std::pow(base, h + 1);
  const double extra = std::pow(2.0, -std::pow(2.0, -(std::log2(2.0 * c) - 3)));
  return std::pow(extra, 2 * (h - c) + 1);
}

/// The bias of query i, key j (positions inside their sequence) for local head h.
using Bias = std::function<double(int h, int64_t i, int64_t j)>;

std::vector<double> attention_reference(const std::vector<float>& qkv,
                                        const std::vector<int32_t>& cu, int NH, int HD,
                                        const Bias& bias) {
  const int64_t ld = int64_t{NH} * 3 * HD, T = cu.back();
  std::vector<double> out(static_cast<size_t>(T * NH * HD));
  for (size_t b = 0; b + 1 < cu.size(); ++b) {
    const int64_t s0 = cu[b], L = cu[b + 1] - cu[b];
    for (int h = 0; h < NH; ++h)
      for (int64_t i = 0; i < L; ++i) {
        const float* q = &qkv[(s0 + i) * ld + h * 3 * HD];
        std::vector<double> p(static_cast<size_t>(i + 1));
        double mx = -INFINITY, sum = 0.0;
        for (int64_t j = 0; j <= i; ++j) {
          const float* k = &qkv[(s0 + j) * ld + h * 3 * HD + HD];
          double dot = 0.0;
          for (int d = 0; d < HD; ++d) dot += static_cast<double>(q[d]) * k[d];
          p[j] = dot / std::sqrt(static_cast<double>(HD)) + bias(h, i, j);
          mx = std::max(mx, p[j]);
        }
        for (double& v : p) sum += (v = std::exp(v - mx));
        for (int d = 0; d < HD; ++d) {
          double acc = 0.0;
          for (int64_t j = 0; j <= i; ++j) acc += p[j] * qkv[(s0 + j) * ld + h * 3 * HD + 2 * HD + d];
          out[((s0 + i) * NH + h) * HD + d] = acc / sum;
        }
      }
  }
  return out;
}

struct AttnCase {
  int head_dim, n_head_local, n_head_total, head_offset;
};

std::string describe(const AttnCase& c) {
  std::ostringstream m;
  m << "head_dim " << c.head_dim << ", heads [" << c.head_offset << ", "
    << c.head_offset + c.n_head_local << ") of " << c.n_head_total;
  return m.str();
}

/// The biases a plausible implementation gets wrong, each with its name.
std::vector<std::pair<std::string, Bias>> wrong_biases(const AttnCase& c) {
  const int off = c.head_offset, n = c.n_head_total, nl = c.n_head_local;
  std::vector<std::pair<std::string, Bias>> v = {
      {"no ALiBi", [](int, int64_t, int64_t) { return 0.0; }},
      {"slope of the next head", [=](int h, int64_t, int64_t j) { return hf_slope((off + h + 1) % n, n) * j; }},
      {"distance counted backwards (-slope * j)", [=](int h, int64_t, int64_t j) { return -hf_slope(off + h, n) * j; }},
      {"key position within a 64-key tile", [=](int h, int64_t, int64_t j) { return hf_slope(off + h, n) * (j % 64); }}};
  if (nl < n)
    v.push_back({"slopes of n_head_local heads", [=](int h, int64_t, int64_t j) {
                   return hf_slope(off + h, nl) * j; }});
  if (off > 0)
    v.push_back({"head offset ignored", [=](int h, int64_t, int64_t j) { return hf_slope(h, n) * j; }});
  if (nl < n && off + nl < n)  // slopes read from the next rank's heads
    v.push_back({"head offset off by one rank", [=](int h, int64_t, int64_t j) {
                   return hf_slope((off + nl + h) % n, n) * j; }});
  return v;
}

TEST(AlibiSlopes, MatchHfForEveryHeadCount) {
  // HF computes base^(h+1) in fp32, so its slopes carry base's rounding (up to ~3e-7 relative
  // for 128 heads); neighbouring heads' slopes differ by 4% or more.
  for (int n = 1; n <= 128; ++n)
    for (int h = 0; h < n; ++h)
      ASSERT_NEAR(cpu::alibi_slope(h, n), hf_slope(h, n), 1e-6 * hf_slope(h, n)) << h << " of " << n;
  // Literal values: 8 heads 2^-1 .. 2^-8; 6 heads 2^-2, 2^-4, 2^-6, 2^-8, then 2^-1, 2^-3.
  EXPECT_DOUBLE_EQ(hf_slope(7, 8), 1.0 / 256);
  EXPECT_DOUBLE_EQ(hf_slope(4, 6), 0.5);
  EXPECT_DOUBLE_EQ(hf_slope(5, 6), 0.125);
  EXPECT_NEAR(hf_slope(64, 112), std::pow(2.0, -1.0 / 16), 1e-15);  // bloom-176b's 2nd series
}

TEST_P(OpTest, AttentionAlibiVarlen) {
  const std::vector<int32_t> lens = {1, 2, 17, 130, 300};
  std::vector<int32_t> cu = {0};
  for (int32_t l : lens) cu.push_back(cu.back() + l);
  const int64_t T = cu.back(), B = static_cast<int64_t>(lens.size());
  const AttnCase cases[] = {
      {16, 3, 6, 3},   // tiny-bloom geometry: second ALiBi series, TP rank 1 of 2
      {64, 4, 12, 8},  // TP rank 2 of 3 of 12 heads
      {128, 2, 6, 1},  // bloom-7b1's head_dim
      {80, 2, 32, 5},  // bloom-3b's head_dim (CUDA flash kernel pads it to 80)
      {24, 2, 12, 0},  // multiple of 8, not of 16: zero-padded columns on CUDA
      {20, 1, 6, 5},   // not a multiple of 8: CUDA's simple kernel for every dtype
      {32, 8, 8, 0}};  // trained-bloom: all heads on one rank
  for (const AttnCase& c : cases) {
    const int NH = c.n_head_local, HD = c.head_dim;
    const int64_t cols = int64_t{NH} * 3 * HD;
    const auto qkv = randn(T * cols, 1.5f);
    const Bias right = [&](int h, int64_t, int64_t j) {
      return hf_slope(c.head_offset + h, c.n_head_total) * j;
    };
    const auto want = attention_reference(qkv, cu, NH, HD, right);
    // fp32: 1e-4, because ALiBi makes scores of ~150 (slope 0.5 x 300 positions), where fp32's
    // ulp is 1.5e-5: the exponent of every weight carries that error (HF's fp32 as much).
    const double rtol = dt() == DType::F32 ? 1e-4 : dtype_rtol(dt());
    for (const auto& [name, bias] : wrong_biases(c))
      EXPECT_FALSE(compare(std::vector<float>(want.begin(), want.end()),
                           attention_reference(qkv, cu, NH, HD, bias), rtol)
                       .empty())
          << describe(c) << ": the inputs cannot tell '" << name << "' from the right bias";
    for (bool force_simple : {false, true}) {
      if (force_simple && (device() == Device::CPU || dt() == DType::F32)) continue;
      DeviceTensor d_qkv = make({T, cols}), d_cu = make(DType::I32, {B + 1}),
                   d_out = make({T, int64_t{NH} * HD});
      d_qkv.upload(qkv);
      d_cu.upload_i32(cu);
      d_out.poison();
      AttentionParams p{NH, c.n_head_total, c.head_offset, HD, 300};
      if (force_simple) setenv("BLOOM_ATTENTION_SIMPLE", "1", 1);  // CUDA's reference kernel
      attention_alibi(ctx(), d_qkv.t, d_cu.t, p, d_out.t);
      if (force_simple) unsetenv("BLOOM_ATTENTION_SIMPLE");
      expect_close(d_out.download(), want, rtol,
                   tag() + " attention " + describe(c) + (force_simple ? " (simple kernel)" : ""));
    }
  }
}

TEST_P(OpTest, AttentionAlibiSequencesDoNotMix) {
  // The same 40 tokens as one sequence and as the second of two: the second must not see the
  // first (and its key positions restart at 0, which the softmax cannot tell from a shift).
  const int NH = 2, HD = 32, n_total = 4, off = 2;
  const int64_t cols = int64_t{NH} * 3 * HD, L0 = 25, L1 = 40;
  const auto qkv = randn((L0 + L1) * cols, 1.5f);
  const std::vector<int32_t> cu = {0, static_cast<int32_t>(L0), static_cast<int32_t>(L0 + L1)};
  const std::vector<float> tail(qkv.begin() + L0 * cols, qkv.end());
  const Bias right = [&](int h, int64_t, int64_t j) { return hf_slope(off + h, n_total) * j; };
  const auto want_tail = attention_reference(tail, {0, static_cast<int32_t>(L1)}, NH, HD, right);
  DeviceTensor d_qkv = make({L0 + L1, cols}), d_cu = make(DType::I32, {3}),
               d_out = make({L0 + L1, int64_t{NH} * HD});
  d_qkv.upload(qkv);
  d_cu.upload_i32(cu);
  d_out.poison();
  attention_alibi(ctx(), d_qkv.t, d_cu.t, {NH, n_total, off, HD, static_cast<int>(L1)}, d_out.t);
  const auto got = d_out.download();
  expect_close(std::vector<float>(got.begin() + L0 * NH * HD, got.end()), want_tail,
               dtype_rtol(dt()), tag() + " second sequence of a packed batch");
}

}  // namespace
}  // namespace bloom::ops::testing

// logits_stats (kernels/cpu/logits_stats.cpp, kernels/cuda/logits_stats.cu) against its
// formula, per row of a vocab slice holding global ids [offset, offset + V_local):
//   max logit, sum exp(logit - max), argmax as a global id (first on ties), target logit or
//   -inf when the target is outside the slice.
// Logits are fp32 on every device: the dtype parameter only varies the data.
#include <cmath>
#include <limits>

#include "tests/kernels/op_test.h"

namespace bloom::ops::testing {
namespace {

std::vector<double> logits_stats_reference(const std::vector<float>& logits, int64_t V,
                                           const std::vector<int32_t>& targets, int64_t offset) {
  std::vector<double> st(targets.size() * 4);
  for (size_t r = 0; r < targets.size(); ++r) {
    const float* row = &logits[r * V];
    int64_t arg = 0;
    for (int64_t j = 1; j < V; ++j)
      if (row[j] > row[arg]) arg = j;
    double sum = 0.0;
    for (int64_t j = 0; j < V; ++j) sum += std::exp(static_cast<double>(row[j]) - row[arg]);
    const int64_t local = targets[r] - offset;
    st[r * 4 + 0] = row[arg];
    st[r * 4 + 1] = sum;
    st[r * 4 + 2] = static_cast<double>(arg + offset);
    st[r * 4 + 3] = local >= 0 && local < V ? row[local] : -std::numeric_limits<double>::infinity();
  }
  return st;
}

TEST_P(OpTest, LogitsStatsWithTies) {
  const int64_t offset = 1000, R = 6;
  for (int64_t V : {1003, 50000, 62720}) {  // 1003: not a multiple of 4 nor of a block
    std::normal_distribution<float> d(0.0f, 3.0f);
    std::vector<float> logits(R * V);
    for (float& x : logits) x = d(rng_);
    auto at = [&](int64_t r, int64_t j) -> float& { return logits[r * V + j]; };
    at(0, 17) = at(0, 900) = 30.0f;    // tie far apart: the first index wins
    at(1, 4) = at(1, 5) = 30.0f;       // tie of neighbours (one CUDA thread's float4)
    at(2, V - 1) = at(2, 0) = 30.0f;   // tie at both ends
    at(3, V - 1) = 30.0f;              // maximum at the last element
    at(4, V % 4 == 0 ? 2052 : 516) = at(4, 4) = 30.0f;  // one CUDA thread, two strides
    const auto id = [](int64_t global) { return static_cast<int32_t>(global); };
    const std::vector<int32_t> targets = {id(offset),     id(offset + V - 1), id(offset + V),
                                          id(offset - 1), id(offset + 17),    5};
    DeviceTensor d_logits = make(DType::F32, {R, V}), d_targets = make(DType::I32, {R}),
                 d_stats = make(DType::F32, {R, 4});
    d_logits.upload(logits);
    d_targets.upload_i32(targets);
    d_stats.poison();
    logits_stats(ctx(), d_logits.t, d_targets.t, offset, d_stats.t);
    const auto got = d_stats.download();
    const auto want = logits_stats_reference(logits, V, targets, offset);
    for (int64_t r = 0; r < R; ++r) {
      const std::string where = tag() + " V=" + std::to_string(V) + " row " + std::to_string(r);
      EXPECT_EQ(got[r * 4 + 0], want[r * 4 + 0]) << "max, " << where;
      EXPECT_NEAR(got[r * 4 + 1], want[r * 4 + 1], 1e-5 * want[r * 4 + 1]) << "sum exp, " << where;
      EXPECT_EQ(got[r * 4 + 2], want[r * 4 + 2]) << "argmax, " << where;
      EXPECT_EQ(got[r * 4 + 3], want[r * 4 + 3]) << "target logit, " << where;
    }
  }
}

}  // namespace
}  // namespace bloom::ops::testing

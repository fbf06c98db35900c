// Batch planning: every passage exactly once, limits kept, deterministic, DP-balanced by tokens.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <set>

#include "runner/batching.h"

namespace bloom {
namespace {

std::vector<int64_t> lengths(size_t n, uint32_t seed) {
  std::mt19937 g(seed);
  std::uniform_int_distribution<int64_t> d(10, 300);
  std::vector<int64_t> v(n);
  for (auto& x : v) x = d(g);
  return v;
}

TEST(Batching, CoversEveryPassageOnceWithinLimits) {
  const auto len = lengths(1000, 1);
  const auto b = plan_batches(len, 16, 2048, 3);
  std::set<int64_t> seen;
  for (const auto& x : b) {
    EXPECT_LE(x.passages.size(), 16u);
    EXPECT_LE(x.n_tokens, 2048);
    int64_t sum = 0;
    for (int64_t i : x.passages) {
      EXPECT_TRUE(seen.insert(i).second) << "passage " << i << " twice";
      sum += len[i];
    }
    EXPECT_EQ(sum, x.n_tokens);
  }
  EXPECT_EQ(seen.size(), len.size());
}

TEST(Batching, LongPassageGetsItsOwnBatch) {
  const auto b = plan_batches({5, 500, 5}, 16, 100, 1);
  ASSERT_EQ(b.size(), 2u);
  EXPECT_EQ(b[0].passages, std::vector<int64_t>{1});
}

TEST(Batching, DeterministicAndBalancedByTokens) {
  const auto len = lengths(5153, 2);
  const auto a = plan_batches(len, 16, 100000, 4), b = plan_batches(len, 16, 100000, 4);
  ASSERT_EQ(a.size(), b.size());
  std::vector<int64_t> load(4, 0);
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].passages, b[i].passages);
    EXPECT_EQ(a[i].dp_group, b[i].dp_group);
    load[a[i].dp_group] += a[i].n_tokens;
  }
  const auto [mn, mx] = std::minmax_element(load.begin(), load.end());
  // Longest-first dealing keeps groups within one batch of each other.
  EXPECT_LE(*mx - *mn, 16 * 300);
}

}  // namespace
}  // namespace bloom

// Batch planning against its contract (runner/batching.h), each property recomputed here
// independently of plan_batches: every passage exactly once; passages longest first, ties by
// index; batches packed greedily up to both limits (a batch ends only when the next passage
// would break one); ids in order; each batch dealt to the group with the fewest tokens so far
// (ties: the lowest group), which keeps the groups within one batch of each other.
#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <random>
#include <vector>

#include "core/check.h"
#include "runner/batching.h"

namespace bloom {
namespace {

std::vector<int64_t> random_lengths(size_t n, uint32_t seed, int64_t lo, int64_t hi) {
  std::mt19937 g(seed);
  std::uniform_int_distribution<int64_t> d(lo, hi);
  std::vector<int64_t> v(n);
  for (auto& x : v) x = d(g);
  return v;
}

// Checks every property of the contract; `what` names the case in failures.
void check_plan(const std::vector<int64_t>& len, int64_t max_seqs, int64_t max_tokens, int dp,
                const std::string& what) {
  SCOPED_TRACE(what);
  const std::vector<PlannedBatch> plan = plan_batches(len, max_seqs, max_tokens, dp);
  // Order: the concatenated batches are the passages sorted longest first, ties by index.
  std::vector<int64_t> want(len.size()), got;
  std::iota(want.begin(), want.end(), 0);
  std::sort(want.begin(), want.end(), [&](int64_t a, int64_t b) {
    return len[a] != len[b] ? len[a] > len[b] : a < b;
  });
  for (const PlannedBatch& b : plan) got.insert(got.end(), b.passages.begin(), b.passages.end());
  ASSERT_EQ(got, want) << "not every passage exactly once, longest first";
  std::vector<int64_t> load(static_cast<size_t>(dp), 0);
  int64_t largest = 0;
  for (size_t k = 0; k < plan.size(); ++k) {
    const PlannedBatch& b = plan[k];
    EXPECT_EQ(b.id, static_cast<int64_t>(k));
    ASSERT_FALSE(b.passages.empty()) << "batch " << k;
    int64_t tokens = 0;
    for (int64_t i : b.passages) tokens += len[i];
    EXPECT_EQ(b.n_tokens, tokens) << "batch " << k;
    EXPECT_LE(static_cast<int64_t>(b.passages.size()), max_seqs) << "batch " << k;
    // Over max_tokens only as a batch of one passage longer than the limit.
    EXPECT_TRUE(tokens <= max_tokens || b.passages.size() == 1) << "batch " << k;
    if (k + 1 < plan.size()) {  // greedy: the next batch's first passage did not fit here
      const int64_t next = len[plan[k + 1].passages.front()];
      EXPECT_TRUE(static_cast<int64_t>(b.passages.size()) == max_seqs || tokens + next > max_tokens)
          << "batch " << k << " ended with room for the next passage";
    }
    const int64_t lightest = *std::min_element(load.begin(), load.end());
    const int first_lightest = static_cast<int>(std::find(load.begin(), load.end(), lightest) - load.begin());
    EXPECT_EQ(b.dp_group, first_lightest) << "batch " << k << " not dealt to the lightest group";
    ASSERT_TRUE(b.dp_group >= 0 && b.dp_group < dp);
    load[static_cast<size_t>(b.dp_group)] += b.n_tokens;
    largest = std::max(largest, b.n_tokens);
  }
  const auto [mn, mx] = std::minmax_element(load.begin(), load.end());
  if (plan.size() >= static_cast<size_t>(dp)) {
    EXPECT_LE(*mx - *mn, largest) << "groups unbalanced";
  }
}

TEST(Batching, ContractOnRandomLengths) {
  check_plan(random_lengths(1000, 1, 10, 300), 16, 2048, 3, "1000 passages, 16 / 2048, dp 3");
  check_plan(random_lengths(5153, 2, 10, 300), 16, 100000, 4, "sequence-bound batches, dp 4");
  check_plan(random_lengths(5153, 3, 10, 300), 1000, 1024, 2, "token-bound batches, dp 2");
  check_plan(random_lengths(777, 4, 1, 5000), 8, 4096, 5, "some passages over max_tokens");
  check_plan(random_lengths(300, 5, 50, 60), 7, 100000, 1, "many ties, dp 1");
}

TEST(Batching, EqualLengthsKeepDatasetOrder) {
  const std::vector<PlannedBatch> plan = plan_batches(std::vector<int64_t>(10, 7), 4, 100, 2);
  ASSERT_EQ(plan.size(), 3u);
  EXPECT_EQ(plan[0].passages, (std::vector<int64_t>{0, 1, 2, 3}));
  EXPECT_EQ(plan[1].passages, (std::vector<int64_t>{4, 5, 6, 7}));
  EXPECT_EQ(plan[2].passages, (std::vector<int64_t>{8, 9}));
  // Dealt to group 0, then 1; at 28 tokens each the tie goes to the lowest group, 0.
  EXPECT_EQ(plan[0].dp_group, 0);
  EXPECT_EQ(plan[1].dp_group, 1);
  EXPECT_EQ(plan[2].dp_group, 0);
}

TEST(Batching, LongPassageGetsItsOwnBatch) {
  const std::vector<PlannedBatch> plan = plan_batches({5, 500, 5}, 16, 100, 1);
  ASSERT_EQ(plan.size(), 2u);
  EXPECT_EQ(plan[0].passages, std::vector<int64_t>{1});
  EXPECT_EQ(plan[0].n_tokens, 500);
  EXPECT_EQ(plan[1].passages, (std::vector<int64_t>{0, 2}));
}

TEST(Batching, BalancesTokensNotPassages) {
  // One long passage and many short ones on 2 groups: the long one's group gets fewer batches.
  std::vector<int64_t> len(9, 10);
  len.push_back(85);
  const std::vector<PlannedBatch> plan = plan_batches(len, 1, 1000, 2);
  int64_t tokens[2] = {0, 0};
  int batches[2] = {0, 0};
  for (const PlannedBatch& b : plan) tokens[b.dp_group] += b.n_tokens, ++batches[b.dp_group];
  EXPECT_EQ(tokens[0], 85);
  EXPECT_EQ(batches[0], 1);
  EXPECT_EQ(tokens[1], 90);
  EXPECT_EQ(batches[1], 9);
}

TEST(Batching, MoreGroupsThanBatchesLeavesGroupsIdle) {
  const std::vector<PlannedBatch> plan = plan_batches({3, 2, 1}, 16, 100, 4);
  ASSERT_EQ(plan.size(), 1u);
  EXPECT_EQ(plan[0].dp_group, 0);
  EXPECT_TRUE(plan_batches({}, 16, 100, 2).empty());
}

TEST(Batching, RejectsBadLimits) {
  EXPECT_THROW(plan_batches({1}, 0, 100, 1), Error);
  EXPECT_THROW(plan_batches({1}, 1, 0, 1), Error);
  EXPECT_THROW(plan_batches({1}, 1, 100, 0), Error);
}

}  // namespace
}  // namespace bloom

// dataset.max_tokens: the start of a long context is cut, the target and the context's end are
// kept, short passages are untouched; and what the report counts (passages past BLOOM's 2048
// training tokens, the longest, the cuts) and records as run attributes.
#include <gtest/gtest.h>

#include <numeric>
#include <vector>

#include "runner/passage_limits.h"

namespace bloom {
namespace {

TokenizedPassage passage(int n_context, int n_target) {
  TokenizedPassage p;
  p.context_ids.resize(static_cast<size_t>(n_context));
  std::iota(p.context_ids.begin(), p.context_ids.end(), 0);  // ids = positions
  p.target_ids.assign(static_cast<size_t>(n_target), 7);
  return p;
}

TEST(PassageLimits, CutKeepsTheEndOfTheContextAndTheWholeTarget) {
  std::vector<TokenizedPassage> data = {passage(10, 2), passage(3000, 3), passage(100, 1)};
  const LengthReport rep = limit_passage_lengths(data, 64);
  EXPECT_EQ(rep.n_cut, 2);
  EXPECT_EQ(rep.n_long, 1);  // 3003 > 2048, counted before the cut
  EXPECT_EQ(rep.longest, 3003);
  EXPECT_EQ(rep.longest_row, 1);
  EXPECT_EQ(data[0].context_ids.size(), 10u);
  ASSERT_EQ(data[1].context_ids.size(), 61u);
  EXPECT_EQ(data[1].context_ids.front(), 3000 - 61);
  EXPECT_EQ(data[1].context_ids.back(), 2999);
  EXPECT_EQ(data[1].target_ids.size(), 3u);
  EXPECT_EQ(data[1].n_tokens(), 64);
  EXPECT_EQ(data[2].n_tokens(), 64);
  EXPECT_EQ(data[2].context_ids.front(), 100 - 63);
}

TEST(PassageLimits, NoCutWithoutMaxTokensAndAtLeastOneContextToken) {
  std::vector<TokenizedPassage> data = {passage(5000, 2)};
  LengthReport rep = limit_passage_lengths(data, 0);
  EXPECT_EQ(rep.n_cut, 0);
  EXPECT_EQ(rep.n_long, 1);
  EXPECT_EQ(data[0].context_ids.size(), 5000u);
  std::vector<TokenizedPassage> long_target = {passage(20, 10)};
  rep = limit_passage_lengths(long_target, 4);  // the target alone is longer than the cap
  EXPECT_EQ(long_target[0].context_ids.size(), 1u);
  EXPECT_EQ(long_target[0].context_ids.front(), 19);
  EXPECT_EQ(long_target[0].target_ids.size(), 10u);
}

TEST(PassageLimits, RecordedAsRunAttributes) {
  std::vector<TokenizedPassage> data = {passage(300, 1), passage(20, 1)};
  io::RunAttributes a;
  record_length_limits(limit_passage_lengths(data, 128), a);
  EXPECT_EQ(a.extra_ints.at("dataset_max_tokens"), 128);
  EXPECT_EQ(a.extra_ints.at("n_passages_cut"), 1);
}

}  // namespace
}  // namespace bloom

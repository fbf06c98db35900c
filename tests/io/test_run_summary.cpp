// Tests of io/run_summary: the statistics against published values and definitions computed here
// another way (Wilson intervals from Newcombe 1998, Table I; exact binomial tails counted as
// fractions; lm-eval's stderr as the sample standard deviation of the 0/1 verdicts), and the
// paired comparison matched by passage index. The end-to-end check against scipy on a real run is
// tests/runner/test_numbers.py.
#include "io/run_summary.h"

#include <cmath>
#include <numeric>

#include <gtest/gtest.h>

namespace bloom::io {
namespace {

PassageResult row(int64_t index, bool correct, double logprob, size_t n_target) {
  PassageResult r;
  r.index = index;
  r.correct = correct;
  r.target_logprob = logprob;
  r.target_ids.assign(n_target, 7);
  r.predicted_ids.assign(n_target, correct ? 7 : 8);
  return r;
}

TEST(RunSummary, WilsonMatchesNewcombe1998) {
  // Newcombe, "Two-sided confidence intervals for the single proportion", Stat. Med. 1998,
  // Table I, method 3 (score interval without continuity correction), to 4 decimals.
  struct Case {
    int64_t k, n;
    double low, high;
  };
  for (const Case& c : {Case{81, 263, 0.2553, 0.3662}, Case{15, 148, 0.0624, 0.1605},
                        Case{0, 20, 0.0, 0.1611}, Case{1, 29, 0.0061, 0.1718}}) {
    const Interval ci = wilson_interval(c.k, c.n);
    EXPECT_NEAR(ci.low, c.low, 5e-5) << c.k << "/" << c.n;
    EXPECT_NEAR(ci.high, c.high, 5e-5) << c.k << "/" << c.n;
  }
  EXPECT_EQ(wilson_interval(0, 20).low, 0.0);  // exactly, not -1e-17
  EXPECT_EQ(wilson_interval(20, 20).high, 1.0);
  const Interval none = wilson_interval(0, 0);
  EXPECT_EQ(none.low, 0.0);
  EXPECT_EQ(none.high, 1.0);
}

TEST(RunSummary, StderrIsTheSampleStandardDeviationOverRootN) {
  for (const auto& [k, n] : {std::pair<int64_t, int64_t>{2627, 5153}, {1, 3}, {0, 10}, {7, 7}}) {
    std::vector<double> x(static_cast<size_t>(n), 0.0);
    for (int64_t i = 0; i < k; ++i) x[static_cast<size_t>(i)] = 1.0;
    const double mean = std::accumulate(x.begin(), x.end(), 0.0) / static_cast<double>(n);
    double ss = 0.0;
    for (double v : x) ss += (v - mean) * (v - mean);
    const double want = std::sqrt(ss / static_cast<double>(n - 1)) / std::sqrt(static_cast<double>(n));
    EXPECT_NEAR(accuracy_stderr(k, n), want, 1e-15) << k << "/" << n;
  }
  EXPECT_EQ(accuracy_stderr(1, 1), 0.0);
  EXPECT_EQ(accuracy_stderr(0, 0), 0.0);
}

TEST(RunSummary, McNemarIsTheExactBinomialTail) {
  // 2 P(X <= 3), X ~ Bin(15, 1/2) = 2 (1 + 15 + 105 + 455) / 2^15 (to lgamma's rounding).
  EXPECT_NEAR(mcnemar_exact_p(3, 12), 2.0 * 576.0 / 32768.0, 1e-13);
  EXPECT_NEAR(mcnemar_exact_p(12, 3), 2.0 * 576.0 / 32768.0, 1e-13);  // symmetric
  EXPECT_NEAR(mcnemar_exact_p(0, 10), 2.0 / 1024.0, 1e-15);
  EXPECT_EQ(mcnemar_exact_p(5, 5), 1.0);  // capped at 1
  EXPECT_EQ(mcnemar_exact_p(0, 0), 1.0);  // no discordant pair: nothing to test
  // Thousands of pairs: the terms underflow one by one, the tail must not.
  const double p = mcnemar_exact_p(1200, 1300);
  EXPECT_GT(p, 0.01);
  EXPECT_LT(p, 0.1);
  EXPECT_GT(mcnemar_exact_p(2500, 2600), 0.0);
  EXPECT_LT(mcnemar_exact_p(100, 300), 1e-20);
}

TEST(RunSummary, StatisticsOfRows) {
  const std::vector<PassageResult> rows = {row(0, true, -1.0, 1), row(1, false, -3.0, 2),
                                           row(2, true, -2.0, 1), row(3, false, -100.0, 4)};
  const std::vector<uint8_t> done = {1, 1, 1, 0};  // the last row is not counted
  const RunStatistics s = run_statistics(rows, done);
  EXPECT_EQ(s.n, 3);
  EXPECT_EQ(s.n_correct, 2);
  EXPECT_EQ(s.n_target_tokens, 4);
  EXPECT_DOUBLE_EQ(s.sum_logprob, -6.0);
  EXPECT_DOUBLE_EQ(s.accuracy, 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(s.token_perplexity, std::exp(6.0 / 4.0));
  EXPECT_DOUBLE_EQ(s.passage_perplexity, std::exp(2.0));
  // logprobs -1, -3, -2: sample sd 1, stderr of the mean 1/sqrt(3).
  EXPECT_NEAR(s.passage_perplexity_stderr, std::exp(2.0) / std::sqrt(3.0), 1e-12);
  EXPECT_NEAR(s.accuracy_stderr, std::sqrt((2.0 / 3.0) * (1.0 / 3.0) / 2.0), 1e-15);
  EXPECT_EQ(s.accuracy_ci95_low, wilson_interval(2, 3).low);
  EXPECT_EQ(run_statistics(rows).n, 4);  // no done flags: every row
  const RunStatistics empty = run_statistics({}, {});
  EXPECT_EQ(empty.n, 0);
  EXPECT_EQ(empty.accuracy, 0.0);
  EXPECT_EQ(empty.token_perplexity, 0.0);
}

TEST(RunSummary, PairedComparisonMatchesByIndex) {
  // A and B in different row orders, B without passage 4 (A's row 4 has no partner).
  std::vector<PassageResult> a, b;
  const bool a_right[] = {true, true, false, false, true, true};
  const bool b_right[] = {true, false, true, false, false, true};
  for (int64_t i = 0; i < 6; ++i) a.push_back(row(i, a_right[i], -1.0, 1));
  for (int64_t i = 5; i >= 0; --i)
    if (i != 4) b.push_back(row(i, b_right[i], -1.0, 1));
  const PairedComparison p = compare_paired(a, {}, b, {});
  EXPECT_EQ(p.n_common, 5);
  EXPECT_EQ(p.n_both_correct, 2);  // 0, 5
  EXPECT_EQ(p.n_only_a, 1);        // 1
  EXPECT_EQ(p.n_only_b, 1);        // 2
  EXPECT_EQ(p.n_both_wrong, 1);    // 3
  EXPECT_DOUBLE_EQ(p.accuracy_a, 3.0 / 5.0);
  EXPECT_DOUBLE_EQ(p.accuracy_b, 3.0 / 5.0);
  EXPECT_EQ(p.difference, 0.0);
  EXPECT_EQ(p.mcnemar_p, 1.0);
  // difference +- z sqrt(b + c - (b - c)^2 / n) / n = 0 +- 1.96 sqrt(2) / 5.
  EXPECT_NEAR(p.difference_ci95_high, kZ95 * std::sqrt(2.0) / 5.0, 1e-15);
  EXPECT_NEAR(p.difference_ci95_low, -kZ95 * std::sqrt(2.0) / 5.0, 1e-15);

  // Rows not done on either side do not count.
  const PairedComparison q = compare_paired(a, {1, 0, 1, 1, 1, 1}, b, {});
  EXPECT_EQ(q.n_common, 4);
  EXPECT_EQ(q.n_only_a, 0);
  EXPECT_EQ(q.n_only_b, 1);
  EXPECT_DOUBLE_EQ(q.difference, -0.25);
  EXPECT_EQ(q.mcnemar_p, 1.0);  // 2 P(X <= 0 | n = 1) = 1
}

TEST(RunSummary, SetStatisticsFillsTheAttributes) {
  const RunStatistics s = run_statistics({row(0, true, -1.0, 1), row(1, false, -2.0, 1)});
  RunAttributes a;
  set_statistics(a, s);
  EXPECT_EQ(a.n_correct, 1);
  EXPECT_EQ(a.accuracy, 0.5);
  EXPECT_EQ(a.accuracy_stderr, s.accuracy_stderr);
  EXPECT_EQ(a.accuracy_ci95_low, s.accuracy_ci95_low);
  EXPECT_EQ(a.accuracy_ci95_high, s.accuracy_ci95_high);
  EXPECT_EQ(a.token_perplexity, s.token_perplexity);
  EXPECT_EQ(a.passage_perplexity, s.passage_perplexity);
}

}  // namespace
}  // namespace bloom::io

// The statistics of a run, computed from its predictions, and the paired comparison of two runs
// over the same passages: what the driver writes as run attributes and what `runner report`
// prints, from one implementation (io/RESULTS.md gives every formula).
//   accuracy        n_correct / n, with lm-eval's standard error sqrt(p(1-p)/(n-1)) (the sample
//                   standard deviation of the 0/1 verdicts over sqrt(n)) and the 95% Wilson score
//                   interval, which stays inside [0, 1] and is right for p near 0 or 1;
//   perplexities    token_perplexity = exp(-sum logprob / sum target tokens) and
//                   passage_perplexity = exp(-mean logprob), lm-eval's lambada `perplexity`;
//   paired          discordant passages both ways, the exact McNemar p-value (two-sided binomial
//                   test of one discordant count at 1/2) and a 95% interval for the difference.
#pragma once

#include <cstdint>
#include <vector>

#include "io/results_file.h"

namespace bloom::io {

/// The 97.5% quantile of the standard normal distribution (95% two-sided intervals).
inline constexpr double kZ95 = 1.959963984540054;

/// Statistics over the rows of a run that are done.
struct RunStatistics {
  int64_t n = 0;                ///< passages counted (rows done)
  int64_t n_correct = 0;
  int64_t n_target_tokens = 0;  ///< sum of target_len over those rows
  double sum_logprob = 0.0;     ///< sum of target_logprob
  double accuracy = 0.0;        ///< n_correct / n (0 when n = 0)
  double accuracy_stderr = 0.0; ///< sqrt(p(1-p)/(n-1)); 0 when n < 2
  double accuracy_ci95_low = 0.0, accuracy_ci95_high = 1.0;  ///< Wilson score interval
  double token_perplexity = 0.0;    ///< exp(-sum_logprob / n_target_tokens); 0 when n = 0
  double passage_perplexity = 0.0;  ///< exp(-sum_logprob / n); 0 when n = 0
  /// Delta-method standard error of passage_perplexity: passage_perplexity x the standard error
  /// of the mean log-probability (sample standard deviation / sqrt(n)); 0 when n < 2.
  double passage_perplexity_stderr = 0.0;
};

/// Over every row of `rows` whose `done` flag is set (all rows when `done` is empty).
RunStatistics run_statistics(const std::vector<PassageResult>& rows,
                             const std::vector<uint8_t>& done = {});

struct Interval {
  double low = 0.0, high = 1.0;
};
/// Wilson score interval of k successes in n trials at normal quantile z; [0, 1] when n = 0.
Interval wilson_interval(int64_t k, int64_t n, double z = kZ95);
/// sqrt(p(1-p)/(n-1)) with p = k/n: lm-eval's acc_stderr. 0 when n < 2.
double accuracy_stderr(int64_t k, int64_t n);
/// Exact two-sided McNemar p-value for b and c discordant pairs:
/// min(1, 2 P(X <= min(b, c))), X ~ Binomial(b + c, 1/2); 1 when b + c = 0.
double mcnemar_exact_p(int64_t b, int64_t c);

/// Two runs over the same passages, matched by passage index (rows done in both).
struct PairedComparison {
  int64_t n_common = 0;
  int64_t n_both_correct = 0, n_both_wrong = 0;
  int64_t n_only_a = 0;  ///< right in A, wrong in B
  int64_t n_only_b = 0;  ///< right in B, wrong in A
  double accuracy_a = 0.0, accuracy_b = 0.0;  ///< over the common passages
  double difference = 0.0;                    ///< accuracy_a - accuracy_b
  /// 95% interval of the difference: difference +- z * sqrt(b + c - (b - c)^2 / n) / n (the
  /// paired-proportions standard error), clipped to [-1, 1].
  double difference_ci95_low = 0.0, difference_ci95_high = 0.0;
  double mcnemar_p = 1.0;  ///< mcnemar_exact_p(n_only_a, n_only_b)
};

PairedComparison compare_paired(const std::vector<PassageResult>& a, const std::vector<uint8_t>& a_done,
                                const std::vector<PassageResult>& b, const std::vector<uint8_t>& b_done);

/// Copies the statistics into the run attributes they are stored as (n_correct, accuracy and its
/// stderr and interval, both perplexities).
void set_statistics(RunAttributes& attrs, const RunStatistics& stats);

}  // namespace bloom::io

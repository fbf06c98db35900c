// Run statistics and the paired comparison of two runs (see run_summary.h). Sums are in double
// over rows in dataset order, so the driver and the report, reading the same rows, print the same
// numbers to the last digit.
#include "io/run_summary.h"

#include <algorithm>
#include <cmath>
#include <map>

namespace bloom::io {

RunStatistics run_statistics(const std::vector<PassageResult>& rows, const std::vector<uint8_t>& done) {
  RunStatistics s;
  auto counted = [&](size_t i) { return done.empty() || (i < done.size() && done[i] != 0); };
  for (size_t i = 0; i < rows.size(); ++i) {
    if (!counted(i)) continue;
    ++s.n;
    s.n_correct += rows[i].correct ? 1 : 0;
    s.n_target_tokens += static_cast<int64_t>(rows[i].target_ids.size());
    s.sum_logprob += rows[i].target_logprob;
  }
  if (s.n == 0) return s;
  const double n = static_cast<double>(s.n);
  s.accuracy = static_cast<double>(s.n_correct) / n;
  s.accuracy_stderr = accuracy_stderr(s.n_correct, s.n);
  const Interval ci = wilson_interval(s.n_correct, s.n);
  s.accuracy_ci95_low = ci.low;
  s.accuracy_ci95_high = ci.high;
  const double mean = s.sum_logprob / n;
  s.token_perplexity = s.n_target_tokens > 0 ? std::exp(-s.sum_logprob / static_cast<double>(s.n_target_tokens)) : 0.0;
  s.passage_perplexity = std::exp(-mean);
  if (s.n > 1) {
    // Second pass for the variance: no cancellation when the mean is large.
    double squares = 0.0;
    for (size_t i = 0; i < rows.size(); ++i) {
      if (!counted(i)) continue;
      const double d = rows[i].target_logprob - mean;
      squares += d * d;
    }
    s.passage_perplexity_stderr = s.passage_perplexity * std::sqrt(squares / (n - 1.0)) / std::sqrt(n);
  }
  return s;
}

Interval wilson_interval(int64_t k, int64_t n, double z) {
  if (n <= 0) return {0.0, 1.0};
  const double nn = static_cast<double>(n);
  const double p = static_cast<double>(k) / nn;
  const double z2 = z * z;
  const double denominator = 1.0 + z2 / nn;
  const double centre = (p + z2 / (2.0 * nn)) / denominator;
  const double half = z / denominator * std::sqrt(p * (1.0 - p) / nn + z2 / (4.0 * nn * nn));
  // At k = 0 or k = n one end is exactly 0 or 1; rounding must not move it outside.
  return {k == 0 ? 0.0 : std::max(0.0, centre - half), k == n ? 1.0 : std::min(1.0, centre + half)};
}

double accuracy_stderr(int64_t k, int64_t n) {
  if (n < 2) return 0.0;
  const double p = static_cast<double>(k) / static_cast<double>(n);
  return std::sqrt(p * (1.0 - p) / static_cast<double>(n - 1));
}

double mcnemar_exact_p(int64_t b, int64_t c) {
  const int64_t n = b + c;
  if (n <= 0) return 1.0;
  const int64_t m = std::min(b, c);
  // log P(X = k) = log C(n, k) - n log 2; the tail summed in log space (terms underflow for
  // n in the thousands, their sum must not).
  const double log_half_n = -static_cast<double>(n) * std::log(2.0);
  const double log_n1 = std::lgamma(static_cast<double>(n) + 1.0);
  auto log_pmf = [&](int64_t k) {
    return log_n1 - std::lgamma(static_cast<double>(k) + 1.0) -
           std::lgamma(static_cast<double>(n - k) + 1.0) + log_half_n;
  };
  const double top = log_pmf(m);  // the largest term of the lower tail (m <= n / 2)
  double sum = 0.0;
  for (int64_t k = 0; k <= m; ++k) sum += std::exp(log_pmf(k) - top);
  const double tail = std::exp(top + std::log(sum));
  return std::min(1.0, 2.0 * tail);
}

PairedComparison compare_paired(const std::vector<PassageResult>& a, const std::vector<uint8_t>& a_done,
                                const std::vector<PassageResult>& b, const std::vector<uint8_t>& b_done) {
  auto done = [](const std::vector<uint8_t>& d, size_t i) { return d.empty() || (i < d.size() && d[i]); };
  std::map<int64_t, bool> b_correct;
  for (size_t i = 0; i < b.size(); ++i)
    if (done(b_done, i)) b_correct[b[i].index] = b[i].correct;
  PairedComparison p;
  for (size_t i = 0; i < a.size(); ++i) {
    if (!done(a_done, i)) continue;
    auto it = b_correct.find(a[i].index);
    if (it == b_correct.end()) continue;
    ++p.n_common;
    const bool ra = a[i].correct, rb = it->second;
    p.n_both_correct += ra && rb;
    p.n_both_wrong += !ra && !rb;
    p.n_only_a += ra && !rb;
    p.n_only_b += !ra && rb;
  }
  p.mcnemar_p = mcnemar_exact_p(p.n_only_a, p.n_only_b);
  if (p.n_common == 0) return p;
  const double n = static_cast<double>(p.n_common);
  p.accuracy_a = static_cast<double>(p.n_both_correct + p.n_only_a) / n;
  p.accuracy_b = static_cast<double>(p.n_both_correct + p.n_only_b) / n;
  const double diff_count = static_cast<double>(p.n_only_a - p.n_only_b);
  p.difference = diff_count / n;
  const double discordant = static_cast<double>(p.n_only_a + p.n_only_b);
  const double se = std::sqrt(std::max(0.0, discordant - diff_count * diff_count / n)) / n;
  p.difference_ci95_low = std::max(-1.0, p.difference - kZ95 * se);
  p.difference_ci95_high = std::min(1.0, p.difference + kZ95 * se);
  return p;
}

void set_statistics(RunAttributes& a, const RunStatistics& s) {
  a.n_correct = s.n_correct;
  a.accuracy = s.accuracy;
  a.accuracy_stderr = s.accuracy_stderr;
  a.accuracy_ci95_low = s.accuracy_ci95_low;
  a.accuracy_ci95_high = s.accuracy_ci95_high;
  a.token_perplexity = s.token_perplexity;
  a.passage_perplexity = s.passage_perplexity;
}

}  // namespace bloom::io

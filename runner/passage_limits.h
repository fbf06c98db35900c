// Long passages. BLOOM was trained on sequences of 2048 tokens (every released size); a passage
// longer than that gets scores outside what the model learnt, and costs much more than its share
// (attention grows with the square of the length: a 6,458-token passage alone takes 77 s on the
// CPU). A run warns about them; dataset.max_tokens cuts every passage to that many tokens by
// dropping the start of its context (the target and the context's end are kept, as a sliding
// window would), and the cut is recorded: the spec holds the key, the run attributes
// `dataset_max_tokens` and `n_passages_cut` say what it did, each row's context_len is the kept
// context.
#pragma once

#include <cstdint>
#include <vector>

#include "io/dataset.h"
#include "io/results_file.h"
#include "runner/evaluate.h"
#include "runner/job_spec.h"

namespace bloom {

/// The length BLOOM was trained on (its seq_length), in tokens.
inline constexpr int64_t kBloomTrainedTokens = 2048;

struct LengthReport {
  int64_t max_tokens = 0;   ///< dataset.max_tokens (0: no cut)
  int64_t n_long = 0;       ///< passages longer than kBloomTrainedTokens (before any cut)
  int64_t longest = 0;      ///< tokens of the longest passage (before any cut)
  int64_t longest_row = 0;  ///< its row
  int64_t n_cut = 0;        ///< passages whose context was cut
};

/// Cuts the contexts of passages longer than `max_tokens` (> 0) to their last tokens, keeping at
/// least one context token and the whole target; reports what it found and did.
LengthReport limit_passage_lengths(std::vector<TokenizedPassage>& data, int64_t max_tokens);

/// Rank 0's warning about passages past the trained length (uncut), and the line that says
/// what a cut did. `examples` gives each row's dataset line.
void log_length_report(const RunSpec& r, const LengthReport& report,
                       const std::vector<io::Example>& examples);

/// Writes `dataset_max_tokens` and `n_passages_cut` into a run's attributes.
void record_length_limits(const LengthReport& report, io::RunAttributes& attrs);

}  // namespace bloom

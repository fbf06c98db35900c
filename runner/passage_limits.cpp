// Long passages: the warning, the dataset.max_tokens cut and its record (see passage_limits.h).
#include "runner/passage_limits.h"

#include <algorithm>

#include <spdlog/spdlog.h>

namespace bloom {

LengthReport limit_passage_lengths(std::vector<TokenizedPassage>& data, int64_t max_tokens) {
  LengthReport rep;
  rep.max_tokens = max_tokens;
  for (size_t i = 0; i < data.size(); ++i) {
    TokenizedPassage& d = data[i];
    const int64_t n = d.n_tokens();
    if (n > kBloomTrainedTokens) ++rep.n_long;
    if (n > rep.longest) {
      rep.longest = n;
      rep.longest_row = static_cast<int64_t>(i);
    }
    if (max_tokens <= 0 || n <= max_tokens) continue;
    const int64_t keep = std::max<int64_t>(1, max_tokens - static_cast<int64_t>(d.target_ids.size()));
    if (keep >= static_cast<int64_t>(d.context_ids.size())) continue;  // the target alone is long
    d.context_ids.erase(d.context_ids.begin(), d.context_ids.end() - keep);
    ++rep.n_cut;
  }
  return rep;
}

void log_length_report(const RunSpec& r, const LengthReport& rep,
                       const std::vector<io::Example>& examples) {
  const int64_t line = rep.longest_row < static_cast<int64_t>(examples.size())
                           ? examples[static_cast<size_t>(rep.longest_row)].line
                           : 0;
  if (rep.max_tokens > 0) {
    if (rep.n_cut > 0)
      spdlog::info("run {}: dataset.max_tokens {} cut the start of the context of {} passage(s) "
                   "(the longest had {} tokens, {}:{}); recorded as n_passages_cut", r.name,
                   rep.max_tokens, rep.n_cut, rep.longest, r.dataset.path, line);
    if (rep.max_tokens <= kBloomTrainedTokens) return;
  }
  if (rep.n_long == 0) return;
  spdlog::warn("run {}: {} passage(s) are longer than the {} tokens BLOOM was trained on (the "
               "longest: {} tokens, {}:{}): their scores mean little and they are slow (attention "
               "grows with the square of the length); dataset.max_tokens: {} keeps the last {} "
               "tokens of each", r.name, rep.n_long, kBloomTrainedTokens, rep.longest,
               r.dataset.path, line, kBloomTrainedTokens, kBloomTrainedTokens);
}

void record_length_limits(const LengthReport& rep, io::RunAttributes& attrs) {
  attrs.extra_ints["dataset_max_tokens"] = rep.max_tokens;
  attrs.extra_ints["n_passages_cut"] = rep.n_cut;
}

}  // namespace bloom

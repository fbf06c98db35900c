#include "runner/batching.h"

#include <algorithm>
#include <numeric>

#include "core/check.h"

namespace bloom {

std::vector<PlannedBatch> plan_batches(const std::vector<int64_t>& lengths, int64_t max_seqs,
                                       int64_t max_tokens, int dp) {
  BLOOM_CHECK(max_seqs >= 1 && max_tokens >= 1 && dp >= 1, "plan_batches: bad limits");
  std::vector<int64_t> order(lengths.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int64_t a, int64_t b) { return lengths[a] > lengths[b]; });
  std::vector<PlannedBatch> batches;
  PlannedBatch cur;
  for (int64_t i : order) {
    const bool full = !cur.passages.empty() &&
                      (static_cast<int64_t>(cur.passages.size()) >= max_seqs ||
                       cur.n_tokens + lengths[i] > max_tokens);
    if (full) {
      batches.push_back(std::move(cur));
      cur = PlannedBatch();
    }
    cur.passages.push_back(i);
    cur.n_tokens += lengths[i];
  }
  if (!cur.passages.empty()) batches.push_back(std::move(cur));
  std::vector<int64_t> load(static_cast<size_t>(dp), 0);
  for (size_t b = 0; b < batches.size(); ++b) {
    batches[b].id = static_cast<int64_t>(b);
    const auto it = std::min_element(load.begin(), load.end());
    batches[b].dp_group = static_cast<int>(it - load.begin());
    *it += batches[b].n_tokens;
  }
  return batches;
}

}  // namespace bloom

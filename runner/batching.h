// Batching and data-parallel sharding, deterministic for a given spec:
//  1. passages sorted by length (longest first, ties by index), packed greedily into batches of
//     at most `max_seqs` sequences and `max_tokens` tokens (packed: no padding);
//  2. batches dealt to DP groups longest-processing-time first: each batch, in order, goes to
//     the group with the fewest tokens so far (ties: lowest group), balancing tokens, not
//     passages.
#pragma once

#include <cstdint>
#include <vector>

namespace bloom {

struct PlannedBatch {
  int64_t id = 0;                 // position in the run's batch list
  int dp_group = 0;               // which DP group evaluates it
  std::vector<int64_t> passages;  // dataset rows, in packing order
  int64_t n_tokens = 0;
};

/// `lengths[i]` = tokens of passage i (context + target). A passage longer than max_tokens
/// gets a batch of its own.
std::vector<PlannedBatch> plan_batches(const std::vector<int64_t>& lengths, int64_t max_seqs,
                                       int64_t max_tokens, int dp);

}  // namespace bloom

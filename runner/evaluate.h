// One run's evaluation loop on one rank: the engine side of the driver (no file I/O).
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "engine/bloom.h"
#include "io/results_file.h"
#include "runner/batching.h"

namespace bloom {

struct TokenizedPassage {
  std::vector<int32_t> context_ids, target_ids;
  int64_t n_tokens() const { return static_cast<int64_t>(context_ids.size() + target_ids.size()); }
};

/// Packs the passages of one planned batch: context + target back to back per sequence; the
/// scored rows are the positions just before each target token.
PackedBatch pack(const PlannedBatch& b, const std::vector<TokenizedPassage>& data);

/// The workspace a run's batches need: the most tokens, sequences and scored rows of any batch,
/// with lm_head logits scored in chunks of at most 256 MiB of [rows, V_local] fp32.
WorkspaceLimits workspace_limits(const std::vector<PlannedBatch>& batches,
                                 const std::vector<TokenizedPassage>& data, int64_t vocab_local);

/// The batches a start-up warm-up runs (bloom_warmup): the first batch of each size class
/// (tokens rounded up to a power of two, the classes GEMM tuning keys on), in plan order.
std::vector<size_t> warmup_batches(const std::vector<PlannedBatch>& batches);

/// The start-up warm-up on the GPU: bloom_warmup over warmup_batches(batches), so cuBLASLt's
/// algorithms are tuned before the timed evaluation. Returns the seconds it took (0 on the CPU,
/// where there is nothing to tune). Every rank of a TP group calls it with the same batches.
double warm_up(const BloomWeights& w, const std::vector<PlannedBatch>& batches,
               const std::vector<TokenizedPassage>& data, Workspace& ws, Communicator& tp,
               Context& ctx);

/// Forward + score of one packed batch -> one result per passage (index = dataset row).
std::vector<io::PassageResult> evaluate_batch(const BloomWeights& w, const PlannedBatch& plan,
                                              const PackedBatch& batch,
                                              const std::vector<TokenizedPassage>& data,
                                              Workspace& ws, Communicator& tp, Context& ctx);

}  // namespace bloom

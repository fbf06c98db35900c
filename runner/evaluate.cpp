#include "runner/evaluate.h"

#include <algorithm>
#include <chrono>

#include "core/check.h"

namespace bloom {

PackedBatch pack(const PlannedBatch& b, const std::vector<TokenizedPassage>& data) {
  PackedBatch p;
  p.cu_seqlens.push_back(0);
  for (int64_t i : b.passages) {
    const TokenizedPassage& d = data[static_cast<size_t>(i)];
    const int32_t start = static_cast<int32_t>(p.ids.size());
    p.ids.insert(p.ids.end(), d.context_ids.begin(), d.context_ids.end());
    p.ids.insert(p.ids.end(), d.target_ids.begin(), d.target_ids.end());
    const int32_t ctx_len = static_cast<int32_t>(d.context_ids.size());
    for (size_t j = 0; j < d.target_ids.size(); ++j) {
      p.rows.push_back(start + ctx_len + static_cast<int32_t>(j) - 1);  // predicts target j
      p.targets.push_back(d.target_ids[j]);
    }
    p.cu_seqlens.push_back(static_cast<int32_t>(p.ids.size()));
    p.max_seqlen = std::max<int32_t>(p.max_seqlen, static_cast<int32_t>(d.n_tokens()));
  }
  return p;
}

WorkspaceLimits workspace_limits(const std::vector<PlannedBatch>& batches,
                                 const std::vector<TokenizedPassage>& data, int64_t vocab_local) {
  WorkspaceLimits lim;
  for (const PlannedBatch& b : batches) {
    int64_t rows = 0;
    for (int64_t i : b.passages) rows += static_cast<int64_t>(data[i].target_ids.size());
    lim.max_tokens = std::max(lim.max_tokens, b.n_tokens);
    lim.max_seqs = std::max<int64_t>(lim.max_seqs, static_cast<int64_t>(b.passages.size()));
    lim.max_rows = std::max(lim.max_rows, rows);
  }
  lim.logits_rows = std::clamp<int64_t>((int64_t{256} << 20) / (4 * vocab_local), 1, lim.max_rows);
  return lim;
}

std::vector<size_t> warmup_batches(const std::vector<PlannedBatch>& batches) {
  std::vector<size_t> out;
  std::vector<int64_t> seen;
  for (size_t i = 0; i < batches.size(); ++i) {
    int64_t cls = 1;
    while (cls < batches[i].n_tokens) cls <<= 1;
    if (std::find(seen.begin(), seen.end(), cls) != seen.end()) continue;
    seen.push_back(cls);
    out.push_back(i);
  }
  return out;
}

double warm_up(const BloomWeights& w, const std::vector<PlannedBatch>& batches,
               const std::vector<TokenizedPassage>& data, Workspace& ws, Communicator& tp,
               Context& ctx) {
  if (ctx.device() != Device::CUDA || batches.empty()) return 0.0;
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<PackedBatch> packed;
  for (size_t i : warmup_batches(batches)) packed.push_back(pack(batches[i], data));
  std::vector<const PackedBatch*> ptrs;
  for (const PackedBatch& p : packed) ptrs.push_back(&p);
  bloom_warmup(w, ptrs, ws, tp, ctx);
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

std::vector<io::PassageResult> evaluate_batch(const BloomWeights& w, const PlannedBatch& plan,
                                              const PackedBatch& batch,
                                              const std::vector<TokenizedPassage>& data,
                                              Workspace& ws, Communicator& tp, Context& ctx) {
  bloom_forward(w, batch, ws, tp, ctx);
  std::vector<RowScore> scores;
  try {
    scores = bloom_score(w, batch, ws, tp, ctx);
  } catch (const Error& e) {
    // bloom_score knows sequences of the batch; the user knows passages.
    std::string passages;
    for (size_t s = 0; s < plan.passages.size() && s < 16; ++s)
      passages += fmt::format("{}{}", s ? ", " : "", plan.passages[s]);
    BLOOM_FAIL("batch {}: {} (its sequences 0, 1, ... are the passages {}{} of the dataset, "
               "counted from 0)", plan.id, e.message(), passages, plan.passages.size() > 16 ? ", ..." : "");
  }
  std::vector<io::PassageResult> out;
  size_t r = 0;
  for (int64_t i : plan.passages) {
    const TokenizedPassage& d = data[static_cast<size_t>(i)];
    io::PassageResult res;
    res.index = i;
    res.context_len = static_cast<int32_t>(d.context_ids.size());
    res.target_ids = d.target_ids;
    res.correct = true;
    for (size_t j = 0; j < d.target_ids.size(); ++j, ++r) {
      res.predicted_ids.push_back(scores[r].argmax);
      res.target_logprob += scores[r].logprob;
      res.correct = res.correct && scores[r].argmax == d.target_ids[j];
    }
    out.push_back(std::move(res));
  }
  BLOOM_CHECK(r == scores.size(), "scored {} rows but the batch has {}", scores.size(), r);
  return out;
}

}  // namespace bloom

// BLOOM forward (HF modeling_bloom.py is the reference):
//   embedding -> word_embeddings_layernorm -> L x [ ln1 -> QKV -> ALiBi causal attention ->
//   dense -> +residual -> ln2 -> h->4h -> GELU(tanh) -> 4h->h -> +residual ] -> ln_f
// Under tensor parallelism (Megatron style) QKV and h->4h are column-parallel, dense and 4h->h
// row-parallel: each is followed by one all-reduce, and their biases are added once, after it.
// Each residual add is fused with the layer norm that follows it. Under TP the batch runs as two
// micro-batches so that one half's all-reduce (on a second stream) overlaps the other's compute.
#include "engine/bloom.h"

#include <algorithm>
#include <cstdlib>
#include <cmath>
#include <limits>

#include "core/check.h"
#include "kernels/ops.h"

namespace bloom {

namespace {

// Host vector -> the first n elements of a workspace tensor.
void upload(const std::vector<int32_t>& v, const Tensor& dst_full, const Context& ctx) {
  Tensor src(const_cast<int32_t*>(v.data()), DType::I32, Device::CPU,
             {static_cast<int64_t>(v.size())});
  Tensor dst = dst_full.rows(0, static_cast<int64_t>(v.size()));
  copy_tensor(src, dst, &ctx);
}

}  // namespace

namespace {

// One micro-batch: a run of whole sequences [seq0, seq0 + B) = tokens [tok0, tok0 + T).
struct Micro {
  int64_t tok0 = 0, T = 0;
  Tensor cu;                       // [B+1] i32, rebased to start at 0
  Tensor x, h, qkv, attn, proj, ffn;  // row slices of the workspace
  StreamEvent ready, reduced;      // proj computed (compute stream) / all-reduced (comm stream)
};

// Under tensor parallelism the batch is split in two at the sequence boundary nearest its middle:
// while one half's all-reduce runs on the communication stream, the other half computes.
std::vector<int32_t> split_point(const PackedBatch& batch, int parts) {
  const int64_t B = batch.n_seqs(), T = batch.n_tokens();
  if (parts < 2 || B < 2) return {0, static_cast<int32_t>(B)};
  int32_t best = 1;
  for (int32_t b = 1; b < B; ++b)
    if (std::llabs(2 * batch.cu_seqlens[b] - T) < std::llabs(2 * batch.cu_seqlens[best] - T)) best = b;
  return {0, best, static_cast<int32_t>(B)};
}

}  // namespace

void bloom_forward(const BloomWeights& w, const PackedBatch& batch, Workspace& ws,
                   Communicator& tp, Context& ctx, const ActivationDump* dump) {
  const BloomConfig& c = w.config;
  const int64_t T = batch.n_tokens(), B = batch.n_seqs();
  BLOOM_CHECK(T > 0 && B > 0 && batch.cu_seqlens.back() == T, "bad packed batch: {} tokens, {} seqs",
              T, B);
  BLOOM_CHECK(T <= ws.limits.max_tokens && B <= ws.limits.max_seqs,
              "batch of {} tokens / {} sequences exceeds the workspace ({} / {})", T, B,
              ws.limits.max_tokens, ws.limits.max_seqs);
  for (int32_t id : batch.ids)
    BLOOM_CHECK(id >= 0 && id < c.vocab, "token id {} outside the model's vocab of {}", id, c.vocab);
  upload(batch.ids, ws.ids, ctx);
  Tensor ids = ws.ids.rows(0, T);
  Tensor x = ws.x.rows(0, T), h = ws.h.rows(0, T);  // [T, H]
  const Tensor none;
  auto emit = [&](const char* step, int layer, const Tensor& t) {
    if (dump && *dump) {
      ctx.synchronize();
      (*dump)(step, layer, t);
    }
  };

  // Micro-batches, each with its own rebased cu_seqlens and row slices of the workspace.
  const std::vector<int32_t> cuts = split_point(batch, tp.size());
  std::vector<Micro> mb(cuts.size() - 1);
  std::vector<int32_t> cu_host;
  for (size_t m = 0; m < mb.size(); ++m) {
    const int32_t b0 = cuts[m], b1 = cuts[m + 1], t0 = batch.cu_seqlens[b0];
    for (int32_t b = b0; b <= b1; ++b) cu_host.push_back(batch.cu_seqlens[b] - t0);
    Micro& u = mb[m];
    u.tok0 = t0;
    u.T = batch.cu_seqlens[b1] - t0;
    u.cu = ws.cu_seqlens.rows(static_cast<int64_t>(cu_host.size()) - (b1 - b0 + 1), b1 - b0 + 1);
    u.x = ws.x.rows(t0, u.T);          // [T_m, H]
    u.h = ws.h.rows(t0, u.T);          // [T_m, H]
    u.qkv = ws.qkv.rows(t0, u.T);      // [T_m, 3H_local]
    u.attn = ws.attn.rows(t0, u.T);    // [T_m, H_local]
    u.proj = ws.proj.rows(t0, u.T);    // [T_m, H]
    u.ffn = ws.ffn.rows(t0, u.T);      // [T_m, 4H_local]
  }
  upload(cu_host, ws.cu_seqlens, ctx);
  Context& comm_ctx = mb.size() > 1 ? ctx.side() : ctx;  // where the all-reduces run
  // Queues the all-reduce of u.proj on the communication stream once the compute stream made it.
  auto all_reduce = [&](Micro& u) {
    u.ready.record(ctx);
    u.ready.wait(comm_ctx);
    tp.all_reduce_sum(u.proj, comm_ctx);
    u.reduced.record(comm_ctx);
  };

  ops::AttentionParams ap;
  ap.n_head_local = static_cast<int>(w.plan.n_head_local);
  ap.n_head_total = static_cast<int>(c.n_head);
  ap.head_offset = static_cast<int>(w.plan.head_offset);
  ap.head_dim = static_cast<int>(c.head_dim());
  ap.max_seqlen = batch.max_seqlen;

  ops::embedding(ctx, w.word_embeddings, ids, w.plan.vocab_offset, x);   // [T, H] this slice's rows
  tp.all_reduce_sum(x, ctx);                                             // vocab-parallel lookup
  ops::layer_norm(ctx, x, w.emb_ln_gamma, w.emb_ln_beta, c.eps, x);      // word_embeddings_layernorm
  emit("embedding_ln", -1, x);
  ops::layer_norm(ctx, x, w.layers[0].ln1_gamma, w.layers[0].ln1_beta, c.eps, h);  // ln1 of layer 0

  for (int64_t l = 0; l < c.n_layer; ++l) {
    const BloomLayer& L = w.layers[static_cast<size_t>(l)];
    // Attention. h = ln1(x) [T, H]; the MLP output of layer l-1 is added on the way in.
    for (Micro& u : mb) {
      if (l > 0) {
        const BloomLayer& P = w.layers[static_cast<size_t>(l - 1)];
        u.reduced.wait(ctx);
        ops::add_bias_residual_layer_norm(ctx, u.proj, P.proj_b, u.x, L.ln1_gamma, L.ln1_beta,
                                          c.eps, u.h);                   // x += mlp + b; h = ln1(x)
      }
      if (c.residual_post_layernorm) copy_tensor(u.h, u.x, &ctx);        // residual = ln1 output
      ops::linear(ctx, u.h, L.qkv_w, L.qkv_b, ops::Activation::None, u.qkv);  // [T_m, 3H_local] column-parallel
      ops::attention_alibi(ctx, u.qkv, u.cu, ap, u.attn);                // [T_m, H_local]
      ops::linear(ctx, u.attn, L.dense_w, none, ops::Activation::None, u.proj);  // [T_m, H] partial sums
      all_reduce(u);                                                     // 1st of 2 per layer
    }
    if (l > 0) emit("block", static_cast<int>(l - 1), x);
    // MLP.
    for (Micro& u : mb) {
      u.reduced.wait(ctx);
      ops::add_bias_residual_layer_norm(ctx, u.proj, L.dense_b, u.x, L.ln2_gamma, L.ln2_beta,
                                        c.eps, u.h);                     // x += attn + b; h = ln2(x)
      if (c.residual_post_layernorm) copy_tensor(u.h, u.x, &ctx);        // residual = ln2 output
      ops::linear(ctx, u.h, L.fc_w, L.fc_b, ops::Activation::GeluTanh, u.ffn);  // [T_m, 4H_local] column-parallel
      ops::linear(ctx, u.ffn, L.proj_w, none, ops::Activation::None, u.proj);  // [T_m, H] partial sums
      all_reduce(u);                                                     // 2nd of 2 per layer
    }
  }
  for (Micro& u : mb) {  // the last MLP output, then ln_f
    u.reduced.wait(ctx);
    ops::add_bias_residual_layer_norm(ctx, u.proj, w.layers.back().proj_b, u.x, w.ln_f_gamma,
                                      w.ln_f_beta, c.eps, u.h);          // x += mlp + b; h = ln_f(x)
  }
  emit("block", static_cast<int>(c.n_layer - 1), x);
  emit("ln_f", -1, h);
}

void bloom_logits(const BloomWeights& w, const Tensor& hidden, Tensor& logits, Context& ctx) {
  ops::linear(ctx, hidden, w.lm_head, Tensor(), ops::Activation::None, logits);  // [R, V_local]
}

std::vector<RowScore> bloom_score(const BloomWeights& w, const PackedBatch& batch, Workspace& ws,
                                  Communicator& tp, Context& ctx) {
  const int64_t R = static_cast<int64_t>(batch.rows.size());
  BLOOM_CHECK(batch.targets.size() == batch.rows.size(), "{} rows but {} targets", R,
              batch.targets.size());
  BLOOM_CHECK(R <= ws.limits.max_rows, "{} scored rows exceed the workspace's {}", R,
              ws.limits.max_rows);
  std::vector<RowScore> out(static_cast<size_t>(R));
  if (R == 0) return out;
  upload(batch.rows, ws.rows, ctx);
  upload(batch.targets, ws.targets, ctx);
  Tensor sel = ws.sel.rows(0, R);
  ops::gather_rows(ctx, ws.h.rows(0, batch.n_tokens()), ws.rows.rows(0, R), sel);  // [R, H]

  // lm_head over this rank's vocab slice, a chunk of rows at a time: [chunk, V_local] f32.
  const int64_t chunk = ws.limits.logits_rows;
  for (int64_t r0 = 0; r0 < R; r0 += chunk) {
    const int64_t n = std::min(chunk, R - r0);
    Tensor logits = ws.logits.rows(0, n);
    bloom_logits(w, sel.rows(r0, n), logits, ctx);
    Tensor stats = ws.stats.rows(r0, n);
    ops::logits_stats(ctx, logits, ws.targets.rows(r0, n), w.plan.vocab_offset, stats);
  }

  // Combine the slices' statistics: [tp, R, 4] -> global log-softmax and argmax per row.
  const int P = tp.size();
  Tensor stats = ws.stats.rows(0, R);
  Tensor gathered = ws.stats_all.view({P * ws.limits.max_rows, 4}).rows(0, P * R);
  tp.all_gather(stats, gathered, ctx);
  std::vector<float> host(static_cast<size_t>(P * R * 4));
  Tensor host_t(host.data(), DType::F32, Device::CPU, {P * R, 4});
  copy_tensor(gathered, host_t, &ctx);
  for (int64_t r = 0; r < R; ++r) {
    double mx = -std::numeric_limits<double>::infinity(), target = mx;
    int32_t arg = -1;
    for (int q = 0; q < P; ++q) {
      const float* s = &host[static_cast<size_t>((q * R + r) * 4)];
      if (s[0] > mx) {  // strict: the lower vocab slice wins ties, as a global argmax would
        mx = s[0];
        arg = static_cast<int32_t>(s[2]);
      }
      if (std::isfinite(s[3])) target = s[3];
    }
    double sum = 0.0;
    for (int q = 0; q < P; ++q) {
      const float* s = &host[static_cast<size_t>((q * R + r) * 4)];
      sum += static_cast<double>(s[1]) * std::exp(static_cast<double>(s[0]) - mx);
    }
    BLOOM_CHECK(std::isfinite(target), "target token {} of row {} is outside the vocab",
                batch.targets[static_cast<size_t>(r)], r);
    out[static_cast<size_t>(r)] = {target - mx - std::log(sum), arg};
  }
  return out;
}

}  // namespace bloom

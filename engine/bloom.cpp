// BLOOM forward (HF modeling_bloom.py is the reference):
//   embedding -> word_embeddings_layernorm -> L x [ attention block, MLP block ] -> ln_f
//   attention block: ln1 -> QKV -> ALiBi causal attention -> dense -> + residual
//   MLP block:       ln2 -> h->4h -> GELU(tanh) -> 4h->h -> + residual
// Under tensor parallelism (Megatron style) QKV and h->4h are column-parallel, dense and 4h->h
// row-parallel: each is followed by one all-reduce, and their biases are added once, after it.
// The batch then runs as two micro-batches (engine/micro_batches.h) so that one half's
// all-reduce overlaps the other half's compute.
#include "engine/bloom.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/check.h"
#include "engine/micro_batches.h"
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

// What a block needs besides its weights and its micro-batch.
struct Step {
  const BloomConfig& c;
  MicroBatches& mb;
  Context& ctx;
  Workspace& ws;
  bool fp8;          // FP8 mode: the four linear layers on e4m3 operands
  bool norm_to_fp8;  // FP8 mode, and h is needed by nothing but the next linear layer: the
                     // block-opening layer norms write their rows quantized (xq / xs), not h
};

// FP8 mode: the workspace's xq / xs seen as `rows` quantized rows of K.
ops::Fp8Matrix fp8_input(const Step& s, int64_t rows, int64_t K) {
  return {Tensor(s.ws.xq.data, DType::F8E4M3, s.ws.xq.device, {rows, K}), s.ws.xs.rows(0, rows)};
}

// One of a layer's four linear layers: y = act(x @ W^T + b). In FP8 mode x is quantized per
// token first (into the workspace's xq / xs, unless `quantized` says it is there already) and
// multiplied with the e4m3 weights Wq over the row count rounded up to kGemmRows (the rows
// past T: scratch, see engine/workspace.h).
void layer_linear(const Step& s, const Tensor& x, const Tensor& W, const ops::Fp8Matrix& Wq,
                  const Tensor& b, ops::Activation act, Tensor& y, bool quantized = false) {
  if (!s.fp8) return ops::linear(s.ctx, x, W, b, act, y);
  const int64_t K = x.dim(-1), T = x.numel() / K, TR = round_up_rows(T);
  if (!quantized) {
    ops::Fp8Matrix rows = fp8_input(s, T, K);
    ops::quantize_fp8(s.ctx, x, rows);                               // [T, K] e4m3, [T] scales
  }
  Tensor y_rows = s.ws.with_rows(y, TR);
  ops::linear_fp8(s.ctx, fp8_input(s, TR, K), Wq, b, act, y_rows);   // [TR, N]
}

// Opens a block: the previous block's residual add, fused with this block's layer norm:
//   x += proj + bias (proj all-reduced; bias added once, after the reduce);  h = ln(x).
// Why fused across the block boundary: the wait for the previous block's all-reduce sits here,
// at the start of this micro-batch's next block, not at the end of the block that queued it,
// so the other micro-batch computes while the reduce runs. When `feeds_linear` (the block's
// first op is a linear layer) and s.norm_to_fp8, ln(x) goes quantized to xq / xs instead of h;
// returns whether it did.
bool open_block(const Step& s, MicroBatch& u, const Tensor& prev_bias, const Tensor& gamma,
                const Tensor& beta, bool feeds_linear) {
  s.mb.wait(u);
  if (feeds_linear && s.norm_to_fp8) {
    ops::Fp8Matrix q = fp8_input(s, u.T, u.x.dim(-1));
    ops::add_bias_residual_layer_norm_fp8(s.ctx, u.proj, prev_bias, u.x, gamma, beta, s.c.eps, q);
    return true;
  }
  ops::add_bias_residual_layer_norm(s.ctx, u.proj, prev_bias, u.x, gamma, beta, s.c.eps, u.h);
  return false;
}

// apply_residual_connection_post_layernorm (no released BLOOM sets it): the residual a block
// adds its output to is its layer norm's output, not its input.
void residual_from_norm(const Step& s, MicroBatch& u) {
  if (s.c.residual_post_layernorm) copy_tensor(u.h, u.x, &s.ctx);
}

// h = ln1(x) [T_m, H] (or its quantized rows: `quantized`) -> u.proj = attention partial sums
// [T_m, H], reduce queued.
void attention_block(const Step& s, const BloomLayer& L, const ops::AttentionParams& ap,
                     MicroBatch& u, bool quantized) {
  const Tensor none;
  residual_from_norm(s, u);
  layer_linear(s, u.h, L.qkv_w, L.qkv_q, L.qkv_b, ops::Activation::None, u.qkv, quantized);  // [T_m, 3H_local] column-parallel
  ops::attention_alibi(s.ctx, u.qkv, u.cu, ap, u.attn);                       // [T_m, H_local]
  layer_linear(s, u.attn, L.dense_w, L.dense_q, none, ops::Activation::None, u.proj);  // [T_m, H] partial sums
  s.mb.reduce_async(u);                                                        // 1st all-reduce of 2
}

// h = ln2(x) [T_m, H] (or its quantized rows: `quantized`) -> u.proj = MLP partial sums
// [T_m, H], reduce queued.
void mlp_block(const Step& s, const BloomLayer& L, MicroBatch& u, bool quantized) {
  const Tensor none;
  residual_from_norm(s, u);
  layer_linear(s, u.h, L.fc_w, L.fc_q, L.fc_b, ops::Activation::GeluTanh, u.ffn, quantized);  // [T_m, 4H_local] column-parallel
  layer_linear(s, u.ffn, L.proj_w, L.proj_q, none, ops::Activation::None, u.proj);   // [T_m, H] partial sums
  s.mb.reduce_async(u);                                                        // 2nd all-reduce of 2
}

void check_batch(const BloomConfig& c, const PackedBatch& batch, const Workspace& ws) {
  const int64_t T = batch.n_tokens(), B = batch.n_seqs();
  BLOOM_CHECK(T > 0 && B > 0 && batch.cu_seqlens.back() == T, "bad packed batch: {} tokens, {} seqs",
              T, B);
  BLOOM_CHECK(T <= ws.limits.max_tokens && B <= ws.limits.max_seqs,
              "batch of {} tokens / {} sequences exceeds the workspace ({} / {})", T, B,
              ws.limits.max_tokens, ws.limits.max_seqs);
  for (int32_t id : batch.ids)
    BLOOM_CHECK(id >= 0 && id < c.vocab, "token id {} outside the model's vocab of {}", id, c.vocab);
}

// The forward pass through the first n_layer layers (all of them but in the warm-up).
void forward_layers(const BloomWeights& w, const PackedBatch& batch, Workspace& ws,
                    Communicator& tp, Context& ctx, const ActivationDump* dump, int64_t n_layer) {
  const BloomConfig& c = w.config;
  check_batch(c, batch, ws);
  const int64_t T = batch.n_tokens();
  auto emit = [&](const char* step, int layer, const Tensor& t) {
    if (dump && *dump) {
      ctx.synchronize();
      (*dump)(step, layer, t);
    }
  };
  upload(batch.ids, ws.ids, ctx);
  Tensor ids = ws.ids.rows(0, T), x = ws.x.rows(0, T), h = ws.h.rows(0, T);  // [T], [T, H], [T, H]
  MicroBatches mb(batch, ws, tp, ctx);
  const bool fp8 = w.dtype == DType::F8E4M3;
  const Step s{c, mb, ctx, ws, fp8, fp8 && !c.residual_post_layernorm};
  ops::AttentionParams ap;
  ap.n_head_local = static_cast<int>(w.plan.n_head_local);
  ap.n_head_total = static_cast<int>(c.n_head);
  ap.head_offset = static_cast<int>(w.plan.head_offset);  // ALiBi slopes by global head
  ap.head_dim = static_cast<int>(c.head_dim());
  ap.max_seqlen = batch.max_seqlen;

  // Embedding: each rank looks up the ids of its vocab slice, the all-reduce completes the rows.
  ops::embedding(ctx, w.word_embeddings, ids, w.plan.vocab_offset, x);   // [T, H]
  tp.all_reduce_sum(x, ctx);
  ops::layer_norm(ctx, x, w.emb_ln_gamma, w.emb_ln_beta, c.eps, x);      // word_embeddings_layernorm
  emit("embedding_ln", -1, x);

  for (int64_t l = 0; l < n_layer; ++l) {
    const BloomLayer& L = w.layers[static_cast<size_t>(l)];
    for (MicroBatch& u : mb.parts()) {
      bool quantized = false;
      if (l == 0)  // nothing to add yet: h = ln1(x)
        ops::layer_norm(ctx, u.x, L.ln1_gamma, L.ln1_beta, c.eps, u.h);
      else         // x += MLP(l-1) + b; h = ln1(x)
        quantized = open_block(s, u, w.layers[static_cast<size_t>(l - 1)].proj_b, L.ln1_gamma,
                               L.ln1_beta, true);
      attention_block(s, L, ap, u, quantized);
    }
    if (l > 0) emit("block", static_cast<int>(l - 1), x);
    for (MicroBatch& u : mb.parts()) {  // x += attn + b; h = ln2(x)
      const bool quantized = open_block(s, u, L.dense_b, L.ln2_gamma, L.ln2_beta, true);
      mlp_block(s, L, u, quantized);
    }
  }
  for (MicroBatch& u : mb.parts())  // x += MLP(L-1) + b; h = ln_f(x), for scoring
    open_block(s, u, w.layers[static_cast<size_t>(n_layer - 1)].proj_b, w.ln_f_gamma, w.ln_f_beta,
               false);
  emit("block", static_cast<int>(n_layer - 1), x);
  emit("ln_f", -1, h);
}

}  // namespace

void bloom_forward(const BloomWeights& w, const PackedBatch& batch, Workspace& ws,
                   Communicator& tp, Context& ctx, const ActivationDump* dump) {
  forward_layers(w, batch, ws, tp, ctx, dump, w.config.n_layer);
}

void bloom_warmup(const BloomWeights& w, const std::vector<const PackedBatch*>& batches,
                  Workspace& ws, Communicator& tp, Context& ctx) {
  struct Tuning {  // on for the warm-up only, whatever happens
    Context& ctx;
    explicit Tuning(Context& c) : ctx(c) { ctx.set_tune_gemms(true); }
    ~Tuning() { ctx.set_tune_gemms(false); }
  } tuning(ctx);
  for (const PackedBatch* b : batches) {
    forward_layers(w, *b, ws, tp, ctx, nullptr, 1);  // every layer has the same GEMM shapes
    bloom_score(w, *b, ws, tp, ctx);
  }
  ctx.synchronize();
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
    const int32_t target_id = batch.targets[static_cast<size_t>(r)];
    BLOOM_CHECK(target_id >= 0 && target_id < w.config.vocab,
                "target token {} of row {} is outside the model's vocab of {}", target_id, r,
                w.config.vocab);
    // NaN or Inf anywhere in the weights or activations reaches these statistics: say so here,
    // where it is seen, rather than write a NaN log-probability (or a verdict taken from NaN).
    const double logprob = target - mx - std::log(sum);
    if (!std::isfinite(logprob) || !std::isfinite(mx) || arg < 0) {
      const int32_t pos = batch.rows[static_cast<size_t>(r)];
      const auto seq = std::upper_bound(batch.cu_seqlens.begin(), batch.cu_seqlens.end(), pos) -
                       batch.cu_seqlens.begin() - 1;
      BLOOM_FAIL("non-finite scores for scored row {} of the batch (sequence {}, token {}, target "
                 "token {}): max logit {}, sum of exp {}, target logit {}: the model's weights or "
                 "activations hold NaN or Inf (a damaged checkpoint, or an overflow of the compute "
                 "dtype)", r, seq, pos - batch.cu_seqlens[static_cast<size_t>(seq)], target_id, mx,
                 sum, target);
    }
    out[static_cast<size_t>(r)] = {logprob, arg};
  }
  return out;
}

}  // namespace bloom

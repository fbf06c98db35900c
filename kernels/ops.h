// Device-neutral entry points of every op. Each op is declared three times with the same
// parameter list: here (bloom::ops: kernels/dispatch.cpp checks the op's contract, then
// switches on the context's device), in kernels/cpu/<op>.cpp (bloom::ops::cpu, the fp32
// reference) and in kernels/cuda/<op>.cu (bloom::ops::cuda). Shapes: T tokens (packed, no
// padding), H hidden (local to this TP rank where marked _local), V vocab rows, R scored rows.
// Tensors live on the context's device. Dtypes: fp32 on the CPU; F32, F16 or BF16 on CUDA, one
// per call (linear may write F32 logits; logits_stats is fp32 on both); indices are I32.
// Violations throw bloom::Error naming the op and the tensor.
// All math accumulates in fp32; layer-norm statistics and softmax are fp32 on every dtype.
#pragma once

#include <cstdint>

#include "core/context.h"
#include "core/tensor.h"

namespace bloom::ops {

enum class Activation { None, GeluTanh };

/// Per-launch attention geometry. Heads of this rank are global heads
/// [head_offset, head_offset + n_head_local) of n_head_total: ALiBi slopes use the global index.
struct AttentionParams {
  int n_head_local = 0;
  int n_head_total = 0;
  int head_offset = 0;
  int head_dim = 0;
  int max_seqlen = 0;  // longest sequence in the batch (kernel launch bounds)
};

/// out[t, :] = table[ids[t] - vocab_offset, :] if the id falls in this slice of the vocab,
/// else 0 (vocab-parallel embedding: the TP all-reduce completes the row).
/// table [V_local, H], ids [T] i32, out [T, H].
void embedding(Context& ctx, const Tensor& table, const Tensor& ids, int64_t vocab_offset,
               Tensor& out);

/// y = (x - mean) / sqrt(var + eps) * gamma + beta over the last dim. x, y [T, H]; may alias.
void layer_norm(Context& ctx, const Tensor& x, const Tensor& gamma, const Tensor& beta,
                float eps, Tensor& y);

/// Residual step of a block fused with the next layer norm:
///   x += h + bias   (h is the all-reduced output of a row-parallel product; bias added once)
///   y  = layer_norm(x; gamma, beta, eps)
/// h, x, y [T, H]; bias, gamma, beta [H].
void add_bias_residual_layer_norm(Context& ctx, const Tensor& h, const Tensor& bias, Tensor& x,
                                  const Tensor& gamma, const Tensor& beta, float eps, Tensor& y);

/// y = act(x @ w^T + bias). x [T, K], w [N, K] (PyTorch's [out, in]), bias [N] or empty,
/// y [T, N]. y may be F32 while x and w are F16/BF16 (logits for scoring).
void linear(Context& ctx, const Tensor& x, const Tensor& w, const Tensor& bias, Activation act,
            Tensor& y);

/// Causal self-attention with ALiBi over packed variable-length sequences.
/// qkv [T, n_head_local * 3 * head_dim] in BLOOM's per-head interleaved layout
/// (head h: q at [h*3*d, h*3*d+d), k next, v next); cu_seqlens [B+1] i32 (sequence b spans
/// tokens [cu[b], cu[b+1])); out [T, n_head_local * head_dim], head-major.
/// score(q, k) = q.k / sqrt(d) + slope(global head) * (k - first token of the sequence);
/// softmax in fp32.
void attention_alibi(Context& ctx, const Tensor& qkv, const Tensor& cu_seqlens,
                     const AttentionParams& p, Tensor& out);

/// y[r, :] = x[rows[r], :]. x [T, H], rows [R] i32, y [R, H].
void gather_rows(Context& ctx, const Tensor& x, const Tensor& rows, Tensor& y);

/// Per-row statistics of a slice of the vocabulary, for a vocab-parallel log-softmax.
/// logits [R, V_local] f32 holding global vocab ids [vocab_offset, vocab_offset + V_local);
/// targets [R] i32 (global ids). stats [R, 4] f32:
///   0: max logit, 1: sum exp(logit - max), 2: argmax (global id; first one on ties),
///   3: logit of the target, or -inf when the target is outside this slice.
void logits_stats(Context& ctx, const Tensor& logits, const Tensor& targets,
                  int64_t vocab_offset, Tensor& stats);

/// A matrix in FP8 e4m3 with one fp32 scale per row (core/fp8.h):
///   value[r, j] = e4m3_to_float(q[r, j]) * scale[r].   q [rows, cols] F8E4M3, scale [rows] F32.
struct Fp8Matrix {
  Tensor q;
  Tensor scale;
};

/// Per-row (per-token) dynamic FP8 quantization: x [T, K] -> out.q [T, K], out.scale [T]
/// (scale = max|x[t, :]| / 448; each value rounded to nearest even, saturating).
void quantize_fp8(Context& ctx, const Tensor& x, Fp8Matrix& out);

/// add_bias_residual_layer_norm whose output is quantized instead of stored: x += h + bias,
/// then y = quantize_fp8(layer_norm(x) rounded to x's dtype), the bytes and scales the two ops
/// give one after the other, without the normalized rows in memory between them (FP8 mode: a
/// layer norm feeding a linear layer). h, x [T, H]; bias, gamma, beta [H]; y.q [T, H],
/// y.scale [T].
void add_bias_residual_layer_norm_fp8(Context& ctx, const Tensor& h, const Tensor& bias, Tensor& x,
                                      const Tensor& gamma, const Tensor& beta, float eps,
                                      Fp8Matrix& y);

/// y = act(x @ w^T + bias) on FP8 operands: x.q [T, K] (per-token scales), w.q [N, K]
/// (PyTorch's [out, in], per-output-channel scales); the products accumulate in fp32 and the
/// two scales multiply each output: y[t, n] = act(x.scale[t] w.scale[n] sum_k x.q w.q + b[n]).
/// bias [N] in y's dtype or empty; y [T, N]: F16/BF16 on CUDA, F32 on the CPU.
void linear_fp8(Context& ctx, const Fp8Matrix& x, const Fp8Matrix& w, const Tensor& bias,
                Activation act, Tensor& y);

}  // namespace bloom::ops

// CPU reference ops (bloom::ops::cpu): the same signatures as kernels/ops.h, one op per
// kernels/cpu/<op>.cpp. fp32 tensors only; they assume the arguments passed the op's contract
// in kernels/dispatch.cpp. fp32 accumulation (OpenBLAS sgemm for the products).
#pragma once

#include "kernels/ops.h"

namespace bloom::ops::cpu {

void embedding(Context& ctx, const Tensor& table, const Tensor& ids, int64_t vocab_offset,
               Tensor& out);
void layer_norm(Context& ctx, const Tensor& x, const Tensor& gamma, const Tensor& beta,
                float eps, Tensor& y);
void add_bias_residual_layer_norm(Context& ctx, const Tensor& h, const Tensor& bias, Tensor& x,
                                  const Tensor& gamma, const Tensor& beta, float eps, Tensor& y);
void linear(Context& ctx, const Tensor& x, const Tensor& w, const Tensor& bias, Activation act,
            Tensor& y);
void attention_alibi(Context& ctx, const Tensor& qkv, const Tensor& cu_seqlens,
                     const AttentionParams& p, Tensor& out);
void gather_rows(Context& ctx, const Tensor& x, const Tensor& rows, Tensor& y);
void logits_stats(Context& ctx, const Tensor& logits, const Tensor& targets,
                  int64_t vocab_offset, Tensor& stats);

/// ALiBi slope of global head `h` (0-based) of `n_head` heads, as HF computes it (fp32).
float alibi_slope(int h, int n_head);

void quantize_fp8(Context& ctx, const Tensor& x, Fp8Matrix& out);
void add_bias_residual_layer_norm_fp8(Context& ctx, const Tensor& h, const Tensor& bias, Tensor& x,
                                      const Tensor& gamma, const Tensor& beta, float eps,
                                      Fp8Matrix& y);
void linear_fp8(Context& ctx, const Fp8Matrix& x, const Fp8Matrix& w, const Tensor& bias,
                Activation act, Tensor& y);

}  // namespace bloom::ops::cpu

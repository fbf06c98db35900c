// CUDA versions of the ops (bloom::ops::cuda): the same signatures and semantics as
// kernels/ops.h, one op per kernels/cuda/<op>.cu. They assume the arguments passed the op's
// contract in kernels/dispatch.cpp (devices, dtypes, shapes, aliasing) and the limits below;
// work is queued on ctx's stream (asynchronous unless BLOOM_SYNC_CHECK is set).
// Floating tensors may be F32, F16 or BF16 (one dtype per call, except linear's F32 output);
// all arithmetic accumulates in fp32. A build without CUDA links kernels/no_cuda.cpp instead,
// whose functions say so.
#pragma once

#include <cstdint>

#include "kernels/ops.h"

namespace bloom::ops::cuda {

/// Launch limits the contract checks on CUDA: grid dims y and z (attention: heads, sequences)
/// and the head dim the attention kernels hold in registers (8 values per lane of a warp).
constexpr int64_t kMaxGridDimYZ = 65535;
constexpr int kAttentionMaxHeadDim = 256;

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

void quantize_fp8(Context& ctx, const Tensor& x, Fp8Matrix& out);
void add_bias_residual_layer_norm_fp8(Context& ctx, const Tensor& h, const Tensor& bias, Tensor& x,
                                      const Tensor& gamma, const Tensor& beta, float eps,
                                      Fp8Matrix& y);
void linear_fp8(Context& ctx, const Fp8Matrix& x, const Fp8Matrix& w, const Tensor& bias,
                Activation act, Tensor& y);

}  // namespace bloom::ops::cuda

// bloom::ops entry points: a plain switch on the device of the output tensor. A build without
// CUDA compiles the CUDA case as an error that says so.
#include <algorithm>

#include "core/check.h"
#include "core/op_profile.h"
#include "kernels/cpu/ops_cpu.h"
#include "kernels/ops.h"

#ifdef BLOOM_WITH_CUDA
#include "kernels/cuda/ops_cuda.h"
#define BLOOM_CUDA_OR_FAIL(call) return cuda::call
#else
#define BLOOM_CUDA_OR_FAIL(call) BLOOM_FAIL("op needs the CUDA backend, absent from this build")
#endif

namespace bloom::ops {

namespace {
double bytes_of(const Tensor& t) { return static_cast<double>(t.nbytes()); }

void check_device(const Context& ctx, const Tensor& t, const char* op) {
  BLOOM_CHECK(t.device == ctx.device(), "{}: tensor {} is on {} but the context is {}", op,
              t.shape_str(), device_name(t.device), device_name(ctx.device()));
}
}  // namespace

void embedding(Context& ctx, const Tensor& table, const Tensor& ids, int64_t vocab_offset,
               Tensor& out) {
  check_device(ctx, out, "embedding");
  ProfileScope prof(ctx, "embedding", 0.0, 2.0 * bytes_of(out));
  if (ctx.device() == Device::CPU) return cpu::embedding(ctx, table, ids, vocab_offset, out);
  BLOOM_CUDA_OR_FAIL(embedding(ctx, table, ids, vocab_offset, out));
}

void layer_norm(Context& ctx, const Tensor& x, const Tensor& gamma, const Tensor& beta,
                float eps, Tensor& y) {
  check_device(ctx, y, "layer_norm");
  ProfileScope prof(ctx, "layer_norm", 0.0, bytes_of(x) + bytes_of(y));
  if (ctx.device() == Device::CPU) return cpu::layer_norm(ctx, x, gamma, beta, eps, y);
  BLOOM_CUDA_OR_FAIL(layer_norm(ctx, x, gamma, beta, eps, y));
}

void add_bias_residual_layer_norm(Context& ctx, const Tensor& h, const Tensor& bias, Tensor& x,
                                  const Tensor& gamma, const Tensor& beta, float eps, Tensor& y) {
  check_device(ctx, y, "add_bias_residual_layer_norm");
  ProfileScope prof(ctx, "residual + layer_norm", 0.0, bytes_of(h) + 2.0 * bytes_of(x) + bytes_of(y));
  if (ctx.device() == Device::CPU)
    return cpu::add_bias_residual_layer_norm(ctx, h, bias, x, gamma, beta, eps, y);
  BLOOM_CUDA_OR_FAIL(add_bias_residual_layer_norm(ctx, h, bias, x, gamma, beta, eps, y));
}

void linear(Context& ctx, const Tensor& x, const Tensor& w, const Tensor& bias, Activation act,
            Tensor& y) {
  check_device(ctx, y, "linear");
  const int64_t K = w.dim(-1), N = w.dim(0), T = x.numel() / std::max<int64_t>(K, 1);
  ProfileScope prof(ctx, fmt::format("linear N={} K={}{}", N, K, act == Activation::GeluTanh ? " +gelu" : ""),
                    2.0 * T * N * K, bytes_of(x) + bytes_of(w) + bytes_of(y));
  if (ctx.device() == Device::CPU) return cpu::linear(ctx, x, w, bias, act, y);
  BLOOM_CUDA_OR_FAIL(linear(ctx, x, w, bias, act, y));
}

void attention_alibi(Context& ctx, const Tensor& qkv, const Tensor& cu_seqlens,
                     const AttentionParams& p, Tensor& out) {
  check_device(ctx, out, "attention_alibi");
  ProfileScope prof(ctx, "attention_alibi", 0.0, bytes_of(qkv) + bytes_of(out));
  if (ctx.device() == Device::CPU) return cpu::attention_alibi(ctx, qkv, cu_seqlens, p, out);
  BLOOM_CUDA_OR_FAIL(attention_alibi(ctx, qkv, cu_seqlens, p, out));
}

void gather_rows(Context& ctx, const Tensor& x, const Tensor& rows, Tensor& y) {
  check_device(ctx, y, "gather_rows");
  ProfileScope prof(ctx, "gather_rows", 0.0, 2.0 * bytes_of(y));
  if (ctx.device() == Device::CPU) return cpu::gather_rows(ctx, x, rows, y);
  BLOOM_CUDA_OR_FAIL(gather_rows(ctx, x, rows, y));
}

void logits_stats(Context& ctx, const Tensor& logits, const Tensor& targets,
                  int64_t vocab_offset, Tensor& stats) {
  check_device(ctx, stats, "logits_stats");
  ProfileScope prof(ctx, "logits_stats", 0.0, bytes_of(logits));
  if (ctx.device() == Device::CPU) return cpu::logits_stats(ctx, logits, targets, vocab_offset, stats);
  BLOOM_CUDA_OR_FAIL(logits_stats(ctx, logits, targets, vocab_offset, stats));
}

void quantize_fp8(Context& ctx, const Tensor& x, Fp8Matrix& out) {
  check_device(ctx, out.q, "quantize_fp8");
  ProfileScope prof(ctx, "quantize_fp8", 0.0, bytes_of(x) + bytes_of(out.q));
  if (ctx.device() == Device::CPU) return cpu::quantize_fp8(ctx, x, out);
  BLOOM_CUDA_OR_FAIL(quantize_fp8(ctx, x, out));
}

void linear_fp8(Context& ctx, const Fp8Matrix& x, const Fp8Matrix& w, const Tensor& bias,
                Activation act, Tensor& y) {
  check_device(ctx, y, "linear_fp8");
  const int64_t K = w.q.dim(-1), N = w.q.dim(0), T = x.q.numel() / std::max<int64_t>(K, 1);
  ProfileScope prof(ctx, fmt::format("linear_fp8 N={} K={}{}", N, K, act == Activation::GeluTanh ? " +gelu" : ""),
                    2.0 * T * N * K, bytes_of(x.q) + bytes_of(w.q) + bytes_of(y));
  if (ctx.device() == Device::CPU) return cpu::linear_fp8(ctx, x, w, bias, act, y);
  BLOOM_CUDA_OR_FAIL(linear_fp8(ctx, x, w, bias, act, y));
}

}  // namespace bloom::ops

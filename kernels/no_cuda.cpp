// The CUDA ops of a build without CUDA (BLOOM_WITH_CUDA off): the CUDA case of each switch in
// kernels/dispatch.cpp links against these, and each one says that the backend is absent.
// (No CUDA context can be made in such a build, so they are reached only by mistake.)
#include "core/check.h"
#include "kernels/cuda/ops_cuda.h"

namespace bloom::ops::cuda {

namespace {
[[noreturn]] void absent(const char* op) {
  BLOOM_FAIL("{}: this build has no CUDA backend (configure with -DBLOOM_WITH_CUDA=ON)", op);
}
}  // namespace

void embedding(Context&, const Tensor&, const Tensor&, int64_t, Tensor&) { absent("embedding"); }
void layer_norm(Context&, const Tensor&, const Tensor&, const Tensor&, float, Tensor&) {
  absent("layer_norm");
}
void add_bias_residual_layer_norm(Context&, const Tensor&, const Tensor&, Tensor&, const Tensor&,
                                  const Tensor&, float, Tensor&) {
  absent("add_bias_residual_layer_norm");
}
void linear(Context&, const Tensor&, const Tensor&, const Tensor&, Activation, Tensor&) {
  absent("linear");
}
void attention_alibi(Context&, const Tensor&, const Tensor&, const AttentionParams&, Tensor&) {
  absent("attention_alibi");
}
void gather_rows(Context&, const Tensor&, const Tensor&, Tensor&) { absent("gather_rows"); }
void logits_stats(Context&, const Tensor&, const Tensor&, int64_t, Tensor&) {
  absent("logits_stats");
}

void quantize_fp8(Context&, const Tensor&, Fp8Matrix&) { absent("quantize_fp8"); }
void add_bias_residual_layer_norm_fp8(Context&, const Tensor&, const Tensor&, Tensor&,
                                      const Tensor&, const Tensor&, float, Fp8Matrix&) {
  absent("add_bias_residual_layer_norm_fp8");
}
void linear_fp8(Context&, const Fp8Matrix&, const Fp8Matrix&, const Tensor&, Activation, Tensor&) {
  absent("linear_fp8");
}

}  // namespace bloom::ops::cuda

// Per-row statistics of one vocab slice for a vocab-parallel log-softmax.
// logits [R, V_local] fp32 (global ids vocab_offset + j), targets [R] i32, stats [R, 4]:
// max, sum exp(l - max), argmax (global id, first on ties), target logit (-inf if not here).
// Sums in double: the reference must not be the noisy side of a comparison.
#include <cmath>
#include <limits>

#include "kernels/cpu/ops_cpu.h"

namespace bloom::ops::cpu {

void logits_stats(Context&, const Tensor& logits, const Tensor& targets, int64_t vocab_offset,
                  Tensor& stats) {
  const int64_t V = logits.dim(-1), R = logits.numel() / V;
  const float* lp = logits.data_as<float>();
  const int32_t* tp = targets.data_as<int32_t>();
  float* sp = stats.data_as<float>();
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < R; ++r) {
    const float* row = lp + r * V;
    float mx = -std::numeric_limits<float>::infinity();
    int64_t arg = 0;
    for (int64_t j = 0; j < V; ++j) {
      if (row[j] > mx) {
        mx = row[j];
        arg = j;
      }
    }
    double sum = 0.0;
    for (int64_t j = 0; j < V; ++j) sum += std::exp(static_cast<double>(row[j]) - mx);
    const int64_t local_target = static_cast<int64_t>(tp[r]) - vocab_offset;
    sp[r * 4 + 0] = mx;
    sp[r * 4 + 1] = static_cast<float>(sum);
    sp[r * 4 + 2] = static_cast<float>(arg + vocab_offset);
    sp[r * 4 + 3] = (local_target >= 0 && local_target < V)
                        ? row[local_target]
                        : -std::numeric_limits<float>::infinity();
  }
}

}  // namespace bloom::ops::cpu

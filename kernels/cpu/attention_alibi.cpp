// Causal self-attention with ALiBi over packed variable-length sequences (reference).
// qkv [T, NH_local * 3 * HD]: BLOOM's fused QKV output, per head interleaved (q, k, v of head h
// at columns h*3*HD + {0, HD, 2HD}); cu_seqlens [B+1] i32; out [T, NH_local * HD] head-major.
// For query i and key j <= i of one sequence (positions counted from the sequence's first token):
//   s = q_i . k_j / sqrt(HD) + slope(global head) * j,   p = softmax_j(s),   o_i = sum_j p_j v_j
// HF adds slope * key_position (positive, from the first real token); the softmax is
// shift-invariant per query row, so this equals the textbook -slope * (i - j).
#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/cpu/ops_cpu.h"

namespace bloom::ops::cpu {

float alibi_slope(int h, int n_head) {
  // c = largest power of two <= n; base = 2^(-8/c); slopes base^1..base^c; the remaining
  // n - c heads take the odd powers of 2^(-4/c) (= the series of 2c heads, every other one).
  int c = 1;
  while (c * 2 <= n_head) c *= 2;
  if (h < c) {
    const float base = std::pow(2.0f, -std::pow(2.0f, -(std::log2(static_cast<float>(c)) - 3.0f)));
    return std::pow(base, static_cast<float>(h + 1));
  }
  const float extra_base =
      std::pow(2.0f, -std::pow(2.0f, -(std::log2(static_cast<float>(2 * c)) - 3.0f)));
  return std::pow(extra_base, static_cast<float>(2 * (h - c) + 1));
}

void attention_alibi(Context&, const Tensor& qkv, const Tensor& cu_seqlens,
                     const AttentionParams& p, Tensor& out) {
  const int NH = p.n_head_local, HD = p.head_dim;
  const int64_t B = cu_seqlens.numel() - 1;
  const int32_t* cu = cu_seqlens.data_as<int32_t>();
  const float* x = qkv.data_as<float>();
  float* o = out.data_as<float>();
  const int64_t ld_qkv = static_cast<int64_t>(NH) * 3 * HD, ld_out = static_cast<int64_t>(NH) * HD;
  const float scale = 1.0f / std::sqrt(static_cast<float>(HD));

#pragma omp parallel for collapse(2) schedule(dynamic)
  for (int64_t b = 0; b < B; ++b) {
    for (int h = 0; h < NH; ++h) {
      const int64_t s0 = cu[b], L = cu[b + 1] - cu[b];
      const float slope = alibi_slope(p.head_offset + h, p.n_head_total);
      std::vector<double> score(static_cast<size_t>(L)), acc(static_cast<size_t>(HD));
      for (int64_t i = 0; i < L; ++i) {
        const float* q = x + (s0 + i) * ld_qkv + h * 3 * HD;
        double mx = -INFINITY;
        for (int64_t j = 0; j <= i; ++j) {
          const float* k = x + (s0 + j) * ld_qkv + h * 3 * HD + HD;
          double dot = 0.0;
          for (int d = 0; d < HD; ++d) dot += static_cast<double>(q[d]) * k[d];
          score[j] = dot * scale + static_cast<double>(slope) * static_cast<double>(j);
          mx = std::max(mx, score[j]);
        }
        double sum = 0.0;
        for (int64_t j = 0; j <= i; ++j) sum += (score[j] = std::exp(score[j] - mx));
        std::fill(acc.begin(), acc.end(), 0.0);
        for (int64_t j = 0; j <= i; ++j) {  // keys outer, head dim inner: contiguous v rows
          const float* v = x + (s0 + j) * ld_qkv + h * 3 * HD + 2 * HD;
          for (int d = 0; d < HD; ++d) acc[d] += score[j] * v[d];
        }
        float* dst = o + (s0 + i) * ld_out + h * HD;
        for (int d = 0; d < HD; ++d) dst[d] = static_cast<float>(acc[d] / sum);
      }
    }
  }
}

}  // namespace bloom::ops::cpu

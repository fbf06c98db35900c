// Causal self-attention with ALiBi over packed variable-length sequences.
// qkv [T, NH_local * 3 * HD]: BLOOM's fused QKV output, per head interleaved (q, k, v of head h
// at columns h*3*HD + {0, HD, 2HD}); cu_seqlens [B+1] i32; out [T, NH_local * HD] head-major.
// For query i and key j <= i of one sequence (positions counted from the sequence's first token):
//   s = q_i . k_j / sqrt(HD) + slope(global head) * j,   p = softmax_j(s),   o_i = sum_j p_j v_j
// HF adds slope * key_position (positive, from the first real token); the softmax is
// shift-invariant per query row, so this equals the textbook -slope * (i - j).
// Blocked: for each (sequence, head, block of up to kQueryBlock queries [i0, i1)) one sgemm
// gives the scores against keys [0, i1) (S = Q K^T, read in place from qkv with its row
// stride), a vectorised loop adds the bias and takes the softmax in fp32 (keys j > i get 0),
// and a second sgemm writes O = P V straight into out, normalised afterwards. The blocks are
// shared out over the OpenMP threads; each sgemm runs single-threaded on its thread.
#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/cpu/common.h"
#include "kernels/cpu/ops_cpu.h"

namespace bloom::ops::cpu {

float alibi_slope(int h, int n_head) {
  // c = largest power of two <= n; base = 2^(-8/c); slopes base^1..base^c; the remaining
  // n - c heads take the odd powers of 2^(-4/c) (= the series of 2c heads, every other one).
  // fp32 throughout, as HF computes them.
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

namespace {

// Queries per block: the diagonal block computes scores its causal mask then zeroes (up to
// half of a block's work), against fewer and larger sgemm calls for larger blocks.
constexpr int64_t kQueryBlock = 64;

/// One row of scores s[0, n) for query position i (keys j <= i visible, n > i): adds the bias,
/// replaces s[j] by exp(s[j] - max) for j <= i and by 0 beyond; returns the sum of the exps.
BLOOM_CPU_VECTORIZED float softmax_row(float* s, int64_t i, int64_t n, float slope) {
  float mx = -INFINITY;
#pragma omp simd reduction(max : mx)
  for (int64_t j = 0; j <= i; ++j) {
    s[j] += slope * static_cast<float>(j);
    mx = std::max(mx, s[j]);
  }
  float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
  for (int64_t j = 0; j <= i; ++j) {
    s[j] = exp_approx(s[j] - mx);
    sum += s[j];
  }
  for (int64_t j = i + 1; j < n; ++j) s[j] = 0.0f;
  return sum;
}

BLOOM_CPU_VECTORIZED void scale_row(float* o, int64_t n, float f) {
  for (int64_t c = 0; c < n; ++c) o[c] *= f;
}

struct Geometry {
  const float* qkv;
  float* out;
  int64_t ld_qkv, ld_out;  // row strides: NH * 3 * HD and NH * HD
  int HD;
  float scale;  // 1 / sqrt(HD)
};

/// Queries [i0, i1) of the sequence starting at token s0, local head h with ALiBi slope `slope`.
/// scores: at least (i1 - i0) * i1 floats.
void attend_block(const Geometry& g, int64_t s0, int h, int64_t i0, int64_t i1, float slope,
                  float* scores) {
  const int64_t m = i1 - i0, n = i1;  // query rows, visible keys of the last row
  const float* q = g.qkv + (s0 + i0) * g.ld_qkv + int64_t{h} * 3 * g.HD;
  const float* k = g.qkv + s0 * g.ld_qkv + int64_t{h} * 3 * g.HD + g.HD;
  const float* v = k + g.HD;
  float* o = g.out + (s0 + i0) * g.ld_out + int64_t{h} * g.HD;
  // S [m, n] = Q [m, HD] . K [n, HD]^T / sqrt(HD)
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(m), static_cast<int>(n),
              g.HD, g.scale, q, static_cast<int>(g.ld_qkv), k, static_cast<int>(g.ld_qkv), 0.0f,
              scores, static_cast<int>(n));
  float sums[kQueryBlock];
  for (int64_t r = 0; r < m; ++r) sums[r] = softmax_row(scores + r * n, i0 + r, n, slope);
  // O [m, HD] = P [m, n] . V [n, HD], then each row divided by its sum of exps
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<int>(m), g.HD,
              static_cast<int>(n), 1.0f, scores, static_cast<int>(n), v,
              static_cast<int>(g.ld_qkv), 0.0f, o, static_cast<int>(g.ld_out));
  for (int64_t r = 0; r < m; ++r) scale_row(o + r * g.ld_out, g.HD, 1.0f / sums[r]);
}

struct Block {
  int64_t s0, i0, i1;  // sequence start token, query rows [i0, i1) inside it
  int head;
};

}  // namespace

void attention_alibi(Context&, const Tensor& qkv, const Tensor& cu_seqlens,
                     const AttentionParams& p, Tensor& out) {
  const int NH = p.n_head_local, HD = p.head_dim;
  const int64_t B = cu_seqlens.numel() - 1;
  const int32_t* cu = cu_seqlens.data_as<int32_t>();
  const Geometry g{qkv.data_as<float>(), out.data_as<float>(), int64_t{NH} * 3 * HD,
                   int64_t{NH} * HD, HD, 1.0f / std::sqrt(static_cast<float>(HD))};
  std::vector<Block> blocks;
  int64_t max_len = 0;
  for (int64_t b = 0; b < B; ++b) {
    const int64_t L = cu[b + 1] - cu[b];
    max_len = std::max(max_len, L);
    for (int h = 0; h < NH; ++h)
      for (int64_t i0 = 0; i0 < L; i0 += kQueryBlock)
        blocks.push_back({cu[b], i0, std::min(L, i0 + kQueryBlock), h});
  }
  std::vector<float> slopes(static_cast<size_t>(NH));
  for (int h = 0; h < NH; ++h) slopes[h] = alibi_slope(p.head_offset + h, p.n_head_total);
  const int64_t n_blocks = static_cast<int64_t>(blocks.size());
  BlasOnCallingThread blas;
#pragma omp parallel
  {
    std::vector<float> scores(static_cast<size_t>(kQueryBlock * max_len));
#pragma omp for schedule(dynamic)
    for (int64_t i = 0; i < n_blocks; ++i) {
      const Block& k = blocks[static_cast<size_t>(i)];
      attend_block(g, k.s0, k.head, k.i0, k.i1, slopes[k.head], scores.data());
    }
  }
}

}  // namespace bloom::ops::cpu

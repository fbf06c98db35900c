// Causal self-attention with ALiBi over packed variable-length sequences (prefill).
// qkv [T, NH_local * 3 * HD], BLOOM's per-head interleaved layout (head h: q, k, v at columns
// h*3*HD + {0, HD, 2*HD}); cu_seqlens [B+1] i32 on the device (sequence b spans tokens
// [cu[b], cu[b+1])); out [T, NH_local * HD] head-major, same dtype as qkv.
// For query i and key j <= i of one sequence (positions counted from its first token):
//   s = q_i . k_j / sqrt(HD) + slope(head_offset + h) * j,  o_i = softmax_j(s) . v
// Scores, softmax and accumulation are fp32 (kept in the log2 domain: exp2 of pre-scaled
// scores). The bias is built in fp32, not rounded to fp16 as HF does (HF's fp16 bias is coarse
// for positions > 1024; LAMBADA stays far below).
// Two kernels, both one block per (query tile, head, sequence), the grid sized by max_seqlen:
//  - flash (F16/BF16, HD % 8 == 0, HD <= 128, sm_80+): 64x64 tiles, 4 warps x 16 query rows,
//    mma.sync m16n8k16 with fp32 accumulators, online softmax, K/V tiles through cp.async
//    (K of the next tile loads while P.V runs). Probabilities are rounded to the input dtype
//    for the P.V product (as FlashAttention does; the row sum stays fp32).
//  - simple (any dtype, HD <= 256): fp32 everywhere, 16 queries per block, 32-key chunks of
//    K/V staged in shared memory, one key per lane. The reference-grade fallback.
#include <algorithm>
#include <cstdlib>

#include "kernels/cuda/common.cuh"
#include "kernels/cuda/ops_cuda.h"

namespace bloom::ops::cuda {

namespace {

constexpr float kLog2e = 1.4426950408889634f;

struct AttnArgs {
  int n_head_total;
  int head_offset;
  int head_dim;
  int64_t ld_qkv;  // NH_local * 3 * HD
  int64_t ld_out;  // NH_local * HD
  float scale_log2;  // log2(e) / sqrt(HD)
};

/// HF's ALiBi slope of global head h (0-based) among n: c = 2^floor(log2 n);
/// h < c: 2^(-8 (h+1) / c); else the odd powers of 2^(-4/c): 2^(-4 (2 (h-c) + 1) / c).
/// The exponents are exact in fp32 (c is a power of two).
__device__ float alibi_slope(int h, int n) {
  const int c = 1 << (31 - __clz(n));
  const float inv_c = 1.0f / static_cast<float>(c);
  if (h < c) return exp2f(-8.0f * static_cast<float>(h + 1) * inv_c);
  return exp2f(-4.0f * static_cast<float>(2 * (h - c) + 1) * inv_c);
}

// ---- simple kernel ----------------------------------------------------------------------

constexpr int kSimpleQ = 16;        // queries per block: 4 warps x 4 queries
constexpr int kSimpleQPerWarp = 4;
constexpr int kSimpleThreads = 128;
constexpr int kSimpleMaxDimPerLane = 8;  // HD <= 256
static_assert(kSimpleMaxDimPerLane * 32 == kAttentionMaxHeadDim, "the contract's head_dim limit");

int simple_k_pitch(int d) { return d % 2 == 0 ? d + 1 : d; }  // odd: lanes hit distinct banks

size_t simple_smem_bytes(int d) {
  return sizeof(float) * (static_cast<size_t>(kSimpleQ) * d + 32u * simple_k_pitch(d) + 32u * d);
}

template <typename T>
__global__ void __launch_bounds__(kSimpleThreads, 1)
    attention_simple_kernel(const T* __restrict__ qkv, const int32_t* __restrict__ cu,
                            T* __restrict__ out, AttnArgs a) {
  extern __shared__ float smem_f[];
  const int d = a.head_dim, kp = d % 2 == 0 ? d + 1 : d;
  float* q_s = smem_f;                // [kSimpleQ][d]
  float* k_s = q_s + kSimpleQ * d;    // [32][kp]
  float* v_s = k_s + 32 * kp;         // [32][d]

  const int b = blockIdx.z, h = blockIdx.y;
  const int q0 = (gridDim.x - 1 - blockIdx.x) * kSimpleQ;  // long tiles first
  const int seq0 = cu[b], len = cu[b + 1] - seq0;
  if (q0 >= len) return;
  const int q_end = min(len, q0 + kSimpleQ);
  const float slope_log2 = alibi_slope(a.head_offset + h, a.n_head_total) * kLog2e;
  const T* base = qkv + static_cast<int64_t>(seq0) * a.ld_qkv + static_cast<int64_t>(h) * 3 * d;

  for (int i = threadIdx.x; i < kSimpleQ * d; i += kSimpleThreads) {
    const int r = i / d, c = i % d;
    q_s[i] = q0 + r < len ? to_float(base[static_cast<int64_t>(q0 + r) * a.ld_qkv + c]) : 0.0f;
  }
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  float m[kSimpleQPerWarp], l[kSimpleQPerWarp], acc[kSimpleQPerWarp][kSimpleMaxDimPerLane];
#pragma unroll
  for (int qi = 0; qi < kSimpleQPerWarp; ++qi) {
    m[qi] = -INFINITY;
    l[qi] = 0.0f;
#pragma unroll
    for (int c = 0; c < kSimpleMaxDimPerLane; ++c) acc[qi][c] = 0.0f;
  }

  for (int k0 = 0; k0 < q_end; k0 += 32) {
    __syncthreads();  // Q stored / previous chunk consumed
    for (int i = threadIdx.x; i < 32 * d; i += kSimpleThreads) {
      const int r = i / d, c = i % d;
      const bool valid = k0 + r < q_end;
      const T* row = base + static_cast<int64_t>(k0 + r) * a.ld_qkv;
      k_s[r * kp + c] = valid ? to_float(row[d + c]) : 0.0f;
      v_s[r * d + c] = valid ? to_float(row[2 * d + c]) : 0.0f;
    }
    __syncthreads();
    const int key = k0 + lane;
#pragma unroll
    for (int qi = 0; qi < kSimpleQPerWarp; ++qi) {
      const int qr = warp * kSimpleQPerWarp + qi, q = q0 + qr;
      if (q >= len || k0 > q) continue;  // warp-uniform: no valid query, or no visible key
      float dot = 0.0f;
      for (int c = 0; c < d; ++c) dot = fmaf(q_s[qr * d + c], k_s[lane * kp + c], dot);
      const float s = key <= q ? fmaf(dot, a.scale_log2, slope_log2 * key) : -INFINITY;
      const float m_new = fmaxf(m[qi], warp_max(s));  // finite: key k0 <= q is visible
      const float alpha = exp2f(m[qi] - m_new);
      const float p = exp2f(s - m_new);
      l[qi] = l[qi] * alpha + warp_sum(p);
      m[qi] = m_new;
#pragma unroll
      for (int c = 0; c < kSimpleMaxDimPerLane; ++c) acc[qi][c] *= alpha;
      const int n_keys = min(32, q + 1 - k0);
      for (int j = 0; j < n_keys; ++j) {
        const float pj = __shfl_sync(0xffffffffu, p, j);
#pragma unroll
        for (int c = 0; c < kSimpleMaxDimPerLane; ++c) {
          const int dim = lane + 32 * c;
          if (dim < d) acc[qi][c] = fmaf(pj, v_s[j * d + dim], acc[qi][c]);
        }
      }
    }
  }
#pragma unroll
  for (int qi = 0; qi < kSimpleQPerWarp; ++qi) {
    const int q = q0 + warp * kSimpleQPerWarp + qi;
    if (q >= len) continue;
    const float inv = 1.0f / l[qi];
    T* dst = out + static_cast<int64_t>(seq0 + q) * a.ld_out + static_cast<int64_t>(h) * d;
#pragma unroll
    for (int c = 0; c < kSimpleMaxDimPerLane; ++c) {
      const int dim = lane + 32 * c;
      if (dim < d) dst[dim] = from_float<T>(acc[qi][c] * inv);
    }
  }
}

// ---- flash kernel (tensor cores) ----------------------------------------------------------

constexpr int kBr = 64;  // query rows per block (16 per warp)
constexpr int kBc = 64;  // keys per tile
constexpr int kFlashThreads = 128;

/// Shared row pitch in elements: +16 bytes makes ldmatrix's 8 row addresses hit distinct banks.
constexpr int flash_pitch(int kD) { return kD + 8; }

template <typename T>
size_t flash_smem_bytes(int kD) {
  return sizeof(T) * 3u * kBr * flash_pitch(kD);
}

__device__ __forceinline__ void cp_async16(void* smem, const void* gmem, bool valid) {
  const uint32_t s = static_cast<uint32_t>(__cvta_generic_to_shared(smem));
  const int src_bytes = valid ? 16 : 0;  // 0: zero-fill, nothing read
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(s), "l"(gmem),
               "r"(src_bytes));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
}

__device__ __forceinline__ void ldmatrix_x4(uint32_t (&r)[4], const void* smem) {
  const uint32_t s = static_cast<uint32_t>(__cvta_generic_to_shared(smem));
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(s));
}
__device__ __forceinline__ void ldmatrix_x4_trans(uint32_t (&r)[4], const void* smem) {
  const uint32_t s = static_cast<uint32_t>(__cvta_generic_to_shared(smem));
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(s));
}

/// c += a (16x16, row) . b (16x8, col), fp32 accumulate.
template <typename T>
__device__ __forceinline__ void mma16816(float (&c)[4], const uint32_t (&a)[4], uint32_t b0,
                                         uint32_t b1) {
  if constexpr (std::is_same_v<T, __half>) {
    asm("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
        "{%8,%9}, {%0,%1,%2,%3};\n"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  } else {
    asm("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
        "{%8,%9}, {%0,%1,%2,%3};\n"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  }
}

/// Two floats as one 32-bit register of T pairs (lo in the low half, as mma fragments expect).
template <typename T>
__device__ __forceinline__ uint32_t pack2(float lo, float hi) {
  if constexpr (std::is_same_v<T, __half>) {
    __half2 v = __floats2half2_rn(lo, hi);
    return *reinterpret_cast<uint32_t*>(&v);
  } else {
    __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
    return *reinterpret_cast<uint32_t*>(&v);
  }
}

/// kD: head dim padded to a multiple of 16 (columns [HD, kD) are zero in Q and K).
/// Fragment layouts (m16n8k16): g = lane / 4, t = lane % 4; accumulator c0,c1 at
/// (row g, cols 2t, 2t+1), c2,c3 at (row g+8, same cols).
template <typename T, int kD>
__global__ void __launch_bounds__(kFlashThreads)
    attention_flash_kernel(const T* __restrict__ qkv, const int32_t* __restrict__ cu,
                           T* __restrict__ out, AttnArgs a) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  constexpr int P = flash_pitch(kD);
  constexpr int kChunks = kD / 8;  // 16-byte chunks per padded row
  extern __shared__ __align__(16) unsigned char smem_raw[];
  T* q_s = reinterpret_cast<T*>(smem_raw);  // [kBr][P], later the output staging area
  T* k_s = q_s + kBr * P;                    // [kBc][P]
  T* v_s = k_s + kBc * P;                    // [kBc][P]

  const int b = blockIdx.z, h = blockIdx.y;
  const int q0 = (gridDim.x - 1 - blockIdx.x) * kBr;  // long tiles first
  const int seq0 = cu[b], len = cu[b + 1] - seq0;
  if (q0 >= len) return;
  const int d = a.head_dim, d_chunks = d / 8;
  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
  const int n_ktiles = (min(len, q0 + kBr) - 1) / kBc + 1;
  const T* base = qkv + static_cast<int64_t>(seq0) * a.ld_qkv + static_cast<int64_t>(h) * 3 * d;

  if (d_chunks < kChunks) {  // zero the padding columns of Q, K, V once; loads skip them
    const int pad = kChunks - d_chunks;
    for (int i = tid; i < 3 * kBr * pad; i += kFlashThreads)
      *reinterpret_cast<uint4*>(q_s + (i / pad) * P + (d_chunks + i % pad) * 8) =
          make_uint4(0, 0, 0, 0);
  }
  // Rows [row0, row0 + 64) of q (which = 0), k (1) or v (2); rows past the sequence are zero.
  auto load_tile = [&](T* dst, int row0, int which) {
    for (int i = tid; i < kBr * kChunks; i += kFlashThreads) {
      const int r = i / kChunks, ch = i % kChunks;
      if (ch < d_chunks) {
        const bool valid = row0 + r < len;
        const T* src =
            valid ? base + static_cast<int64_t>(row0 + r) * a.ld_qkv + which * d + ch * 8 : base;
        cp_async16(dst + r * P + ch * 8, src, valid);
      }
    }
  };
  load_tile(q_s, q0, 0);
  load_tile(k_s, 0, 1);
  cp_async_commit();
  load_tile(v_s, 0, 2);
  cp_async_commit();
  cp_async_wait<1>();  // Q and K_0 landed
  __syncthreads();

  uint32_t qf[kD / 16][4];  // this warp's 16 query rows as A fragments
  {
    const int row = warp * 16 + (lane & 7) + ((lane >> 3) & 1) * 8, col = (lane >> 4) * 8;
#pragma unroll
    for (int kk = 0; kk < kD / 16; ++kk) ldmatrix_x4(qf[kk], q_s + row * P + kk * 16 + col);
  }

  const int g = lane >> 2, t = lane & 3;
  const int row_lo = q0 + warp * 16 + g, row_hi = row_lo + 8;  // query positions of c0/c1, c2/c3
  const int warp_last_key = min(q0 + warp * 16 + 15, len - 1);
  const bool warp_active = q0 + warp * 16 < len;
  const float slope_log2 = alibi_slope(a.head_offset + h, a.n_head_total) * kLog2e;
  // ldmatrix lane offsets: K (non-trans) and V (trans) B fragments for two n-tiles at once.
  const int k_row = (lane & 7) + ((lane >> 4) << 3), k_col = ((lane >> 3) & 1) * 8;
  const int v_row = (lane & 7) + (((lane >> 3) & 1) << 3), v_col = (lane >> 4) * 8;

  float o[kD / 8][4];
#pragma unroll
  for (int nt = 0; nt < kD / 8; ++nt) o[nt][0] = o[nt][1] = o[nt][2] = o[nt][3] = 0.0f;
  float m_run[2] = {-INFINITY, -INFINITY}, l_run[2] = {0.0f, 0.0f};

  for (int j = 0; j < n_ktiles; ++j) {
    const int k0 = j * kBc;
    const bool tile_active = warp_active && k0 <= warp_last_key;  // warp-uniform
    float s[kBc / 8][4];
    if (tile_active) {
#pragma unroll
      for (int nt = 0; nt < kBc / 8; ++nt) s[nt][0] = s[nt][1] = s[nt][2] = s[nt][3] = 0.0f;
#pragma unroll
      for (int kk = 0; kk < kD / 16; ++kk) {
#pragma unroll
        for (int np = 0; np < kBc / 16; ++np) {
          if (k0 + np * 16 > warp_last_key) continue;  // causally invisible to the whole warp
          uint32_t kb[4];
          ldmatrix_x4(kb, k_s + (np * 16 + k_row) * P + kk * 16 + k_col);
          mma16816<T>(s[2 * np], qf[kk], kb[0], kb[1]);
          mma16816<T>(s[2 * np + 1], qf[kk], kb[2], kb[3]);
        }
      }
      float mx[2] = {-INFINITY, -INFINITY};
#pragma unroll
      for (int nt = 0; nt < kBc / 8; ++nt) {
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const int key = k0 + nt * 8 + 2 * t + (e & 1), row = e < 2 ? row_lo : row_hi;
          const float v = key <= row && key < len
                              ? fmaf(s[nt][e], a.scale_log2, slope_log2 * key)
                              : -INFINITY;
          s[nt][e] = v;
          mx[e >> 1] = fmaxf(mx[e >> 1], v);
        }
      }
      float m_use[2];
#pragma unroll
      for (int r = 0; r < 2; ++r) {
        mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 1));
        mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 2));
        const float m_new = fmaxf(m_run[r], mx[r]);
        m_use[r] = m_new == -INFINITY ? 0.0f : m_new;  // row fully masked so far: avoid nan
        const float alpha = exp2f(m_run[r] - m_use[r]);
        m_run[r] = m_new;
        l_run[r] *= alpha;
#pragma unroll
        for (int nt = 0; nt < kD / 8; ++nt) {
          o[nt][2 * r] *= alpha;
          o[nt][2 * r + 1] *= alpha;
        }
      }
#pragma unroll
      for (int nt = 0; nt < kBc / 8; ++nt) {
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const float p = exp2f(s[nt][e] - m_use[e >> 1]);
          s[nt][e] = p;
          l_run[e >> 1] += p;
        }
      }
    }
    __syncthreads();  // all warps are done with K_j
    if (j + 1 < n_ktiles) load_tile(k_s, k0 + kBc, 1);
    cp_async_commit();
    cp_async_wait<1>();  // V_j landed (K_{j+1} may still be in flight)
    __syncthreads();
    if (tile_active) {
#pragma unroll
      for (int ks = 0; ks < kBc / 16; ++ks) {
        if (k0 + ks * 16 > warp_last_key) continue;
        const uint32_t pa[4] = {pack2<T>(s[2 * ks][0], s[2 * ks][1]),
                                pack2<T>(s[2 * ks][2], s[2 * ks][3]),
                                pack2<T>(s[2 * ks + 1][0], s[2 * ks + 1][1]),
                                pack2<T>(s[2 * ks + 1][2], s[2 * ks + 1][3])};
#pragma unroll
        for (int np = 0; np < kD / 16; ++np) {
          uint32_t vb[4];
          ldmatrix_x4_trans(vb, v_s + (ks * 16 + v_row) * P + np * 16 + v_col);
          mma16816<T>(o[2 * np], pa, vb[0], vb[1]);
          mma16816<T>(o[2 * np + 1], pa, vb[2], vb[3]);
        }
      }
    }
    __syncthreads();  // all warps are done with V_j
    if (j + 1 < n_ktiles) load_tile(v_s, k0 + kBc, 2);
    cp_async_commit();
    cp_async_wait<1>();  // K_{j+1} landed
    __syncthreads();
  }

  // Normalize, stage this warp's 16 rows in its own rows of q_s, store 16-byte chunks.
  float inv[2];
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    l_run[r] += __shfl_xor_sync(0xffffffffu, l_run[r], 1);
    l_run[r] += __shfl_xor_sync(0xffffffffu, l_run[r], 2);
    inv[r] = l_run[r] > 0.0f ? 1.0f / l_run[r] : 0.0f;
  }
  T* stage = q_s + warp * 16 * P;
#pragma unroll
  for (int nt = 0; nt < kD / 8; ++nt) {
    *reinterpret_cast<uint32_t*>(stage + g * P + nt * 8 + 2 * t) =
        pack2<T>(o[nt][0] * inv[0], o[nt][1] * inv[0]);
    *reinterpret_cast<uint32_t*>(stage + (g + 8) * P + nt * 8 + 2 * t) =
        pack2<T>(o[nt][2] * inv[1], o[nt][3] * inv[1]);
  }
  __syncwarp();
  for (int i = lane; i < 16 * d_chunks; i += 32) {
    const int r = i / d_chunks, ch = i % d_chunks, q = q0 + warp * 16 + r;
    if (q < len)
      *reinterpret_cast<uint4*>(out + static_cast<int64_t>(seq0 + q) * a.ld_out +
                                static_cast<int64_t>(h) * d + ch * 8) =
          *reinterpret_cast<const uint4*>(stage + r * P + ch * 8);
  }
#else
  __trap();  // the host only selects this kernel on sm_80+
#endif
}

// ---- host side ----------------------------------------------------------------------------

template <typename Kernel>
void allow_smem(Kernel kernel, size_t bytes) {
  if (bytes > 48 * 1024)
    BLOOM_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                          static_cast<int>(bytes)));
}

template <typename T, int kD>
void launch_flash(Context& ctx, const Tensor& qkv, const Tensor& cu, Tensor& out, dim3 grid,
                  const AttnArgs& a) {
  const size_t smem = flash_smem_bytes<T>(kD);
  allow_smem(attention_flash_kernel<T, kD>, smem);
  attention_flash_kernel<T, kD><<<grid, kFlashThreads, smem, stream_of(ctx)>>>(
      static_cast<const T*>(qkv.data), static_cast<const int32_t*>(cu.data),
      static_cast<T*>(out.data), a);
}

template <typename T>
void launch_flash_dispatch(Context& ctx, const Tensor& qkv, const Tensor& cu, Tensor& out,
                           int max_seqlen, int n_head_local, int B, const AttnArgs& a) {
  const dim3 grid((max_seqlen + kBr - 1) / kBr, n_head_local, B);
  const int d = a.head_dim;
  if (d <= 16) launch_flash<T, 16>(ctx, qkv, cu, out, grid, a);
  else if (d <= 32) launch_flash<T, 32>(ctx, qkv, cu, out, grid, a);
  else if (d <= 64) launch_flash<T, 64>(ctx, qkv, cu, out, grid, a);
  else if (d <= 80) launch_flash<T, 80>(ctx, qkv, cu, out, grid, a);
  else if (d <= 96) launch_flash<T, 96>(ctx, qkv, cu, out, grid, a);
  else launch_flash<T, 128>(ctx, qkv, cu, out, grid, a);
}

template <typename T>
void launch_simple(Context& ctx, const Tensor& qkv, const Tensor& cu, Tensor& out,
                   int max_seqlen, int n_head_local, int B, const AttnArgs& a) {
  const dim3 grid((max_seqlen + kSimpleQ - 1) / kSimpleQ, n_head_local, B);
  const size_t smem = simple_smem_bytes(a.head_dim);
  allow_smem(attention_simple_kernel<T>, smem);
  attention_simple_kernel<T><<<grid, kSimpleThreads, smem, stream_of(ctx)>>>(
      static_cast<const T*>(qkv.data), static_cast<const int32_t*>(cu.data),
      static_cast<T*>(out.data), a);
}

bool flash_supported(const Context& ctx, const Tensor& qkv, const Tensor& out, int d) {
  if (qkv.dtype == DType::F32 || d % 8 != 0 || d > 128) return false;
  if (!is_aligned(qkv.data, 16) || !is_aligned(out.data, 16)) return false;
  const char* force = std::getenv("BLOOM_ATTENTION_SIMPLE");  // debugging: reference kernel
  if (force != nullptr && force[0] == '1') return false;
  int major = 0;
  BLOOM_CUDA_CHECK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor,
                                          ctx.cuda_device()));
  return major >= 8;
}

}  // namespace

void attention_alibi(Context& ctx, const Tensor& qkv, const Tensor& cu_seqlens,
                     const AttentionParams& p, Tensor& out) {
  const char* op = "attention_alibi";
  const int NH = p.n_head_local, HD = p.head_dim;
  const int64_t T = qkv.dim(0), B = cu_seqlens.numel() - 1;
  if (T == 0 || B == 0 || p.max_seqlen == 0) return;

  AttnArgs a{p.n_head_total, p.head_offset, HD, static_cast<int64_t>(NH) * 3 * HD,
             static_cast<int64_t>(NH) * HD, kLog2e / std::sqrt(static_cast<float>(HD))};
  const bool flash = flash_supported(ctx, qkv, out, HD);
  dispatch_float(qkv.dtype, op, [&](auto tag) {
    using T_ = decltype(tag);
    if constexpr (!std::is_same_v<T_, float>) {
      if (flash) {
        launch_flash_dispatch<T_>(ctx, qkv, cu_seqlens, out, p.max_seqlen, NH,
                                  static_cast<int>(B), a);
        return;
      }
    }
    launch_simple<T_>(ctx, qkv, cu_seqlens, out, p.max_seqlen, NH, static_cast<int>(B), a);
  });
  check_launch(ctx, op);
}

}  // namespace bloom::ops::cuda

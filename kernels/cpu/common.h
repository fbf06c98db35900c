// Shared helpers of the CPU ops (included by kernels/cpu/*.cpp only): how hot loops get wide
// vectors, a vectorisable exp, the tanh-form GELU, splitting work over the OpenMP threads, and
// keeping OpenBLAS's own threads out of the way while those threads call sgemm.
//
// Vectors: the loops are plain float loops that the compiler vectorises. BLOOM_CPU_VECTORIZED
// compiles a function three times (baseline x86-64, AVX2 + FMA, AVX-512) and picks one when the
// program loads, by the CPU it runs on (GCC's target_clones): one binary runs anywhere and uses
// the widest vectors there. Reductions are vectorised with `#pragma omp simd reduction`, which
// allows the reordered (lane-wise) sums that strict IEEE order would forbid; sums stay fp32.
#pragma once

#include <cblas.h>

#include <cstdint>
#include <cstring>

#ifdef _OPENMP
#include <omp.h>
#endif

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define BLOOM_CPU_VECTORIZED \
  __attribute__((target_clones("default", "arch=x86-64-v3", "arch=x86-64-v4")))
#else
#define BLOOM_CPU_VECTORIZED
#endif

namespace bloom::ops::cpu {

/// e^x in fp32, within ~2 ulp on [-87, 88] (clamped outside: e^-87 ~ 1.6e-38 stands in for
/// smaller values, e^88 for larger), written so that a loop of it vectorises: x = n ln2 + r with
/// |r| <= ln2 / 2 (n rounded with the 1.5 * 2^23 trick, ln2 split in two for an exact r),
/// e^r by Cephes' degree-6 polynomial, 2^n by building the float's exponent bits.
inline float exp_approx(float x) {
  x = x < 88.0f ? x : 88.0f;
  x = x > -87.0f ? x : -87.0f;
  const float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
  const float r = (x - n * 0.693359375f) + n * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  const float er = p * r * r + r + 1.0f;
  const int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
  float two_n;
  std::memcpy(&two_n, &bits, sizeof(two_n));
  return er * two_n;
}

/// BLOOM's GELU, tanh form: 0.5 v (1 + tanh(u)), u = sqrt(2/pi) (v + 0.044715 v^3), computed as
/// v / (1 + e^(-2u)) (the same function: 0.5 (1 + tanh u) = 1 / (1 + e^(-2u))), which needs one
/// exp and no tanh, and keeps its relative accuracy in the negative tail where 1 + tanh(u)
/// cancels.
inline float gelu_tanh(float v) {
  const float u = 0.7978845608028654f * (v + 0.044715f * v * v * v);
  return v / (1.0f + exp_approx(-2.0f * u));
}

/// [lo, hi): part `part` of `parts` of n items, in order, sizes differing by at most one.
inline void split_range(int64_t n, int part, int parts, int64_t& lo, int64_t& hi) {
  lo = n * part / parts;
  hi = n * (part + 1) / parts;
}

inline int thread_id() {
#ifdef _OPENMP
  return omp_get_thread_num();
#else
  return 0;
#endif
}

inline int n_threads() {
#ifdef _OPENMP
  return omp_get_num_threads();
#else
  return 1;
#endif
}

/// While alive: OpenBLAS (pthreads build) runs each sgemm on the calling thread, because our
/// OpenMP threads each call sgemm on their own block. Otherwise two thread pools, OpenMP's and
/// OpenBLAS's, spin and yield on the same cores (a third of the CPU time went to the kernel).
/// The OpenMP build of OpenBLAS already runs single-threaded inside a parallel region; a
/// sequential build has nothing to switch off. The previous count is restored afterwards.
class BlasOnCallingThread {
 public:
  BlasOnCallingThread() {
    if (openblas_get_parallel() == OPENBLAS_THREAD) {
      saved_ = openblas_get_num_threads();
      openblas_set_num_threads(1);
    }
  }
  ~BlasOnCallingThread() {
    if (saved_ > 0) openblas_set_num_threads(saved_);
  }
  BlasOnCallingThread(const BlasOnCallingThread&) = delete;
  BlasOnCallingThread& operator=(const BlasOnCallingThread&) = delete;

 private:
  int saved_ = 0;
};

}  // namespace bloom::ops::cpu

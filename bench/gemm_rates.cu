// GEMM ceilings on this GPU, for the floors in bench/RESULTS.md: cuBLASLt rates (TFLOP/s) at
// 8192^3 and at BLOOM's own linear shapes (bloom-7b1: H 4096; T tokens per batch), in fp16, bf16
// and FP8 e4m3 (per-tensor scalar scales and per-row x per-column "outer vector" scales), for the
// heuristic's first algorithm and for the best of its top candidates timed here; and the
// device-to-device copy bandwidth (bytes read + written) that bounds the memory-bound ops.
//   build/bench/gemm_rates [T ...]      (default T = 32768 and 1408, the seed's 16 passages)
// Layout as kernels/cuda/linear.cu: y^T [N, T] = W [K, N]^T . x^T [K, T] (A = W transposed,
// B = x), fp32 accumulate. Inputs are random (never zeros: they run faster than real data).
#include <cublasLt.h>
#include <cuda_fp16.h>
#include <cuda_fp8.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#define CK(x)                                                                            \
  do {                                                                                   \
    cudaError_t e_ = (x);                                                                \
    if (e_ != cudaSuccess) {                                                             \
      std::fprintf(stderr, "%s:%d %s: %s\n", __FILE__, __LINE__, #x, cudaGetErrorString(e_)); \
      std::exit(1);                                                                      \
    }                                                                                    \
  } while (0)
#define CKB(x)                                                                             \
  do {                                                                                     \
    cublasStatus_t s_ = (x);                                                               \
    if (s_ != CUBLAS_STATUS_SUCCESS) {                                                     \
      std::fprintf(stderr, "%s:%d %s: %s\n", __FILE__, __LINE__, #x, cublasGetStatusString(s_)); \
      std::exit(1);                                                                        \
    }                                                                                      \
  } while (0)

namespace {

__global__ void fill_random(uint8_t* p, size_t n, uint32_t seed, int elem) {
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < n / elem;
       i += size_t(gridDim.x) * blockDim.x) {
    uint32_t h = uint32_t(i) * 2654435761u ^ seed;
    h ^= h >> 15; h *= 2246822519u; h ^= h >> 13;
    const float v = (float(h & 0xffff) / 65535.0f - 0.5f) * 2.0f;  // [-1, 1]
    if (elem == 2) reinterpret_cast<__half*>(p)[i] = __float2half(v);
    else if (elem == 1) reinterpret_cast<__nv_fp8_e4m3*>(p)[i] = __nv_fp8_e4m3(v * 8.0f);
    else reinterpret_cast<float*>(p)[i] = 0.5f + 0.5f * (v + 1.0f);  // scales in [0.5, 1.5]
  }
}

void* random_buffer(size_t bytes, int elem, uint32_t seed) {
  void* p = nullptr;
  CK(cudaMalloc(&p, bytes));
  fill_random<<<1024, 256>>>(static_cast<uint8_t*>(p), bytes, seed, elem);
  CK(cudaGetLastError());
  return p;
}

enum class Kind { F16, BF16, FP8_SCALAR, FP8_OUTER };
const char* kind_name(Kind k) {
  switch (k) {
    case Kind::F16: return "fp16";
    case Kind::BF16: return "bf16";
    case Kind::FP8_SCALAR: return "fp8 (scalar scales)";
    case Kind::FP8_OUTER: return "fp8 (row x col scales)";
  }
  return "?";
}

struct Result {
  bool ok = false;
  double first = 0, best = 0;  // TFLOP/s
  double sustained = 0;        // the best candidate run back to back for `sustain` seconds
  int candidates = 0, best_index = -1;
};

Result time_gemm(cublasLtHandle_t lt, Kind kind, int64_t M /*N out*/, int64_t Nt /*T*/, int64_t K,
                 cublasLtEpilogue_t epi, void* ws, size_t ws_bytes, double sustain = 0.0) {
  Result r;
  const bool fp8 = kind == Kind::FP8_SCALAR || kind == Kind::FP8_OUTER;
  const cudaDataType_t ab = fp8 ? CUDA_R_8F_E4M3 : kind == Kind::BF16 ? CUDA_R_16BF : CUDA_R_16F;
  const cudaDataType_t dt = kind == Kind::BF16 ? CUDA_R_16BF : CUDA_R_16F;
  const int elem = fp8 ? 1 : 2;
  // Two input sets, used in turn, so repeated products do not run from L2.
  void* a[2] = {random_buffer(M * K * elem, fp8 ? 1 : 2, 1), random_buffer(M * K * elem, fp8 ? 1 : 2, 2)};
  void* b[2] = {random_buffer(Nt * K * elem, fp8 ? 1 : 2, 3), random_buffer(Nt * K * elem, fp8 ? 1 : 2, 4)};
  void* d = nullptr;
  CK(cudaMalloc(&d, M * Nt * 2));
  void* bias = random_buffer(M * 2, 2, 5);
  void* sa = random_buffer(std::max<int64_t>(M, 1) * 4, 4, 6);
  void* sb = random_buffer(std::max<int64_t>(Nt, 1) * 4, 4, 7);

  cublasLtMatmulDesc_t desc;
  CKB(cublasLtMatmulDescCreate(&desc, CUBLAS_COMPUTE_32F, CUDA_R_32F));
  const int32_t ta = CUBLAS_OP_T, tb = CUBLAS_OP_N;
  CKB(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof(ta)));
  CKB(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof(tb)));
  CKB(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof(epi)));
  if (epi == CUBLASLT_EPILOGUE_BIAS || epi == CUBLASLT_EPILOGUE_GELU_BIAS) {
    const int32_t bt = dt;
    CKB(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, &bt, sizeof(bt)));
    CKB(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof(bias)));
  }
  if (fp8) {
    CKB(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_A_SCALE_POINTER, &sa, sizeof(sa)));
    CKB(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_B_SCALE_POINTER, &sb, sizeof(sb)));
    if (kind == Kind::FP8_OUTER) {
      const int32_t mode = CUBLASLT_MATMUL_MATRIX_SCALE_OUTER_VEC_32F;
      CKB(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_A_SCALE_MODE, &mode, sizeof(mode)));
      CKB(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_B_SCALE_MODE, &mode, sizeof(mode)));
    }
  }
  cublasLtMatrixLayout_t la, lb, ld;
  CKB(cublasLtMatrixLayoutCreate(&la, ab, K, M, K));
  CKB(cublasLtMatrixLayoutCreate(&lb, ab, K, Nt, K));
  CKB(cublasLtMatrixLayoutCreate(&ld, dt, M, Nt, M));
  cublasLtMatmulPreference_t pref;
  CKB(cublasLtMatmulPreferenceCreate(&pref));
  const uint64_t wsb = ws_bytes;
  CKB(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &wsb, sizeof(wsb)));
  cublasLtMatmulHeuristicResult_t res[16];
  int n = 0;
  cublasStatus_t st = cublasLtMatmulAlgoGetHeuristic(lt, desc, la, lb, ld, ld, pref, 16, res, &n);
  if (st == CUBLAS_STATUS_SUCCESS && n > 0) {
    r.ok = true;
    r.candidates = n;
    cudaEvent_t e0, e1;
    CK(cudaEventCreate(&e0));
    CK(cudaEventCreate(&e1));
    const float alpha = 1.0f, beta = 0.0f;
    const double flop = 2.0 * M * Nt * K;
    for (int i = 0; i < n; ++i) {
      if (res[i].state != CUBLAS_STATUS_SUCCESS) continue;
      auto run = [&](int j) {
        return cublasLtMatmul(lt, desc, &alpha, a[j & 1], la, b[j & 1], lb, &beta, d, ld, d, ld,
                              &res[i].algo, ws, ws_bytes, 0);
      };
      if (run(0) != CUBLAS_STATUS_SUCCESS) continue;
      for (int j = 1; j < 3; ++j) run(j);
      const int reps = 10;
      std::vector<float> ms;
      for (int j = 0; j < reps; ++j) {
        CK(cudaEventRecord(e0));
        CKB(run(j));
        CK(cudaEventRecord(e1));
        CK(cudaEventSynchronize(e1));
        float t = 0;
        CK(cudaEventElapsedTime(&t, e0, e1));
        ms.push_back(t);
      }
      std::sort(ms.begin(), ms.end());
      const double rate = flop / (ms[reps / 2] * 1e-3) / 1e12;
      if (i == 0) r.first = rate;
      if (rate > r.best) r.best = rate, r.best_index = i;
    }
    if (sustain > 0.0 && r.best_index >= 0) {  // the chip's clocks under a long GEMM load
      const int i = r.best_index;
      int reps = 0;
      float total_ms = 0.0f;
      CK(cudaEventRecord(e0));
      while (total_ms < sustain * 1e3) {
        for (int j = 0; j < 20; ++j, ++reps)
          CKB(cublasLtMatmul(lt, desc, &alpha, a[reps & 1], la, b[reps & 1], lb, &beta, d, ld, d,
                             ld, &res[i].algo, ws, ws_bytes, 0));
        CK(cudaEventRecord(e1));
        CK(cudaEventSynchronize(e1));
        CK(cudaEventElapsedTime(&total_ms, e0, e1));
      }
      r.sustained = flop * reps / (total_ms * 1e-3) / 1e12;
    }
    CK(cudaEventDestroy(e0));
    CK(cudaEventDestroy(e1));
  }
  cublasLtMatmulPreferenceDestroy(pref);
  cublasLtMatrixLayoutDestroy(la);
  cublasLtMatrixLayoutDestroy(lb);
  cublasLtMatrixLayoutDestroy(ld);
  cublasLtMatmulDescDestroy(desc);
  for (void* p : {a[0], a[1], b[0], b[1], d, bias, sa, sb}) cudaFree(p);
  return r;
}

double copy_bandwidth() {
  const size_t bytes = size_t(2) << 30;
  void *src = random_buffer(bytes, 2, 9), *dst = nullptr;
  CK(cudaMalloc(&dst, bytes));
  cudaEvent_t e0, e1;
  CK(cudaEventCreate(&e0));
  CK(cudaEventCreate(&e1));
  CK(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToDevice));
  std::vector<float> ms;
  for (int i = 0; i < 10; ++i) {
    CK(cudaEventRecord(e0));
    CK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice));
    CK(cudaEventRecord(e1));
    CK(cudaEventSynchronize(e1));
    float t = 0;
    CK(cudaEventElapsedTime(&t, e0, e1));
    ms.push_back(t);
  }
  std::sort(ms.begin(), ms.end());
  cudaFree(src);
  cudaFree(dst);
  return 2.0 * bytes / (ms[5] * 1e-3) / 1e12;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<int64_t> tokens;
  for (int i = 1; i < argc; ++i) tokens.push_back(std::atoll(argv[i]));
  if (tokens.empty()) tokens = {32768, 1408};
  cudaDeviceProp prop{};
  CK(cudaGetDeviceProperties(&prop, 0));
  std::printf("device: %s, %d SMs, cuBLASLt %zu\n", prop.name, prop.multiProcessorCount,
              cublasLtGetVersion());
  cublasLtHandle_t lt;
  CKB(cublasLtCreate(&lt));
  const size_t ws_bytes = size_t(32) << 20;  // as the runner's context
  void* ws = nullptr;
  CK(cudaMalloc(&ws, ws_bytes));
  std::printf("copy bandwidth (read + write): %.2f TB/s\n", copy_bandwidth());

  struct Shape {
    const char* name;
    int64_t n_out, k;
    cublasLtEpilogue_t epi;
  };
  const int64_t H = 4096;
  const Shape shapes[] = {{"qkv", 3 * H, H, CUBLASLT_EPILOGUE_BIAS},
                          {"dense", H, H, CUBLASLT_EPILOGUE_DEFAULT},
                          {"h_to_4h", 4 * H, H, CUBLASLT_EPILOGUE_GELU_BIAS},
                          {"4h_to_h", H, 4 * H, CUBLASLT_EPILOGUE_DEFAULT}};
  std::printf("%-24s %-8s %7s %7s %7s  %s\n", "dtype", "gemm", "T", "first", "best", "(TFLOP/s; best of N candidates)");
  for (Kind kind : {Kind::F16, Kind::BF16, Kind::FP8_SCALAR, Kind::FP8_OUTER}) {
    Result r = time_gemm(lt, kind, 8192, 8192, 8192, CUBLASLT_EPILOGUE_DEFAULT, ws, ws_bytes,
                         kind == Kind::F16 ? 3.0 : 0.0);
    if (!r.ok) {
      std::printf("%-24s %-8s %7d   not supported\n", kind_name(kind), "8192^3", 8192);
      continue;
    }
    std::printf("%-24s %-8s %7d %7.0f %7.0f  #%d of %d\n", kind_name(kind), "8192^3", 8192, r.first,
                r.best, r.best_index, r.candidates);
    if (r.sustained > 0.0)
      std::printf("%-24s %-8s %7d %7.0f %7.0f  (best candidate, back to back for 3 s)\n",
                  kind_name(kind), "sustain", 8192, r.sustained, r.sustained);
    for (int64_t T : tokens) {
      double flop_total = 0, t_first = 0, t_best = 0;
      for (const Shape& s : shapes) {
        Result q = time_gemm(lt, kind, s.n_out, T, s.k, s.epi, ws, ws_bytes);
        if (!q.ok) {
          std::printf("%-24s %-8s %7ld   not supported\n", kind_name(kind), s.name, long(T));
          continue;
        }
        const double flop = 2.0 * s.n_out * T * s.k;
        flop_total += flop;
        t_first += flop / (q.first * 1e12);
        t_best += flop / (q.best * 1e12);
        std::printf("%-24s %-8s %7ld %7.0f %7.0f  #%d of %d\n", kind_name(kind), s.name, long(T),
                    q.first, q.best, q.best_index, q.candidates);
      }
      if (t_first > 0)
        std::printf("%-24s %-8s %7ld %7.0f %7.0f  (one layer's four GEMMs)\n", kind_name(kind),
                    "layer", long(T), flop_total / t_first / 1e12, flop_total / t_best / 1e12);
    }
  }
  cudaFree(ws);
  cublasLtDestroy(lt);
  return 0;
}

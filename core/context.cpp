// Context: CPU needs nothing; CUDA gets a non-blocking stream, a cuBLAS and a cuBLASLt handle
// bound to it, and a 32 MiB GEMM workspace. BLOOM_SYNC_CHECK=1 in the environment turns on a
// synchronize-and-check after every kernel (errors then name the op that failed).
#include "core/context.h"

#include <cstdlib>
#include <cstring>

#include <spdlog/spdlog.h>

#include "core/check.h"

#ifdef BLOOM_WITH_CUDA
#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_runtime.h>
#endif

namespace bloom {

namespace {
bool env_sync_check() {
  const char* v = std::getenv("BLOOM_SYNC_CHECK");
#ifdef BLOOM_SYNC_CHECK_DEFAULT
  if (!v) return true;
#endif
  return v && std::strcmp(v, "0") != 0 && *v != '\0';
}
}  // namespace

Context::Context(Device device, int cuda_device) : device_(device), cuda_device_(cuda_device) {
  sync_check_ = env_sync_check();
  if (device == Device::CPU) return;
#ifdef BLOOM_WITH_CUDA
  int n = 0;
  const cudaError_t e = cudaGetDeviceCount(&n);
  BLOOM_CHECK(e == cudaSuccess, "backend cuda: no usable CUDA device ({}: {})", cudaGetErrorName(e),
              cudaGetErrorString(e));
  BLOOM_CHECK(cuda_device >= 0 && cuda_device < n,
              "CUDA device {} requested but this node has {} device(s)", cuda_device, n);
  BLOOM_CUDA_CHECK(cudaSetDevice(cuda_device));
  cudaStream_t s = nullptr;
  BLOOM_CUDA_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  stream_ = s;
  cublasHandle_t h = nullptr;
  BLOOM_CUBLAS_CHECK(cublasCreate(&h));
  BLOOM_CUBLAS_CHECK(cublasSetStream(h, s));
  cublas_ = h;
  cublasLtHandle_t lt = nullptr;
  BLOOM_CUBLAS_CHECK(cublasLtCreate(&lt));
  cublaslt_ = lt;
  gemm_ws_size_ = 32u << 20;
  BLOOM_CUDA_CHECK(cudaMalloc(&gemm_ws_, gemm_ws_size_));
  BLOOM_CUBLAS_CHECK(cublasSetWorkspace(h, gemm_ws_, gemm_ws_size_));
#else
  BLOOM_FAIL("backend cuda requested but this build has no CUDA support "
             "(reconfigure with -DBLOOM_WITH_CUDA=ON where the CUDA toolkit is installed)");
#endif
}

Context::Context(StreamOnly, int cuda_device) : device_(Device::CUDA), cuda_device_(cuda_device) {
  sync_check_ = env_sync_check();
#ifdef BLOOM_WITH_CUDA
  // Highest priority: a collective's blocks are scheduled as soon as SMs free up, instead of
  // queueing behind the next GEMM's blocks (which would serialize what should overlap).
  int least = 0, greatest = 0;
  BLOOM_CUDA_CHECK(cudaDeviceGetStreamPriorityRange(&least, &greatest));
  cudaStream_t s = nullptr;
  BLOOM_CUDA_CHECK(cudaStreamCreateWithPriority(&s, cudaStreamNonBlocking, greatest));
  stream_ = s;
#endif
}

Context& Context::side() {
  if (device_ == Device::CPU) return *this;
  if (!side_) side_.reset(new Context(StreamOnly{}, cuda_device_));
  return *side_;
}

StreamEvent::~StreamEvent() {
#ifdef BLOOM_WITH_CUDA
  if (event_) cudaEventDestroy(static_cast<cudaEvent_t>(event_));
#endif
}

void StreamEvent::record(const Context& ctx) {
  if (ctx.device() != Device::CUDA) return;
#ifdef BLOOM_WITH_CUDA
  if (!event_) {
    cudaEvent_t e = nullptr;
    BLOOM_CUDA_CHECK(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
    event_ = e;
  }
  BLOOM_CUDA_CHECK(cudaEventRecord(static_cast<cudaEvent_t>(event_),
                                   static_cast<cudaStream_t>(ctx.stream())));
#endif
}

void StreamEvent::wait(const Context& ctx) const {
  if (ctx.device() != Device::CUDA || !event_) return;
#ifdef BLOOM_WITH_CUDA
  BLOOM_CUDA_CHECK(cudaStreamWaitEvent(static_cast<cudaStream_t>(ctx.stream()),
                                       static_cast<cudaEvent_t>(event_), 0));
#endif
}

Context::~Context() {
#ifdef BLOOM_WITH_CUDA
  if (device_ == Device::CUDA) {
    side_.reset();
    if (stream_) cudaStreamSynchronize(static_cast<cudaStream_t>(stream_));
    if (cublaslt_) cublasLtDestroy(static_cast<cublasLtHandle_t>(cublaslt_));
    if (cublas_) cublasDestroy(static_cast<cublasHandle_t>(cublas_));
    if (gemm_ws_) cudaFree(gemm_ws_);
    if (stream_) cudaStreamDestroy(static_cast<cudaStream_t>(stream_));
  }
#endif
}

void Context::bind_current_thread() const {
#ifdef BLOOM_WITH_CUDA
  if (device_ == Device::CUDA) {
    BLOOM_CUDA_CHECK(cudaSetDevice(cuda_device_));
  }
#endif
}

std::pair<size_t, size_t> Context::device_memory() const {
#ifdef BLOOM_WITH_CUDA
  if (device_ == Device::CUDA) {
    size_t free_b = 0, total_b = 0;
    BLOOM_CUDA_CHECK(cudaMemGetInfo(&free_b, &total_b));
    return {free_b, total_b};
  }
#endif
  return {0, 0};
}

void Context::synchronize() const {
#ifdef BLOOM_WITH_CUDA
  if (device_ == Device::CUDA) {
    BLOOM_CUDA_CHECK(cudaStreamSynchronize(static_cast<cudaStream_t>(stream_)));
  }
#endif
}

}  // namespace bloom

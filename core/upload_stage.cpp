// UploadStage (see upload_stage.h).
#include "core/upload_stage.h"

#include <cstdlib>
#include <cstring>

#ifdef BLOOM_WITH_CUDA
#include <cuda_runtime.h>
#endif

#include "core/check.h"
#include "core/context.h"

namespace bloom {

UploadStage::UploadStage(const Context& ctx, size_t capacity) : ctx_(ctx), capacity_(capacity) {}

UploadStage::~UploadStage() {
#ifdef BLOOM_WITH_CUDA
  if (stream_) cudaStreamDestroy(static_cast<cudaStream_t>(stream_));
  if (pinned_) {
    cudaFreeHost(host_);
    return;
  }
#endif
  std::free(host_);
}

void* UploadStage::buffer(size_t bytes) {
  BLOOM_CHECK(bytes <= capacity_, "upload of {} bytes through a stage of {}", bytes, capacity_);
  if (host_) return host_;
#ifdef BLOOM_WITH_CUDA
  if (ctx_.device() == Device::CUDA) {
    ctx_.bind_current_thread();
    BLOOM_CUDA_CHECK(cudaHostAlloc(&host_, capacity_, cudaHostAllocDefault));
    pinned_ = true;
    cudaStream_t s = nullptr;
    BLOOM_CUDA_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
    stream_ = s;
    return host_;
  }
#endif
  host_ = std::malloc(capacity_ > 0 ? capacity_ : 1);
  BLOOM_CHECK(host_ != nullptr, "cannot allocate {} bytes of staging memory", capacity_);
  return host_;
}

void UploadStage::upload(void* dst, size_t bytes) {
  BLOOM_CHECK(host_ != nullptr && bytes <= capacity_, "upload of {} bytes before buffer()", bytes);
#ifdef BLOOM_WITH_CUDA
  if (pinned_) {
    auto s = static_cast<cudaStream_t>(stream_);
    BLOOM_CUDA_CHECK(cudaMemcpyAsync(dst, host_, bytes, cudaMemcpyHostToDevice, s));
    BLOOM_CUDA_CHECK(cudaStreamSynchronize(s));
    return;
  }
#endif
  std::memcpy(dst, host_, bytes);
}

}  // namespace bloom

// UploadStage: a loader thread's way to the device. Host memory the device reads at full speed
// (page-locked, cudaHostAlloc), kept for the thread's life and reused for every tensor it
// uploads, and a stream of its own, so that threads copy side by side. Without it each upload
// went from pageable memory (the driver stages it again, through a buffer of its own) after a
// cudaDeviceSynchronize that every other loader thread waited on too.
// On a CPU context (or a CPU-only build) buffer() is plain memory and upload() a memcpy.
#pragma once

#include <cstddef>

namespace bloom {

class Context;

class UploadStage {
 public:
  /// `capacity`: the largest upload this stage takes (page-locked once, at the first buffer()).
  UploadStage(const Context& ctx, size_t capacity);
  ~UploadStage();
  UploadStage(const UploadStage&) = delete;
  UploadStage& operator=(const UploadStage&) = delete;

  size_t capacity() const { return capacity_; }
  /// The staging memory: at least `bytes` (<= capacity()).
  void* buffer(size_t bytes);
  /// Copies the first `bytes` of buffer() to `dst` on the context's device; returns when done.
  void upload(void* dst, size_t bytes);

 private:
  const Context& ctx_;
  size_t capacity_ = 0;
  void* host_ = nullptr;
  void* stream_ = nullptr;  // cudaStream_t
  bool pinned_ = false;
};

}  // namespace bloom

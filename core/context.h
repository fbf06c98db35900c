// Context: per-device execution state handed to every op and collective.
// CPU: nothing but the device tag. CUDA: the stream, the cuBLAS(Lt) handle and a GEMM workspace,
// created once per process and owned here (non-copyable, destroyed without throwing).
#pragma once

#include <cstddef>
#include <memory>
#include <utility>

#include "core/tensor.h"

namespace bloom {

class OpProfile;

class Context {
 public:
  /// CPU context, or a CUDA context on `cuda_device` (creates stream and handles).
  explicit Context(Device device, int cuda_device = 0);
  ~Context();
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;

  Device device() const { return device_; }
  int cuda_device() const { return cuda_device_; }
  /// cudaStream_t, cublasHandle_t, cublasLtHandle_t as opaque pointers (null on CPU).
  void* stream() const { return stream_; }
  void* cublas() const { return cublas_; }
  void* cublaslt() const { return cublaslt_; }
  void* gemm_workspace() const { return gemm_ws_; }
  size_t gemm_workspace_size() const { return gemm_ws_size_; }
  /// A second stream on the same device (for collectives that overlap compute); CPU: *this.
  /// Created on first use, owned by this context; it has no BLAS handles.
  Context& side();
  /// Makes this context's GPU current on the calling thread (loader threads; no-op on CPU).
  void bind_current_thread() const;
  /// Device memory: (free, total) bytes from the driver; (0, 0) on CPU.
  std::pair<size_t, size_t> device_memory() const;
  /// Waits for all work queued on this context (no-op on CPU).
  void synchronize() const;
  /// Synchronize and check after each kernel (BLOOM_SYNC_CHECK=1), so errors name the right op.
  bool sync_check() const { return sync_check_; }
  /// Per-op timing of the work queued on this context (null: off). See core/op_profile.h.
  OpProfile* profile() const { return profile_; }
  void set_profile(OpProfile* p) { profile_ = p; }
  /// While set, GEMM ops meeting a new shape time cuBLASLt's top candidates on it and keep the
  /// fastest for that shape class (kernels/cuda/gemm_plan.cuh); a start-up warm-up sets it.
  bool tune_gemms() const { return tune_gemms_; }
  void set_tune_gemms(bool on) { tune_gemms_ = on; }

 private:
  Device device_;
  int cuda_device_ = 0;
  void* stream_ = nullptr;
  void* cublas_ = nullptr;
  void* cublaslt_ = nullptr;
  void* gemm_ws_ = nullptr;
  size_t gemm_ws_size_ = 0;
  bool sync_check_ = false;
  OpProfile* profile_ = nullptr;
  bool tune_gemms_ = false;
  std::unique_ptr<Context> side_;
  struct StreamOnly {};
  Context(StreamOnly, int cuda_device);
};

/// A point in one context's stream that another context's stream can wait for, so work on two
/// streams can overlap and still be ordered (cudaEvent; no-op on CPU, where ops are synchronous).
class StreamEvent {
 public:
  StreamEvent() = default;
  ~StreamEvent();
  StreamEvent(const StreamEvent&) = delete;
  StreamEvent& operator=(const StreamEvent&) = delete;
  /// Marks the current end of ctx's stream.
  void record(const Context& ctx);
  /// Makes ctx's stream wait for the last recorded point (nothing if never recorded).
  void wait(const Context& ctx) const;

 private:
  void* event_ = nullptr;
};

}  // namespace bloom

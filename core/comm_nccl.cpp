// Communicator over NCCL for tensor parallelism on GPUs. The root of the MPI group creates the
// ncclUniqueId, MPI_Bcast hands it to the others, every rank calls ncclCommInitRank on its
// Context's device. Collectives run on the Context's stream in the tensor's dtype (NCCL sums
// fp16/bf16 in that dtype: TP results differ from tp=1 at the rounding level).
// Each collective is bracketed by CUDA events; the host then polls the end event together with
// ncclCommGetAsyncError, so a failed or vanished peer surfaces as an exception (after
// ncclCommAbort) instead of a hang. The elapsed time between the events (the collective itself,
// waiting for slower peers included) accumulates in seconds().
#include "core/comm_nccl.h"

#include <chrono>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <cuda_runtime.h>
#include <nccl.h>
#include <spdlog/spdlog.h>

#include "core/check.h"
#include "core/comm_watchdog.h"

namespace bloom {

namespace {

ncclDataType_t nccl_type(DType t) {
  switch (t) {
    case DType::F32: return ncclFloat32;
    case DType::F16: return ncclFloat16;
    case DType::BF16: return ncclBfloat16;
    case DType::I32: return ncclInt32;
    case DType::F8E4M3: break;  // never reduced: activations stay fp16/bf16 in FP8 mode
  }
  BLOOM_FAIL("NCCL: unsupported dtype {}", dtype_name(t));
}

class NcclCommunicator final : public Communicator {
 public:
  NcclCommunicator(MPI_Comm tp_comm, Context& ctx) : mpi_comm_(tp_comm) {
    BLOOM_CHECK(ctx.device() == Device::CUDA, "NCCL communicator needs a CUDA context");
    BLOOM_MPI_CHECK(MPI_Comm_rank(tp_comm, &rank_));
    BLOOM_MPI_CHECK(MPI_Comm_size(tp_comm, &size_));
    device_ = ctx.cuda_device();
    timeout_s_ = comm_timeout_seconds();
    ncclUniqueId id{};
    if (rank_ == 0) BLOOM_NCCL_CHECK(ncclGetUniqueId(&id));
    BLOOM_MPI_CHECK(MPI_Bcast(&id, sizeof(id), MPI_BYTE, 0, tp_comm));
    try {
      BLOOM_CUDA_CHECK(cudaSetDevice(device_));
      BLOOM_NCCL_CHECK(ncclCommInitRank(&comm_, size_, id, rank_));
    } catch (...) {
      release();
      throw;
    }
  }

  ~NcclCommunicator() override { release(); }

  int rank() const override { return rank_; }
  int size() const override { return size_; }

  void all_reduce_sum(Tensor& t, Context& ctx) override {
    check_tensor(ctx, t, "all_reduce_sum");
    BLOOM_CHECK(t.dtype != DType::I32, "NCCL all_reduce_sum: {} is not floating", t.shape_str());
    if (size_ == 1 || t.numel() == 0) return;
    // Not waited for: the stream orders it with the kernels around it, and the host keeps
    // queueing work. The next waiting collective (scoring's all_gather, once per batch) checks
    // for errors and hangs and collects the GPU time of everything queued before it.
    run(ctx, "all_reduce_sum", /*wait_now=*/false, [&](cudaStream_t s) {
      return ncclAllReduce(t.data, t.data, static_cast<size_t>(t.numel()), nccl_type(t.dtype),
                           ncclSum, comm_, s);
    });
  }

  void all_gather(const Tensor& in, Tensor& out, Context& ctx) override {
    check_tensor(ctx, in, "all_gather");
    check_tensor(ctx, out, "all_gather");
    BLOOM_CHECK(out.numel() == in.numel() * size_ && out.dtype == in.dtype,
                "NCCL all_gather: in {} out {} over {} ranks", in.shape_str(), out.shape_str(),
                size_);
    if (in.numel() == 0) return;
    if (size_ == 1) {
      if (out.data != in.data)
        BLOOM_CUDA_CHECK(cudaMemcpyAsync(out.data, in.data, in.nbytes(), cudaMemcpyDeviceToDevice,
                                        static_cast<cudaStream_t>(ctx.stream())));
      return;
    }
    run(ctx, "all_gather", /*wait_now=*/true, [&](cudaStream_t s) {
      return ncclAllGather(in.data, out.data, static_cast<size_t>(in.numel()),
                           nccl_type(in.dtype), comm_, s);
    });
  }

  void broadcast(Tensor& t, int root, Context& ctx) override {
    check_tensor(ctx, t, "broadcast");
    BLOOM_CHECK(root >= 0 && root < size_, "NCCL broadcast: root {} of {} ranks", root, size_);
    if (size_ == 1 || t.numel() == 0) return;
    run(ctx, "broadcast", /*wait_now=*/true, [&](cudaStream_t s) {
      return ncclBroadcast(t.data, t.data, static_cast<size_t>(t.numel()), nccl_type(t.dtype),
                           root, comm_, s);
    });
  }

  void barrier() override { BLOOM_MPI_CHECK(MPI_Barrier(mpi_comm_)); }

 private:
  void check_tensor(const Context& ctx, const Tensor& t, const char* op) const {
    BLOOM_CHECK(comm_ != nullptr, "NCCL {}: the communicator was aborted after an earlier error",
                op);
    BLOOM_CHECK(ctx.device() == Device::CUDA && ctx.cuda_device() == device_,
                "NCCL {}: the context is not CUDA device {}", op, device_);
    BLOOM_CHECK(t.device == Device::CUDA, "NCCL {}: tensor {} is not in device memory", op,
                t.shape_str());
  }

  /// Enqueues one collective between two timing events. With wait_now (or when many are
  /// pending) waits for the latest one, which implies every earlier one, and adds their GPU time.
  template <typename Enqueue>
  void run(Context& ctx, const char* op, bool wait_now, Enqueue&& enqueue) {
    const auto s = static_cast<cudaStream_t>(ctx.stream());
    if (pending_ == events_.size()) {
      cudaEvent_t a = nullptr, b = nullptr;
      BLOOM_CUDA_CHECK(cudaEventCreate(&a));
      BLOOM_CUDA_CHECK(cudaEventCreate(&b));
      events_.push_back({a, b});
    }
    const auto [start, stop] = events_[pending_++];
    BLOOM_CUDA_CHECK(cudaEventRecord(start, s));
    const ncclResult_t rc = enqueue(s);
    if (rc != ncclSuccess) {
      const std::string why =
          fmt::format("{} ({})", ncclGetErrorString(rc), ncclGetLastError(comm_));
      abort_comm();
      BLOOM_FAIL("NCCL {} of rank {}/{} failed: {}", op, rank_, size_, why);
    }
    BLOOM_CUDA_CHECK(cudaEventRecord(stop, s));
    if (!wait_now && pending_ < kMaxPending) return;
    wait(op, stop);
    for (size_t i = 0; i < pending_; ++i) {
      float ms = 0.0f;
      BLOOM_CUDA_CHECK(cudaEventElapsedTime(&ms, events_[i].first, events_[i].second));
      seconds_ += ms * 1e-3;
    }
    pending_ = 0;
  }

  /// Polls the end event; between polls checks NCCL's asynchronous error and the timeout.
  void wait(const char* op, cudaEvent_t stop) {
    const auto t0 = std::chrono::steady_clock::now();
    for (int polls = 0;; ++polls) {
      const cudaError_t e = cudaEventQuery(stop);
      if (e == cudaSuccess) return;
      if (e != cudaErrorNotReady) {
        abort_comm();
        BLOOM_FAIL("NCCL {}: CUDA error while waiting: {} ({})", op, cudaGetErrorName(e),
                   cudaGetErrorString(e));
      }
      ncclResult_t async = ncclSuccess;
      const ncclResult_t rc = ncclCommGetAsyncError(comm_, &async);
      if (rc != ncclSuccess || (async != ncclSuccess && async != ncclInProgress)) {
        const std::string why = ncclGetErrorString(rc != ncclSuccess ? rc : async);
        abort_comm();
        BLOOM_FAIL("NCCL {} of rank {}/{} failed asynchronously: {} (a peer may have died)", op,
                   rank_, size_, why);
      }
      const double waited =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      if (waited > timeout_s_) {
        abort_comm();
        BLOOM_FAIL("{}; communicator aborted",
                   comm_timeout_message("NCCL", op, rank_, size_, timeout_s_));
      }
      // Spin briefly (collectives of a forward pass take microseconds), then back off.
      if (polls > 2000) std::this_thread::sleep_for(std::chrono::microseconds(50));
      else std::this_thread::yield();
    }
  }

  void abort_comm() noexcept {
    if (comm_ != nullptr) {
      const ncclResult_t rc = ncclCommAbort(comm_);
      if (rc != ncclSuccess) spdlog::warn("ncclCommAbort: {}", ncclGetErrorString(rc));
      comm_ = nullptr;
    }
  }

  /// Never throws: a healthy communicator is destroyed, a failed one aborted.
  void release() noexcept {
    if (comm_ != nullptr) {
      ncclResult_t async = ncclSuccess;
      if (ncclCommGetAsyncError(comm_, &async) != ncclSuccess || async != ncclSuccess) {
        abort_comm();
      } else {
        const ncclResult_t rc = ncclCommDestroy(comm_);
        if (rc != ncclSuccess) spdlog::warn("ncclCommDestroy: {}", ncclGetErrorString(rc));
        comm_ = nullptr;
      }
    }
    for (auto& [a, b] : events_) {
      cudaEventDestroy(a);
      cudaEventDestroy(b);
    }
    events_.clear();
    pending_ = 0;
  }

  MPI_Comm mpi_comm_;
  ncclComm_t comm_ = nullptr;
  int rank_ = 0;
  int size_ = 1;
  int device_ = 0;
  double timeout_s_ = 300.0;
  static constexpr size_t kMaxPending = 512;
  std::vector<std::pair<cudaEvent_t, cudaEvent_t>> events_;  // (start, stop) per collective
  size_t pending_ = 0;  // collectives queued since the last wait
};

}  // namespace

std::unique_ptr<Communicator> make_nccl_communicator(MPI_Comm tp_comm, Context& ctx) {
  return std::make_unique<NcclCommunicator>(tp_comm, ctx);
}

}  // namespace bloom

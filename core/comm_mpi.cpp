// Communicator over MPI on host memory. all_reduce_sum of fp32 maps to MPI_Iallreduce(MPI_SUM);
// 16-bit floats are widened to fp32, reduced, and rounded back (the CPU backend computes in fp32,
// so this path is only for completeness). Sums are in rank order inside MPI: deterministic for a
// fixed group size. Every collective is the non-blocking call plus a watched wait (MpiWaitPace):
// Open MPI's blocking calls busy-poll, forever, when a peer never comes.
#include "core/comm_mpi.h"

#include <algorithm>
#include <thread>
#include <vector>

#include "core/check.h"
#include "core/comm_watchdog.h"

namespace bloom {

MpiWaitPace::MpiWaitPace(double timeout_s)
    : timeout_s_(timeout_s > 0.0 ? timeout_s : comm_timeout_seconds()),
      t0_(std::chrono::steady_clock::now()) {}

void MpiWaitPace::restart() {
  t0_ = std::chrono::steady_clock::now();
  sleep_ = std::chrono::microseconds(0);
}

void MpiWaitPace::pause(const char* op, MPI_Comm comm) {
  const double waited =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count();
  if (waited > timeout_s_) {
    int rank = 0, size = 1;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    BLOOM_FAIL("{}", comm_timeout_message("MPI", op, rank, size, timeout_s_));
  }
  if (waited < 0.02) {
    std::this_thread::yield();  // ranks may share cores (mpirun --oversubscribe)
    return;
  }
  sleep_ = std::min(std::chrono::microseconds(1000), std::max(std::chrono::microseconds(10), 2 * sleep_));
  std::this_thread::sleep_for(sleep_);
}

void mpi_wait(MPI_Request& request, MPI_Comm comm, const char* op, double timeout_s) {
  MpiWaitPace pace(timeout_s);
  for (;;) {
    int done = 0;
    BLOOM_MPI_CHECK(MPI_Test(&request, &done, MPI_STATUS_IGNORE));
    if (done) return;
    pace.pause(op, comm);
  }
}

void mpi_bcast(void* buf, int count, MPI_Datatype type, int root, MPI_Comm comm, const char* op) {
  MPI_Request r;
  BLOOM_MPI_CHECK(MPI_Ibcast(buf, count, type, root, comm, &r));
  mpi_wait(r, comm, op);
}

void mpi_allreduce(void* buf, int count, MPI_Datatype type, MPI_Op reduce, MPI_Comm comm,
                   const char* op, double timeout_s) {
  MPI_Request r;
  BLOOM_MPI_CHECK(MPI_Iallreduce(MPI_IN_PLACE, buf, count, type, reduce, comm, &r));
  mpi_wait(r, comm, op, timeout_s);
}

void mpi_barrier(MPI_Comm comm, const char* op, double timeout_s) {
  MPI_Request r;
  BLOOM_MPI_CHECK(MPI_Ibarrier(comm, &r));
  mpi_wait(r, comm, op, timeout_s);
}

std::string mpi_error_text(int code) {
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  if (MPI_Error_string(code, text, &len) != MPI_SUCCESS) return fmt::format("MPI error {}", code);
  return std::string(text, static_cast<size_t>(len));
}

namespace {

class MpiCommunicator final : public Communicator {
 public:
  explicit MpiCommunicator(MPI_Comm comm) : comm_(comm) {
    BLOOM_MPI_CHECK(MPI_Comm_rank(comm_, &rank_));
    BLOOM_MPI_CHECK(MPI_Comm_size(comm_, &size_));
  }
  int rank() const override { return rank_; }
  int size() const override { return size_; }

  void all_reduce_sum(Tensor& t, Context&) override {
    host_only(t, "all_reduce_sum");
    if (size_ == 1) return;
    Timer timer(seconds_);
    const int n = static_cast<int>(t.numel());
    if (t.dtype == DType::F32) {
      mpi_allreduce(t.data, n, MPI_FLOAT, MPI_SUM, comm_, "all_reduce_sum");
      return;
    }
    BLOOM_CHECK(t.dtype != DType::I32, "all_reduce_sum of i32 is not supported");
    std::vector<float> wide(static_cast<size_t>(n));
    convert_host(t.data, t.dtype, wide.data(), DType::F32, wide.size());
    mpi_allreduce(wide.data(), n, MPI_FLOAT, MPI_SUM, comm_, "all_reduce_sum");
    convert_host(wide.data(), DType::F32, t.data, t.dtype, wide.size());
  }

  void all_gather(const Tensor& in, Tensor& out, Context&) override {
    host_only(in, "all_gather");
    host_only(out, "all_gather");
    BLOOM_CHECK(out.numel() == in.numel() * size_ && out.dtype == in.dtype,
                "all_gather: in {} out {} over {} ranks", in.shape_str(), out.shape_str(), size_);
    Timer timer(seconds_);
    const int bytes = static_cast<int>(in.nbytes());
    MPI_Request r;
    BLOOM_MPI_CHECK(MPI_Iallgather(in.data, bytes, MPI_BYTE, out.data, bytes, MPI_BYTE, comm_, &r));
    mpi_wait(r, comm_, "all_gather");
  }

  void broadcast(Tensor& t, int root, Context&) override {
    host_only(t, "broadcast");
    Timer timer(seconds_);
    mpi_bcast(t.data, static_cast<int>(t.nbytes()), MPI_BYTE, root, comm_, "broadcast");
  }

  void barrier() override { mpi_barrier(comm_, "barrier"); }

 private:
  struct Timer {
    explicit Timer(double& acc) : acc_(acc), t0_(std::chrono::steady_clock::now()) {}
    ~Timer() { acc_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count(); }
    double& acc_;
    std::chrono::steady_clock::time_point t0_;
  };
  static void host_only(const Tensor& t, const char* op) {
    BLOOM_CHECK(t.device == Device::CPU, "MPI communicator {}: tensor {} is not in host memory",
                op, t.shape_str());
  }
  MPI_Comm comm_;
  int rank_ = 0, size_ = 1;
};

}  // namespace

std::unique_ptr<Communicator> make_mpi_communicator(MPI_Comm comm) {
  return std::make_unique<MpiCommunicator>(comm);
}

}  // namespace bloom

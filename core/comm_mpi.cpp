// Communicator over MPI on host memory. all_reduce_sum of fp32 maps to MPI_Allreduce(MPI_SUM);
// 16-bit floats are widened to fp32, reduced, and rounded back (the CPU backend computes in fp32,
// so this path is only for completeness). Sums are in rank order inside MPI: deterministic for a
// fixed group size.
#include "core/comm_mpi.h"

#include <chrono>
#include <vector>

#include "core/check.h"

namespace bloom {

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
      BLOOM_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, t.data, n, MPI_FLOAT, MPI_SUM, comm_));
      return;
    }
    BLOOM_CHECK(t.dtype != DType::I32, "all_reduce_sum of i32 is not supported");
    std::vector<float> wide(static_cast<size_t>(n));
    convert_host(t.data, t.dtype, wide.data(), DType::F32, wide.size());
    BLOOM_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, wide.data(), n, MPI_FLOAT, MPI_SUM, comm_));
    convert_host(wide.data(), DType::F32, t.data, t.dtype, wide.size());
  }

  void all_gather(const Tensor& in, Tensor& out, Context&) override {
    host_only(in, "all_gather");
    host_only(out, "all_gather");
    BLOOM_CHECK(out.numel() == in.numel() * size_ && out.dtype == in.dtype,
                "all_gather: in {} out {} over {} ranks", in.shape_str(), out.shape_str(), size_);
    Timer timer(seconds_);
    const int bytes = static_cast<int>(in.nbytes());
    BLOOM_MPI_CHECK(MPI_Allgather(in.data, bytes, MPI_BYTE, out.data, bytes, MPI_BYTE, comm_));
  }

  void broadcast(Tensor& t, int root, Context&) override {
    host_only(t, "broadcast");
    Timer timer(seconds_);
    BLOOM_MPI_CHECK(MPI_Bcast(t.data, static_cast<int>(t.nbytes()), MPI_BYTE, root, comm_));
  }

  void barrier() override { BLOOM_MPI_CHECK(MPI_Barrier(comm_)); }

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

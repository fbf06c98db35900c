// NcclCommunicator on one GPU per rank (launch with mpirun -n 2..8 on a multi-GPU machine; main()
// is tests/mpi_main.cpp): the MpiCommunicator's test body (rank-dependent inputs, expected values
// computed on every rank, exact comparison of small-integer sums) on device tensors; then
// all-reduces of 1, 32 and 256 MiB (from latency-bound to bandwidth-bound), each timed and then
// checked element by element, with the bus bandwidth printed by nccl-tests' definition:
// busBw = bytes / time x 2 (n - 1) / n (bench/gpu_lambada.sh reads the RESULT lines).
#include <gtest/gtest.h>
#include <mpi.h>

#include <chrono>
#include <cstdio>
#include <vector>

#include "core/comm_nccl.h"

namespace bloom {
namespace {

// This process's place in the launch (MPI is initialized by tests/mpi_main.cpp).
int world_rank() {
  int v = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &v);
  return v;
}
int world_size() {
  int v = 0;
  MPI_Comm_size(MPI_COMM_WORLD, &v);
  return v;
}

template <typename T>
Tensor upload(const std::vector<T>& v, DType dt, Buffer& b, Context& ctx) {
  b = Buffer(v.size() * sizeof(T), Device::CUDA);
  Tensor t = b.tensor(dt, {static_cast<int64_t>(v.size())});
  Tensor src(const_cast<T*>(v.data()), dt, Device::CPU, {static_cast<int64_t>(v.size())});
  copy_tensor(src, t, &ctx);
  return t;
}

template <typename T>
std::vector<T> download(const Tensor& t, Context& ctx) {
  std::vector<T> v(static_cast<size_t>(t.numel()));
  Tensor dst(v.data(), t.dtype, Device::CPU, {t.numel()});
  copy_tensor(t, dst, &ctx);
  return v;
}

TEST(CommNccl, AllReduceAllGatherBroadcast) {
  Context ctx(Device::CUDA, world_rank());
  auto comm = make_nccl_communicator(MPI_COMM_WORLD, ctx);
  ASSERT_EQ(comm->size(), world_size());
  const int P = world_size(), me = world_rank(), n = 1 << 20;
  std::vector<float> x(n);
  for (int i = 0; i < n; ++i) x[i] = static_cast<float>((me + 1) * 1000 + i % 997);
  Buffer bx;
  Tensor tx = upload(x, DType::F32, bx, ctx);
  comm->all_reduce_sum(tx, ctx);
  const std::vector<float> got = download<float>(tx, ctx);
  for (int i = 0; i < n; ++i) {
    float want = 0;
    for (int r = 0; r < P; ++r) want += static_cast<float>((r + 1) * 1000 + i % 997);
    ASSERT_EQ(got[i], want) << "element " << i;
  }
  std::vector<uint16_t> h(4096);
  for (int i = 0; i < 4096; ++i) h[i] = float_to_half(static_cast<float>(me + i % 64));
  Buffer bh;
  Tensor th = upload(h, DType::F16, bh, ctx);
  comm->all_reduce_sum(th, ctx);
  const std::vector<uint16_t> gh = download<uint16_t>(th, ctx);
  for (int i = 0; i < 4096; ++i)
    ASSERT_EQ(half_to_float(gh[i]), static_cast<float>(P * (i % 64) + P * (P - 1) / 2)) << i;
  std::vector<float> mine(5, static_cast<float>(me));
  Buffer bm, ball(5 * P * sizeof(float), Device::CUDA);
  Tensor tin = upload(mine, DType::F32, bm, ctx);
  Tensor tall = ball.tensor(DType::F32, {P, 5});
  comm->all_gather(tin, tall, ctx);
  const std::vector<float> all = download<float>(tall, ctx);
  for (int r = 0; r < P; ++r)
    for (int i = 0; i < 5; ++i) ASSERT_EQ(all[r * 5 + i], static_cast<float>(r));
  std::vector<float> b(3, static_cast<float>(me + 10));
  Buffer bb;
  Tensor tb = upload(b, DType::F32, bb, ctx);
  comm->broadcast(tb, P - 1, ctx);
  for (float v : download<float>(tb, ctx)) ASSERT_EQ(v, static_cast<float>(P - 1 + 10));
}

// Rank r holds (r + i % 61) at element i: every sum is a small integer, exact in fp16.
float large_input(int rank, int64_t i) { return static_cast<float>(rank + i % 61); }

TEST(CommNccl, AllReduceLargeBuffers) {
  Context ctx(Device::CUDA, world_rank());
  auto comm = make_nccl_communicator(MPI_COMM_WORLD, ctx);
  const int P = world_size();
  for (int64_t bytes : {int64_t{1} << 20, int64_t{32} << 20, int64_t{256} << 20}) {
    const int64_t n = bytes / 2;
    Buffer buf(static_cast<size_t>(bytes), Device::CUDA);
    Tensor t = buf.tensor(DType::F16, {n});
    // Timed first (the repeated in-place sums grow without bound; only the time matters here).
    for (int i = 0; i < 3; ++i) comm->all_reduce_sum(t, ctx);
    ctx.synchronize();
    const int reps = 20;
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < reps; ++i) comm->all_reduce_sum(t, ctx);
    ctx.synchronize();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / reps;
    const double alg = bytes / s / 1e9, bus = alg * 2.0 * (world_size() - 1) / world_size();
    if (world_rank() == 0)
      std::printf("RESULT nccl_allreduce ranks=%d bytes=%lld time_us=%.1f algbw_GBps=%.1f busbw_GBps=%.1f\n",
                  world_size(), static_cast<long long>(bytes), s * 1e6, alg, bus);
    // Then checked: fresh inputs, one all-reduce of the whole buffer, every element compared.
    std::vector<uint16_t> h(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) h[static_cast<size_t>(i)] = float_to_half(large_input(world_rank(), i));
    Tensor src(h.data(), DType::F16, Device::CPU, {n});
    copy_tensor(src, t, &ctx);
    comm->all_reduce_sum(t, ctx);
    const std::vector<uint16_t> got = download<uint16_t>(t, ctx);
    int64_t wrong = 0, first_wrong = -1;
    for (int64_t i = 0; i < n; ++i) {
      float want = 0;
      for (int r = 0; r < P; ++r) want += large_input(r, i);
      if (half_to_float(got[static_cast<size_t>(i)]) != want) {
        if (wrong++ == 0) first_wrong = i;
      }
    }
    EXPECT_EQ(wrong, 0) << bytes << " bytes: " << wrong << " wrong sums, the first at element "
                        << first_wrong;
  }
}

}  // namespace
}  // namespace bloom

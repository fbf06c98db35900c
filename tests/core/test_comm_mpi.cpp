// MpiCommunicator, nccl-tests style: rank-dependent inputs from a seed, the expected result
// computed independently on every rank, compared exactly (sums of small integers are exact);
// and the time it reports, which must be the time spent inside collectives, waiting included.
// Runs under mpirun (2-4 ranks); main() is tests/mpi_main.cpp.
#include <gtest/gtest.h>
#include <mpi.h>

#include <chrono>
#include <thread>
#include <vector>

#include "core/comm_mpi.h"

namespace bloom {
namespace {

float input_value(int rank, int i) { return static_cast<float>((rank + 1) * 1000 + i % 997); }

TEST(CommMpi, AllReduceAllGatherBroadcast) {
  Context ctx(Device::CPU);
  auto comm = make_mpi_communicator(MPI_COMM_WORLD);
  const int P = comm->size(), me = comm->rank();
  const int n = 4099;
  std::vector<float> x(n);
  for (int i = 0; i < n; ++i) x[i] = input_value(me, i);
  Tensor t(x.data(), DType::F32, Device::CPU, {n});
  comm->all_reduce_sum(t, ctx);
  for (int i = 0; i < n; ++i) {
    float want = 0;
    for (int r = 0; r < P; ++r) want += input_value(r, i);
    ASSERT_EQ(x[i], want) << "element " << i;
  }
  std::vector<float> mine(5, static_cast<float>(me)), all(5 * P, -1.f);
  Tensor tin(mine.data(), DType::F32, Device::CPU, {5});
  Tensor tout(all.data(), DType::F32, Device::CPU, {P, 5});
  comm->all_gather(tin, tout, ctx);
  for (int r = 0; r < P; ++r)
    for (int i = 0; i < 5; ++i) ASSERT_EQ(all[r * 5 + i], static_cast<float>(r));
  std::vector<float> b(3, static_cast<float>(me + 10));
  Tensor tb(b.data(), DType::F32, Device::CPU, {3});
  comm->broadcast(tb, P - 1, ctx);
  for (float v : b) ASSERT_EQ(v, static_cast<float>(P - 1 + 10));
  std::vector<uint16_t> h(7);
  for (int i = 0; i < 7; ++i) h[i] = float_to_bf16(static_cast<float>(me + i));
  Tensor th(h.data(), DType::BF16, Device::CPU, {7});
  comm->all_reduce_sum(th, ctx);
  for (int i = 0; i < 7; ++i) ASSERT_EQ(bf16_to_float(h[i]), static_cast<float>(P * i + P * (P - 1) / 2));
}

// seconds() feeds comm_seconds in the results file: zero before any collective, then the time
// inside them. The last rank arrives late, so every other rank waits that long inside the
// all-reduce; the wait is communication time (a timer around the wrong code, or none, fails).
TEST(CommMpi, SecondsCountTheTimeInsideCollectives) {
  using Clock = std::chrono::steady_clock;
  Context ctx(Device::CPU);
  auto comm = make_mpi_communicator(MPI_COMM_WORLD);
  const int P = comm->size(), me = comm->rank();
  EXPECT_EQ(comm->seconds(), 0.0);
  const double pause = 0.3;
  float v = 1.0f;
  Tensor t(&v, DType::F32, Device::CPU, {1});
  ASSERT_EQ(MPI_Barrier(MPI_COMM_WORLD), MPI_SUCCESS);
  if (me == P - 1) std::this_thread::sleep_for(std::chrono::duration<double>(pause));
  const auto t0 = Clock::now();
  comm->all_reduce_sum(t, ctx);
  const double call = std::chrono::duration<double>(Clock::now() - t0).count();
  EXPECT_EQ(v, static_cast<float>(P));
  EXPECT_GT(comm->seconds(), 0.0);
  EXPECT_LE(comm->seconds(), call) << "more time counted than the call took";
  if (me != P - 1) {
    EXPECT_GE(comm->seconds(), 0.5 * pause) << "the wait for the late rank is missing";
  }
  // It accumulates: a second collective adds its own time.
  const double before = comm->seconds();
  std::vector<float> x(1 << 16, 1.0f);
  Tensor tx(x.data(), DType::F32, Device::CPU, {static_cast<int64_t>(x.size())});
  comm->all_reduce_sum(tx, ctx);
  EXPECT_GT(comm->seconds(), before);
}

}  // namespace
}  // namespace bloom

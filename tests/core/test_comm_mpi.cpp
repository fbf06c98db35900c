// MpiCommunicator, nccl-tests style: rank-dependent inputs from a seed, the expected result
// computed independently on every rank, compared exactly (sums of small integers are exact);
// the time it reports, which must be the time spent inside collectives, waiting included; and
// the watchdog of every MPI wait: a peer that never comes ends the wait with its message, after
// its time, without spinning a core meanwhile.
// Runs under mpirun (2-4 ranks); main() is tests/mpi_main.cpp.
#include <gtest/gtest.h>
#include <mpi.h>

#include <time.h>

#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "core/check.h"
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

double thread_cpu_seconds() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

// A receive nobody sends to stands for a peer that stopped: the wait gives up after its time
// with the watchdog's message, having slept rather than spun (Open MPI's blocking calls poll
// at 100% of a core, forever).
TEST(CommMpi, AWaitForAPeerThatNeverComesTimesOutWithoutSpinning) {
  using Clock = std::chrono::steady_clock;
  int me = 0, P = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &me);
  MPI_Comm_size(MPI_COMM_WORLD, &P);
  int buf = 0;
  MPI_Request r;
  ASSERT_EQ(MPI_Irecv(&buf, 1, MPI_INT, MPI_ANY_SOURCE, 4242, MPI_COMM_WORLD, &r), MPI_SUCCESS);
  const double cpu0 = thread_cpu_seconds();
  const auto t0 = Clock::now();
  std::string message;
  try {
    mpi_wait(r, MPI_COMM_WORLD, "test wait", 1.0);
  } catch (const Error& e) {
    message = e.message();
  }
  const double wall = std::chrono::duration<double>(Clock::now() - t0).count();
  const double cpu = thread_cpu_seconds() - cpu0;
  EXPECT_NE(message.find("MPI test wait of rank " + std::to_string(me) + "/" + std::to_string(P) +
                         " did not finish within 1 s (BLOOM_COMM_TIMEOUT_S): a peer rank is "
                         "dead or stuck"), std::string::npos) << message;
  EXPECT_GE(wall, 1.0);
  EXPECT_LT(wall, 3.0);
  EXPECT_LT(cpu, 0.25) << "the wait used " << cpu << " s of CPU in " << wall << " s";
  ASSERT_EQ(MPI_Cancel(&r), MPI_SUCCESS);
  ASSERT_EQ(MPI_Wait(&r, MPI_STATUS_IGNORE), MPI_SUCCESS);
}

// The collectives of the communicator are watched with the knob BLOOM_COMM_TIMEOUT_S: a peer
// that is late by less than it is waited for; a peer later than it fails the others' call.
TEST(CommMpi, CollectivesWaitForALatePeerWithinTheTimeout) {
  Context ctx(Device::CPU);
  MPI_Comm dup;
  ASSERT_EQ(MPI_Comm_dup(MPI_COMM_WORLD, &dup), MPI_SUCCESS);
  setenv("BLOOM_COMM_TIMEOUT_S", "5", 1);
  auto comm = make_mpi_communicator(dup);
  const int P = comm->size(), me = comm->rank();
  float v = 1.0f;
  Tensor t(&v, DType::F32, Device::CPU, {1});
  if (me == 0) std::this_thread::sleep_for(std::chrono::milliseconds(300));
  comm->all_reduce_sum(t, ctx);
  EXPECT_EQ(v, static_cast<float>(P));
  setenv("BLOOM_COMM_TIMEOUT_S", "0.3", 1);
  std::string message;
  MPI_Barrier(MPI_COMM_WORLD);
  if (me != 0) {
    try {
      comm->barrier();  // rank 0 joins only after the others gave up
    } catch (const Error& e) {
      message = e.message();
    }
    EXPECT_NE(message.find("MPI barrier of rank " + std::to_string(me) + "/" +
                           std::to_string(P) + " did not finish within 0.3 s"),
              std::string::npos) << message;
  }
  unsetenv("BLOOM_COMM_TIMEOUT_S");
  MPI_Barrier(MPI_COMM_WORLD);
  // The abandoned barrier stays pending inside MPI on the others: rank 0 completes it (they all
  // entered it), and `dup` is left allocated: freeing it under a pending operation crashes
  // Open MPI's progress engine later (in the job, the watchdog's error aborts every rank).
  if (me == 0) comm->barrier();
  comm.reset();
}

}  // namespace
}  // namespace bloom

// MpiCommunicator, nccl-tests style: rank-dependent inputs from a seed, the expected result
// computed independently on every rank, compared exactly (sums of small integers are exact).
// main() for the test_mpi executable lives here (MPI init + every rank's verdict combined).
#include <gtest/gtest.h>
#include <mpi.h>

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
  EXPECT_GE(comm->seconds(), 0.0);
}

}  // namespace
}  // namespace bloom

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  ::testing::InitGoogleTest(&argc, argv);
  if (rank != 0) {
    auto& listeners = ::testing::UnitTest::GetInstance()->listeners();
    delete listeners.Release(listeners.default_result_printer());
  }
  int failed = RUN_ALL_TESTS() != 0 ? 1 : 0;
  MPI_Allreduce(MPI_IN_PLACE, &failed, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  if (rank == 0 && failed) std::fprintf(stderr, "a test failed on at least one rank\n");
  MPI_Finalize();
  return failed;
}

// main() of the GoogleTest executables that run under mpirun (test_mpi, test_runner_mpi): MPI
// initialized once for every test, only rank 0 prints gtest's report, and the verdict is every
// rank's (a failure on any rank fails the launch; each rank's failure messages reach stderr).
#include <gtest/gtest.h>
#include <mpi.h>

#include <cstdio>

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
  if (failed) std::fprintf(stderr, "rank %d: a test failed\n", rank);
  MPI_Allreduce(MPI_IN_PLACE, &failed, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  if (rank == 0 && failed) std::fprintf(stderr, "a test failed on at least one rank\n");
  MPI_Finalize();
  return failed;
}

// Topology under mpirun (2-4 ranks): for every tp that divides the world, each rank's tp and dp
// rank, the members of its TP communicator (recomputed here from the rule "TP groups are
// contiguous ranks") and the node-local rank; check_layout's errors for layouts that cannot
// work, thrown on every rank before any collective (so no rank is left waiting).
#include <gtest/gtest.h>
#include <mpi.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "core/check.h"
#include "runner/topology.h"

namespace bloom {
namespace {

std::string layout_error(int world, int tp, int dp, int n_head) {
  try {
    check_layout(world, tp, dp, n_head);
  } catch (const Error& e) {
    return e.message();
  }
  return "";
}

TEST(Topology, SessionSeesTheLaunch) {
  MpiSession mpi(nullptr, nullptr);  // MPI is already up (tests/mpi_main.cpp): it is reused
  int rank = -1, size = -1;
  ASSERT_EQ(MPI_Comm_rank(MPI_COMM_WORLD, &rank), MPI_SUCCESS);
  ASSERT_EQ(MPI_Comm_size(MPI_COMM_WORLD, &size), MPI_SUCCESS);
  EXPECT_EQ(mpi.world_rank(), rank);
  EXPECT_EQ(mpi.world_size(), size);
  EXPECT_FALSE(mpi.hostname().empty());
  // mpirun on one machine: every rank is on this node, so the node-local rank is the world rank.
  const char* id = std::getenv("SLURM_LOCALID");
  EXPECT_EQ(mpi.local_rank(), id ? std::atoi(id) : rank);
}

TEST(Topology, EveryTpThatDividesTheWorld) {
  MpiSession mpi(nullptr, nullptr);
  const int world = mpi.world_size(), me = mpi.world_rank();
  for (int tp = 1; tp <= world; ++tp) {
    if (world % tp != 0) continue;
    SCOPED_TRACE("tp " + std::to_string(tp));
    for (int dp : {0, world / tp}) {  // dp unset, or given and right
      Topology t(mpi, tp, dp);
      EXPECT_EQ(t.tp, tp);
      EXPECT_EQ(t.dp, world / tp);
      EXPECT_EQ(t.world_rank, me);
      EXPECT_EQ(t.world_size, world);
      EXPECT_EQ(t.tp_rank, me % tp);
      EXPECT_EQ(t.dp_rank, me / tp);
      EXPECT_EQ(t.is_group_root(), me % tp == 0);
      EXPECT_EQ(t.local_rank, mpi.local_rank());
      // The TP communicator: tp members, ordered by tp_rank, the contiguous ranks of my group.
      int size = -1, rank = -1;
      ASSERT_EQ(MPI_Comm_size(t.tp_comm, &size), MPI_SUCCESS);
      ASSERT_EQ(MPI_Comm_rank(t.tp_comm, &rank), MPI_SUCCESS);
      EXPECT_EQ(size, tp);
      EXPECT_EQ(rank, t.tp_rank);
      std::vector<int> members(static_cast<size_t>(tp), -1), want(static_cast<size_t>(tp));
      ASSERT_EQ(MPI_Allgather(&me, 1, MPI_INT, members.data(), 1, MPI_INT, t.tp_comm), MPI_SUCCESS);
      for (int r = 0; r < tp; ++r) want[static_cast<size_t>(r)] = (me / tp) * tp + r;
      EXPECT_EQ(members, want);
    }
  }
}

TEST(Topology, ImpossibleLayoutsThrowOnEveryRank) {
  MpiSession mpi(nullptr, nullptr);
  const int world = mpi.world_size();
  EXPECT_THROW(Topology(mpi, world + 1, 0), Error);  // tp larger than the world
  EXPECT_THROW(Topology(mpi, 0, 0), Error);
  EXPECT_THROW(Topology(mpi, 1, world + 1), Error);  // dp x tp != world
  if (world == 3) {
    EXPECT_THROW(Topology(mpi, 2, 0), Error);
  }
  if (world == 4) {
    EXPECT_THROW(Topology(mpi, 2, 1), Error);
  }
  // Every rank got here: no rank is stuck in a split the others never reached.
  ASSERT_EQ(MPI_Barrier(MPI_COMM_WORLD), MPI_SUCCESS);
}

TEST(Topology, LayoutErrorsSayWhatWouldFit) {
  EXPECT_EQ(layout_error(4, 2, 0, 6), "");
  EXPECT_EQ(layout_error(4, 2, 2, 6), "");
  EXPECT_EQ(layout_error(6, 3, 0, 6), "");
  EXPECT_EQ(layout_error(4, 4, 0, 0), "");  // n_head 0: heads not checked
  std::string e = layout_error(4, 4, 0, 6);
  EXPECT_NE(e.find("parallelism.tp = 4 does not divide the model's 6 attention heads"), std::string::npos) << e;
  EXPECT_NE(e.find("with 4 rank(s) tp may be one of: 1, 2"), std::string::npos) << e;
  e = layout_error(12, 5, 0, 30);
  EXPECT_NE(e.find("parallelism.tp = 5 does not divide the 12 MPI rank(s)"), std::string::npos) << e;
  e = layout_error(3, 2, 0, 6);
  EXPECT_NE(e.find("parallelism.tp = 2 does not divide the 3 MPI rank(s)"), std::string::npos) << e;
  e = layout_error(4, 1, 3, 6);
  EXPECT_NE(e.find("parallelism.dp = 3 x parallelism.tp = 1 = 3 ranks, but 4 were launched"),
            std::string::npos) << e;
  EXPECT_NE(e.find("or launch 3 ranks"), std::string::npos) << e;
  e = layout_error(4, 0, 0, 6);
  EXPECT_NE(e.find("parallelism.tp must be >= 1"), std::string::npos) << e;
}

}  // namespace
}  // namespace bloom

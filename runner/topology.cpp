// MPI start-up and the DP x TP split (see topology.h).
#include "runner/topology.h"

#include <unistd.h>

#include <cstdlib>
#include <vector>

#include "core/check.h"

namespace bloom {

MpiSession::MpiSession(int* argc, char*** argv) {
  int initialized = 0;
  BLOOM_MPI_CHECK(MPI_Initialized(&initialized));
  if (!initialized) {
    int provided = 0;
    BLOOM_MPI_CHECK(MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided));
    owns_mpi_ = true;
  }
  // Errors come back as codes (checked) instead of aborting inside MPI.
  BLOOM_MPI_CHECK(MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN));
  BLOOM_MPI_CHECK(MPI_Comm_rank(MPI_COMM_WORLD, &rank_));
  BLOOM_MPI_CHECK(MPI_Comm_size(MPI_COMM_WORLD, &size_));
  char host[256] = {0};
  gethostname(host, sizeof(host) - 1);
  host_ = host;
  set_error_origin(rank_, host_);
  MPI_Comm node;
  BLOOM_MPI_CHECK(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank_,
                                      MPI_INFO_NULL, &node));
  BLOOM_MPI_CHECK(MPI_Comm_rank(node, &local_rank_));
  BLOOM_MPI_CHECK(MPI_Comm_size(node, &local_size_));
  BLOOM_MPI_CHECK(MPI_Comm_free(&node));
  if (const char* id = std::getenv("SLURM_LOCALID")) local_rank_ = std::atoi(id);
}

MpiSession::~MpiSession() {
  if (!owns_mpi_) return;
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Finalize();  // a destructor: a failure here has no one left to tell
}

void check_layout(int world_size, int tp, int dp, int n_head) {
  BLOOM_CHECK(tp >= 1, "parallelism.tp must be >= 1");
  if (n_head > 0 && n_head % tp != 0) {
    std::string fit;
    for (int t = 1; t <= n_head && t <= world_size; ++t)
      if (n_head % t == 0 && world_size % t == 0) fit += (fit.empty() ? "" : ", ") + std::to_string(t);
    BLOOM_FAIL("parallelism.tp = {} does not divide the model's {} attention heads; with {} "
               "rank(s) tp may be one of: {}", tp, n_head, world_size, fit);
  }
  if (world_size % tp != 0) {
    BLOOM_FAIL("parallelism.tp = {} does not divide the {} MPI rank(s): launch a multiple of {} "
               "ranks (mpirun -n {}), or pick a tp that divides {}", tp, world_size, tp, tp,
               world_size);
  }
  const int want_dp = dp > 0 ? dp : world_size / tp;
  BLOOM_CHECK(want_dp * tp == world_size,
              "parallelism.dp = {} x parallelism.tp = {} = {} ranks, but {} were launched; "
              "drop parallelism.dp (it defaults to world / tp = {}) or launch {} ranks",
              want_dp, tp, want_dp * tp, world_size, world_size / tp, want_dp * tp);
}

Topology::Topology(const MpiSession& mpi, int tp_size, int dp_size) {
  world_rank = mpi.world_rank();
  world_size = mpi.world_size();
  local_rank = mpi.local_rank();
  check_layout(world_size, tp_size, dp_size, 0);
  tp = tp_size;
  dp = world_size / tp;
  tp_rank = world_rank % tp;
  dp_rank = world_rank / tp;
  BLOOM_MPI_CHECK(MPI_Comm_split(MPI_COMM_WORLD, dp_rank, tp_rank, &tp_comm));
}

Topology::~Topology() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (finalized) return;
  if (tp_comm != MPI_COMM_NULL) MPI_Comm_free(&tp_comm);  // a destructor: nothing to tell
}

}  // namespace bloom

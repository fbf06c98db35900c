// Topology: the MPI world split into DP groups of TP engines.
//   tp_rank = world_rank % tp, dp_rank = world_rank / tp  (TP groups are contiguous ranks, so
//   they stay inside a node); tp_comm = split(world, color dp_rank). The GPU is the node-local
//   rank (SLURM_LOCALID, else MPI's shared-memory split). Data-parallel traffic (results to rank
//   0, the stop vote, timings) goes over the world communicator, so there is no DP communicator.
#pragma once

#include <string>

#include <mpi.h>

namespace bloom {

/// MPI for the life of the process (MPI_Init_thread / MPI_Finalize); a plain `runner` start
/// is a world of one. Where MPI is already initialized (tests), it uses it and leaves the
/// finalizing to whoever initialized it. Sets MPI_ERRORS_RETURN on the world: every MPI call
/// of the runner checks its return code (BLOOM_MPI_CHECK).
class MpiSession {
 public:
  MpiSession(int* argc, char*** argv);
  ~MpiSession();
  MpiSession(const MpiSession&) = delete;
  MpiSession& operator=(const MpiSession&) = delete;
  int world_rank() const { return rank_; }
  int world_size() const { return size_; }
  int local_rank() const { return local_rank_; }
  int local_size() const { return local_size_; }  ///< ranks on this node
  const std::string& hostname() const { return host_; }

 private:
  int rank_ = 0, size_ = 1, local_rank_ = 0, local_size_ = 1;
  bool owns_mpi_ = false;
  std::string host_;
};

/// Checks that `tp` and `dp` fit the world and the model (dp 0: world / tp; n_head 0: not
/// checked); the message says which layouts would fit. Throws before any work is done.
void check_layout(int world_size, int tp, int dp, int n_head);

class Topology {
 public:
  /// Collective over MPI_COMM_WORLD; throws (on every rank, before any collective) when the
  /// layout does not fit the world.
  Topology(const MpiSession& mpi, int tp, int dp);
  ~Topology();
  Topology(const Topology&) = delete;
  Topology& operator=(const Topology&) = delete;

  int world_rank = 0, world_size = 1;
  int tp = 1, dp = 1, tp_rank = 0, dp_rank = 0, local_rank = 0;
  MPI_Comm tp_comm = MPI_COMM_NULL;  // ranks of my TP group, ordered by tp_rank
  bool is_group_root() const { return tp_rank == 0; }
};

}  // namespace bloom

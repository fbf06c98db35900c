// Topology: the MPI world split into DP groups of TP engines.
//   tp_rank = world_rank % tp, dp_rank = world_rank / tp  (TP groups are contiguous ranks, so
//   they stay inside a node); tp_comm = split(world, color dp_rank), dp_comm = split(world,
//   color tp_rank). The GPU is the node-local rank (SLURM_LOCALID, else MPI's shared-memory split).
#pragma once

#include <string>

#include <mpi.h>

namespace bloom {

/// MPI for the life of the process (MPI_Init_thread / MPI_Finalize); a plain `runner` start
/// is a world of one.
class MpiSession {
 public:
  MpiSession(int* argc, char*** argv);
  ~MpiSession();
  MpiSession(const MpiSession&) = delete;
  MpiSession& operator=(const MpiSession&) = delete;
  int world_rank() const { return rank_; }
  int world_size() const { return size_; }
  int local_rank() const { return local_rank_; }
  const std::string& hostname() const { return host_; }

 private:
  int rank_ = 0, size_ = 1, local_rank_ = 0;
  std::string host_;
};

/// Checks that `tp` and `dp` fit the world and the model (dp 0: world / tp); the message says
/// which layouts would fit. Throws before any work is done.
void check_layout(int world_size, int tp, int dp, int n_head);

class Topology {
 public:
  Topology(const MpiSession& mpi, int tp, int dp);
  ~Topology();
  Topology(const Topology&) = delete;
  Topology& operator=(const Topology&) = delete;

  int world_rank = 0, world_size = 1;
  int tp = 1, dp = 1, tp_rank = 0, dp_rank = 0, local_rank = 0;
  MPI_Comm tp_comm = MPI_COMM_NULL;  // ranks of my TP group
  MPI_Comm dp_comm = MPI_COMM_NULL;  // ranks with my tp_rank across groups
  bool is_group_root() const { return tp_rank == 0; }
};

}  // namespace bloom

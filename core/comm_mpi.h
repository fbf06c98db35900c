// MpiCommunicator: the Communicator collectives over an MPI communicator, on host memory.
// Used by the CPU backend for tensor parallelism, and by tests. And the watched MPI waits the
// runner makes outside the forward pass (start-up, the stop vote, timings): every wait for peer
// ranks polls a non-blocking operation, spinning only briefly and then sleeping, and gives up
// with the watchdog's error (core/comm_watchdog.h) when a peer does not come: a stopped or dead
// rank ends the job instead of hanging it with a core at 100%.
#pragma once

#include <chrono>
#include <memory>

#include <mpi.h>

#include "core/comm.h"

namespace bloom {

/// Wraps (does not own) `comm`. Tensors must be host tensors; F16/BF16 are reduced in fp32.
/// Each collective is watched (MpiWaitPace): past BLOOM_COMM_TIMEOUT_S it throws bloom::Error.
std::unique_ptr<Communicator> make_mpi_communicator(MPI_Comm comm);

/// The pace of a wait that polls MPI: no pause for the first 20 ms (the ranks of a collective
/// usually meet within microseconds, and MPI moves data only inside its calls), then sleeps
/// between polls, growing to 1 ms, so that a wait for a peer that is long late costs no core.
class MpiWaitPace {
 public:
  /// `timeout_s` <= 0: comm_timeout_seconds().
  explicit MpiWaitPace(double timeout_s = 0.0);
  /// After a poll that found nothing: throws bloom::Error (comm_timeout_message, naming `op`
  /// and this rank of `comm`) once the timeout has passed, else pauses.
  void pause(const char* op, MPI_Comm comm);
  /// Starts the timeout again (a wait that made progress).
  void restart();
  double timeout_seconds() const { return timeout_s_; }

 private:
  double timeout_s_;
  std::chrono::steady_clock::time_point t0_;
  std::chrono::microseconds sleep_{0};
};

/// Waits for a non-blocking operation on `comm` (MpiWaitPace; `timeout_s` as there).
void mpi_wait(MPI_Request& request, MPI_Comm comm, const char* op, double timeout_s = 0.0);

/// Watched forms of the blocking collectives (the non-blocking call, then mpi_wait).
void mpi_bcast(void* buf, int count, MPI_Datatype type, int root, MPI_Comm comm, const char* op);
/// In place: `buf` holds this rank's values and receives the result.
void mpi_allreduce(void* buf, int count, MPI_Datatype type, MPI_Op reduce, MPI_Comm comm,
                   const char* op, double timeout_s = 0.0);
void mpi_barrier(MPI_Comm comm, const char* op, double timeout_s = 0.0);

}  // namespace bloom

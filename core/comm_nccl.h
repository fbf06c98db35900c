// NcclCommunicator: the Communicator collectives over NCCL, on device memory and the Context's
// stream. The TP root creates the ncclUniqueId and broadcasts it over MPI.
#pragma once

#include <memory>

#include <mpi.h>

#include "core/comm.h"

namespace bloom {

/// Collective over the ranks of `tp_comm` (not owned; it must outlive the communicator, which
/// uses it for barrier()) on `ctx`'s GPU. Collective call: every rank of tp_comm must make it.
/// Each collective waits for its completion on the host, polling NCCL's asynchronous error
/// state, and aborts the communicator and throws bloom::Error on a NCCL error or when it takes
/// longer than BLOOM_COMM_TIMEOUT_S seconds (core/comm_watchdog.h; default 300): a dead peer
/// gives an error, not a hang. seconds() counts GPU time between events around each collective.
std::unique_ptr<Communicator> make_nccl_communicator(MPI_Comm tp_comm, Context& ctx);

}  // namespace bloom

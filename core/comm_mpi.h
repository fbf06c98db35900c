// MpiCommunicator: the Communicator collectives over an MPI communicator, on host memory.
// Used by the CPU backend for tensor parallelism, and by tests.
#pragma once

#include <memory>

#include <mpi.h>

#include "core/comm.h"

namespace bloom {

/// Wraps (does not own) `comm`. Tensors must be host tensors; F16/BF16 are reduced in fp32.
std::unique_ptr<Communicator> make_mpi_communicator(MPI_Comm comm);

}  // namespace bloom

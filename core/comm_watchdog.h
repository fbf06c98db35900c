// The watchdog every communicator shares: how long a wait for peer ranks may take before it is
// declared hung (a peer stopped, dead or stuck), and the message that says so. NCCL collectives
// (core/comm_nccl) and every MPI wait of the runner (core/comm_mpi: collectives, the results
// channel) use the same knob and words, so a stalled rank ends the job the same way on the GPU
// and on the CPU backend.
#pragma once

#include <string>

namespace bloom {

/// BLOOM_COMM_TIMEOUT_S (seconds, > 0), else the older name BLOOM_NCCL_TIMEOUT_S, else 300.
/// Throws bloom::Error naming the variable when its value is not a positive number.
double comm_timeout_seconds();

/// "<backend> <op> of rank <rank>/<size> did not finish within <seconds> s
/// (BLOOM_COMM_TIMEOUT_S): a peer rank is dead or stuck".
std::string comm_timeout_message(const std::string& backend, const std::string& op, int rank,
                                 int size, double seconds);

}  // namespace bloom

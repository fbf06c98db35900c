// The communicators' watchdog knob and message (see comm_watchdog.h).
#include "core/comm_watchdog.h"

#include "core/check.h"
#include "core/env.h"

namespace bloom {

double comm_timeout_seconds() {
  return env_seconds({"BLOOM_COMM_TIMEOUT_S", "BLOOM_NCCL_TIMEOUT_S"}, 300.0);
}

std::string comm_timeout_message(const std::string& backend, const std::string& op, int rank,
                                 int size, double seconds) {
  return fmt::format("{} {} of rank {}/{} did not finish within {:g} s (BLOOM_COMM_TIMEOUT_S): a "
                     "peer rank is dead or stuck", backend, op, rank, size, seconds);
}

}  // namespace bloom

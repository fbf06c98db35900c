// The communicators' watchdog knob and message (see comm_watchdog.h).
#include "core/comm_watchdog.h"

#include <cstdlib>

#include "core/check.h"

namespace bloom {

double comm_timeout_seconds() {
  for (const char* name : {"BLOOM_COMM_TIMEOUT_S", "BLOOM_NCCL_TIMEOUT_S"}) {
    const char* v = std::getenv(name);
    if (v == nullptr || *v == '\0') continue;
    char* end = nullptr;
    const double s = std::strtod(v, &end);
    BLOOM_CHECK(end != v && *end == '\0' && s > 0.0, "{}='{}' is not a positive number of seconds",
                name, v);
    return s;
  }
  return 300.0;
}

std::string comm_timeout_message(const std::string& backend, const std::string& op, int rank,
                                 int size, double seconds) {
  return fmt::format("{} {} of rank {}/{} did not finish within {:g} s (BLOOM_COMM_TIMEOUT_S): a "
                     "peer rank is dead or stuck", backend, op, rank, size, seconds);
}

}  // namespace bloom

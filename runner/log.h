// Logging: one spdlog logger with the rank baked into the pattern, "[r3 dp1 tp1]".
// info goes to stdout from world rank 0 only; warn and above from every rank (stderr).
#pragma once

#include <string>

namespace bloom {

void setup_logging(int world_rank, int dp_rank, int tp_rank, bool verbose);

}  // namespace bloom

// Logging: one spdlog logger with the rank baked into the pattern. Until a run's layout is known
// the prefix is "[r3]"; from then on "[r3 dp1 tp1]", each rank its own dp and tp.
// info (and debug with -v) goes to stdout from world rank 0 only; warn and above from every rank,
// rank 0 included, to stderr. -q keeps only warnings and errors.
#pragma once

namespace bloom {

/// How much the runner says: -q (Quiet) warnings and errors; Normal adds info (what was
/// loaded, each run's summary, progress); -v (Verbose) adds debug (batch plans, per-batch
/// timings) and the source location of errors.
enum class Verbosity { Quiet, Normal, Verbose };

/// Installs the logger as spdlog's default, with the prefix "[r<world_rank>]".
void setup_logging(int world_rank, Verbosity verbosity);

/// Sets the prefix to "[r<world_rank> dp<dp_rank> tp<tp_rank>]" (call once the topology of a
/// run is known, again when a later run changes it).
void set_log_layout(int world_rank, int dp_rank, int tp_rank);

}  // namespace bloom

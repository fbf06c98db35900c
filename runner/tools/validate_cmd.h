// `runner validate JOB.yaml`: expands a job (sweeps included, command-line overrides and
// BLOOM_RUNS applied as `runner run` applies them) and makes the run's preflight checks (runner/preflight.h: model folder, config,
// layout, checkpoint headers, tokenizer, dataset, results file) without loading weights or
// evaluating. Prints one line per run, or with --json one document for scripts (slurm/):
//   {"runner_version", "job", "name", "run_selector", "n_job_runs",
//    "output": {"path", "resume", "overwrite"},
//    "runs": [{"index", "name", "sweep": {KEY: VALUE}, "method",
//              "model": {"path", "tokenizer", "dtype", "backend", "n_layer", "hidden", "n_head",
//                        "vocab"},
//              "layout": {"world", "tp", "dp"}, "batch": {"size", "max_tokens"},
//              "dataset": {"path", "limit", "passages"}}]}
// `index` is the run's position in the whole job (what BLOOM_RUNS counts); max_tokens 0: auto.
// Returns 0 when every run is valid; a problem throws bloom::Error (nothing is printed then).
#pragma once

#include <iosfwd>
#include <string>

#include "runner/command.h"
#include "runner/job_spec.h"

namespace bloom {

struct ValidateOptions {
  std::string job_path;
  std::vector<Override> overrides;  ///< --set, --limit, --output, ... (runner/overrides.h)
  int world = 0;       ///< ranks to check the layout against (0: each run's tp x dp, or tp)
  bool json = false;   ///< the --json document instead of lines
  std::string runner_version;
};

/// Registers `validate JOB.yaml [--world N] [--json]` (needs MPI: under mpirun only rank 0
/// prints; without --world the layout is checked against the ranks of such a launch).
Command add_validate_command(CLI::App& app);

/// Checks the job; writes the lines or the JSON document to `out` when it is not null.
int validate_main(const ValidateOptions& options, std::ostream* out);

}  // namespace bloom

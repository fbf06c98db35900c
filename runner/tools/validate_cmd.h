// `runner validate JOB.yaml`: expands a job (sweeps included, command-line overrides and
// BLOOM_RUNS applied as `runner run` applies them) and makes the run's preflight checks
// (runner/preflight.h: model folder, config, layout, checkpoint headers, tokenizer, GPU,
// dataset, results file) without loading weights or
// evaluating. Prints one line per run, or with --json one document for scripts (slurm/):
//   {"runner_version", "job", "name", "run_selector", "n_job_runs", "ready",
//    "missing": [{"key", "path", "how", "runs"}], "not_here": [TEXT],
//    "output": {"path", "resume", "overwrite", "folder_to_create"},
//    "runs": [{"index", "name", "sweep": {KEY: VALUE}, "method",
//              "model": {"path", "tokenizer", "dtype", "backend", "n_layer", "hidden", "n_head",
//                        "vocab"},
//              "layout": {"world", "tp", "dp"}, "batch": {"size", "max_tokens"},
//              "dataset": {"path", "limit", "passages"}}]}
// `index` is the run's position in the whole job (what BLOOM_RUNS counts); max_tokens 0: auto;
// the model's sizes and the passages are null for a run whose inputs are not all there.
// Exit code 0 ("ok"): the job is valid and `runner run` can start it here. 1: the job is valid
// but an input is not there yet (each is named with the command that makes it) or this machine
// cannot run it (no GPU for backend cuda); that report goes to stderr, the runs still to stdout.
// A job that is not valid throws bloom::Error (nothing on stdout then).
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
  bool check_devices = true;  ///< false (--no-device-check): the job runs on other machines
  std::string runner_version;
};

/// Registers `validate JOB.yaml [--world N] [--json]` (needs MPI: under mpirun only rank 0
/// prints; without --world the layout is checked against the ranks of such a launch).
Command add_validate_command(CLI::App& app);

/// Checks the job; writes the lines or the JSON document to `out` and what is not ready to
/// `err`, when they are not null. Returns the exit code.
int validate_main(const ValidateOptions& options, std::ostream* out, std::ostream* err);

}  // namespace bloom

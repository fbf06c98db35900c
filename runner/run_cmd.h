// `runner run JOB.yaml [--progress bar|lines|none]` (also plain `runner JOB.yaml`): the run
// pipeline's command line. Reads the job with its command-line overrides (runner/overrides.h:
// --set, --limit, --output, --overwrite, --resume), keeps the runs BLOOM_RUNS selects
// (runner/select_runs.h), installs the stop handling of signals and of a lost launcher
// (runner/signals.h) for the life of the job, and hands the job to run_job (runner/driver.h);
// --min-accuracy X makes it exit 4 when a run ends below X (runner/accuracy_check.h).
#pragma once

#include "runner/command.h"

namespace bloom {

/// Registers `run JOB.yaml` (needs MPI: launch it under mpirun/srun for several ranks).
Command add_run_command(CLI::App& app);

}  // namespace bloom

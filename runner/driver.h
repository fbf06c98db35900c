// The job driver: for each run of a job, (re)build the layout and the model when they change,
// tokenize, plan and deal batches, evaluate this rank's share, and (world rank 0) write every
// result to the job's HDF5 file as batches finish.
#pragma once

#include <atomic>
#include <optional>
#include <string>

#include "runner/job_spec.h"
#include "runner/progress.h"
#include "runner/topology.h"

namespace bloom {

/// Set by the signal handlers (runner/signals.h): every group stops after its current batch, the
/// file is flushed and left resumable (complete = 0).
extern std::atomic<bool> g_stop_requested;

struct DriverOptions {
  std::string runner_version;
  ProgressMode progress = ProgressMode::Lines;  // rank 0's; see runner/progress.h
  std::optional<double> min_accuracy;  // --min-accuracy: exit 4 when a run's accuracy is below
};

/// Runs every run of `job`. Returns the process exit code: 0 when every run finished, 3 when
/// stopped by a signal (the file is resumable), 4 when every run finished but one's accuracy is
/// below opt.min_accuracy (runs already complete in a resumed file count too).
int run_job(const JobSpec& job, const MpiSession& mpi, const DriverOptions& opt);

}  // namespace bloom

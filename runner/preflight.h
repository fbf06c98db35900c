// Preflight: the cheap checks of a job's inputs that `runner validate` prints and `runner run`
// makes before its results file exists, so that a typo fails in the first second, with the same
// message from either command, and leaves no file behind (a left-over file would refuse the
// corrected job until output.resume or output.overwrite is set). Per run, in this order:
// model.path is a folder; its config.json; the layout (tp, dp) against the ranks and the heads;
// the checkpoint's headers (no weights read); model.tokenizer can be opened; the dataset (read
// whole: milliseconds for LAMBADA) has a passage for every data-parallel group. Then, once for
// the job: the results file is none of the job's inputs (runner/output_guard.h) and can be created (its folder exists, is a folder and is writable; an
// existing file needs output.resume or output.overwrite).
#pragma once

#include <cstdint>
#include <vector>

#include "engine/bloom_config.h"
#include "io/results_file.h"
#include "runner/job_spec.h"

namespace bloom {

/// What preflight found out about one run.
struct RunCheck {
  BloomConfig config;      ///< the model's config.json
  int world = 1;           ///< ranks the layout was checked against
  int tp = 1, dp = 1;      ///< the layout on that many ranks
  int64_t n_passages = 0;  ///< passages the run evaluates (dataset.limit applied)
};

/// How a job's results file is opened: output.resume -> Resume, output.overwrite -> Overwrite,
/// else CreateNew (a job's runs share the first run's output settings).
io::OpenMode output_mode(const RunSpec& run);

/// Checks every run of `job`; throws bloom::Error naming the run, the key and the file at the
/// first problem. `world_size` > 0: every run is checked against that many ranks; 0: each run
/// against its own tp x dp (tp x 1 when dp is unset). Returns one RunCheck per run, in order.
std::vector<RunCheck> preflight(const JobSpec& job, int world_size);

}  // namespace bloom

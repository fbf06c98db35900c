// Preflight: the cheap checks of a job's inputs that `runner validate` prints and `runner run`
// makes before its results file exists, so that a typo fails in the first second, with the same
// message from either command, and leaves no file behind (a left-over file would refuse the
// corrected job until output.resume or output.overwrite is set). Per run, in this order:
// model.path is a folder; its format and config (config.json or FT's config.ini); the weights
// that config asks for fit this machine's memory; the layout (tp, dp) against the ranks and the
// heads; the checkpoint's headers and tensor list (no weights read); model.tokenizer can be
// opened; a GPU for backend cuda; the dataset (read whole: milliseconds for LAMBADA) has a
// passage for every data-parallel group. Then, once for the job: the results file is none of
// the job's inputs (runner/output_guard.h) and can be created (a missing folder is created by
// `run`, as mkdir -p would; an
// existing file needs output.resume or output.overwrite).
// Validation separates "the job is valid" from "its inputs are not there yet" (MissingInput: a
// model folder, tokenizer or dataset that does not exist, with the command that makes it) and
// from "it cannot run on this machine" (no GPU for backend cuda).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/bloom_config.h"
#include "io/results_file.h"
#include "runner/job_spec.h"

namespace bloom {

/// What preflight found out about one run.
struct RunCheck {
  bool ready = true;       ///< every input is there (else config and n_passages are unknown)
  BloomConfig config;      ///< the model's config (config.json, or an FT folder's config.ini)
  ModelFormat format = ModelFormat::Auto;  ///< what model.path holds (never Auto once checked)
  int world = 1;           ///< ranks the layout was checked against
  int tp = 1, dp = 1;      ///< the layout on that many ranks
  int64_t n_passages = 0;  ///< passages the run evaluates (dataset.limit applied)
};

/// An input a job names that does not exist yet.
struct MissingInput {
  std::string key;                ///< model.path, model.tokenizer or dataset.path
  std::string path;               ///< as the job gives it
  std::string how;                ///< how to get it: the command that makes it, where it is
  std::vector<std::string> runs;  ///< the runs that need it
};

/// What `runner validate` reports.
struct Inspection {
  std::vector<RunCheck> runs;           ///< one per run, in order
  std::vector<MissingInput> missing;    ///< inputs not there yet (the job is valid otherwise)
  std::vector<std::string> not_here;    ///< why it cannot run on this machine (no GPU)
  std::string output_folder_to_create;  ///< the results file's folder, when `run` will create it
};

/// How a job's results file is opened: output.resume -> Resume, output.overwrite -> Overwrite,
/// else CreateNew (a job's runs share the first run's output settings).
io::OpenMode output_mode(const RunSpec& run);

/// `runner run`: checks every run of `job` and throws bloom::Error naming the run, the key and
/// the file at the first problem (a missing input with how to make it); creates the results
/// file's folder when it is missing. `world_size` > 0: every run is checked against that many
/// ranks; 0: each run against its own tp x dp (tp x 1 when dp is unset).
std::vector<RunCheck> preflight(const JobSpec& job, int world_size);

/// `runner validate`: the same checks, but inputs that do not exist are collected instead of
/// thrown (the checks that need them are skipped), devices are checked only when
/// `check_devices`, and nothing is created. Other problems throw as in preflight().
Inspection inspect_job(const JobSpec& job, int world_size, bool check_devices);

/// The sentence that says how to get a missing input of `run` (used by both functions).
std::string how_to_make(const RunSpec& run, const std::string& key);

}  // namespace bloom

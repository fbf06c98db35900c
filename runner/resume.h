// Resume that checks what it continues. Every run's group in a results file records what its
// rows depend on (its ResumeRecord): the run's settings with every default filled in and the
// layout resolved (`resolved_spec`), and the fingerprints of its model config, weights,
// tokenizer and dataset (runner/fingerprint.h). Resuming compares that record with the job's,
// for every run of the job the file holds (complete runs included), and refuses naming each
// difference, before the file is changed; then, after tokenizing, it checks every finished row
// it keeps against the passage it stands for, and says what it keeps and what it recomputes.
// Compared: model.dtype, model.backend, method, dataset.limit, batch.size, batch.max_tokens (the
// tokens per batch in use), parallelism.tp, and the four fingerprints. Recorded, not compared:
// the paths of the inputs (a moved or copied input with the same bytes gives the same results)
// and parallelism.dp (groups compute the same batches whatever their number: a job preempted
// on 4 nodes may resume on 2). Neither: output.*, load.threads.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "io/results_file.h"
#include "runner/evaluate.h"
#include "runner/fingerprint.h"
#include "runner/job_spec.h"

namespace bloom {

struct ResumeRecord {
  /// Every setting a run's rows depend on, and the input paths (for messages), key -> value.
  std::vector<std::pair<std::string, std::string>> settings;
  Fingerprints inputs;
};

/// The record of `run` launched on `world_size` ranks.
ResumeRecord resume_record(const RunSpec& run, int world_size, const Fingerprints& inputs);
/// The settings as stored in `resolved_spec`: a YAML mapping, one `key: value` per line.
std::string settings_yaml(const ResumeRecord& record);
/// Stores the record in a run's attributes (`resolved_spec` and the fingerprint items).
void add_resume_record(const ResumeRecord& record, io::RunAttributes& a);

/// Throws when `file` holds a run of `job` recorded for other settings or inputs than
/// `records` (one per run of the job, in order), or holds one without a record; the message
/// names the file, each such run and each difference, and says how to start afresh.
void check_resume(const io::ResultsFile& file, const JobSpec& job,
                  const std::vector<ResumeRecord>& records);

/// Opens the job's results file for writing as its output settings say: the writer lock first;
/// for a resume of an existing file, check_resume on a read-only view (a refusal leaves the file
/// as it was); then the writer, and the disk space for runs of `rows_per_run` passages on
/// `world_size` ranks. World rank 0 only.
std::unique_ptr<io::ResultsFile> open_results_file(const JobSpec& job,
                                                   const std::vector<ResumeRecord>& records,
                                                   const std::vector<int64_t>& rows_per_run,
                                                   int world_size, const std::string& runner_version);

/// What resuming one run keeps and recomputes.
struct ResumePlan {
  int64_t kept = 0, recomputed = 0;
};
/// Checks the finished rows of `run` in `file` against the passages of this job (`data`, in
/// dataset order) and the tokens per batch now in use: each kept row must hold its passage, its
/// context length and its target tokens. Throws naming the first row that does not.
ResumePlan check_kept_rows(const io::ResultsFile& file, const RunSpec& run,
                           const std::vector<TokenizedPassage>& data, int64_t max_tokens);

}  // namespace bloom

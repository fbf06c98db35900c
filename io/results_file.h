// HDF5 results of one job, schema "bloom-eval/2" (documented in io/RESULTS.md): root attributes
// describing the job, one group per run under /runs/<name> with run attributes, per-passage
// prediction datasets (fixed size, rows in dataset order, written in any order with a `done` flag)
// and per-batch timing datasets (extensible, appended as batches finish).
// Every write call flushes the file, so a killed job keeps what it wrote and can be resumed;
// the root attribute `complete` stays 0 until the job says otherwise.
// Single-writer: one process (the job's rank 0) owns the file, and holds its WriterLock
// (io/results_lock.h) from before the file is touched until it is closed. A new file is written
// as "<path>.partial" and appears at its path with its first finished batch (or when its writer
// ends without an error): a file at the path always holds something to resume
// (io/results_storage.h). Damage is detected, not read: checksums on every chunk, row and
// group's attributes, and the first read of an existing file runs in a child process
// (io/results_integrity.h). HDF5 stays out of this header.
// Files of schema "bloom-eval/1" (runners before the statistics and provenance attributes) are
// read too, read-only: the attributes /1 did not have read as empty, its `perplexity` as
// token_perplexity.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "io/results_lock.h"

namespace bloom::io {

/// The schema string stored in every results file's root attribute `schema`.
inline constexpr const char* kResultsSchema = "bloom-eval/2";
/// The previous schema, still read (ReadOnly) by the reader and `runner report`.
inline constexpr const char* kResultsSchemaV1 = "bloom-eval/1";

/// One evaluated passage. `target_len` in the file is target_ids.size().
struct PassageResult {
  int64_t index = 0;                  ///< the passage's line index in the dataset file
  bool correct = false;               ///< every target token was the argmax
  double target_logprob = 0.0;        ///< sum of log-softmax over the target tokens
  int32_t context_len = 0;            ///< context tokens
  std::vector<int32_t> target_ids;    ///< target tokens
  std::vector<int32_t> predicted_ids; ///< argmax at each target position (same length as target_ids)
};

/// Timing of one batch on one rank; one row of /runs/<name>/timings.
struct BatchTiming {
  int64_t batch = 0;
  int32_t rank = 0, dp_rank = 0, tp_rank = 0, n_sequences = 0;
  int64_t n_tokens = 0;
  double forward_seconds = 0.0, comm_seconds = 0.0, wait_seconds = 0.0;
  double start_seconds = 0.0;  ///< seconds since the run started
};

/// Attributes of /runs/<name> (io/RESULTS.md, "Run attributes"). Extra names must not repeat a
/// fixed name or each other.
struct RunAttributes {
  std::string model, dtype, backend;  ///< model: the model folder's absolute path
  int64_t batch_size = 0, max_tokens = 0 /* 0: unset */, tp = 1, dp = 1;
  int64_t n_examples = 0;  ///< always written as the run's row count; 0 or that count when given
  // Statistics over the rows (io/run_summary.h); placeholders (0) until the run is complete.
  int64_t n_correct = 0;
  double accuracy = 0.0, accuracy_stderr = 0.0, accuracy_ci95_low = 0.0, accuracy_ci95_high = 0.0;
  double token_perplexity = 0.0;    ///< exp(-sum target_logprob / sum target_len) (/1: `perplexity`)
  double passage_perplexity = 0.0;  ///< exp(-mean target_logprob): lm-eval's lambada perplexity
  double load_seconds = 0.0, tokenize_seconds = 0.0, evaluate_seconds = 0.0, wall_seconds = 0.0;
  double tokens_per_second = 0.0, passages_per_second = 0.0;
  /// Rows computed by the attempt that finished the run (what the throughput counts); less than
  /// n_examples when the run was resumed (its throughput is then partial). 0 in /1 files.
  int64_t n_evaluated = 0;
  int64_t peak_device_bytes = 0;
  // Provenance (absent in /1 files, where method, tokenizer, dataset and spec may be extras).
  std::string method;                     ///< e.g. teacher_forced
  std::string tokenizer, dataset;         ///< absolute paths of the tokenizer.json and dataset file
  std::string spec;                       ///< the run's job spec as YAML, every default filled in
  std::string overrides;                  ///< command-line overrides (`--set KEY=VALUE ...`), "" if none
  std::string started_utc, finished_utc;  ///< of the attempt that finished the run, ISO 8601 UTC
  std::string environment;                ///< JSON: hosts, CPU and GPU models, library versions
  std::string config_sha256, tokenizer_sha256, dataset_sha256, weights_fingerprint;
  bool complete = false;  ///< written by the writer (0 by begin_run, 1 by finish_run), not taken from here
  std::map<std::string, std::string> extra_strings;
  std::map<std::string, double> extra_numbers;
  std::map<std::string, int64_t> extra_ints;
};

/// Root attributes of a results file.
struct ResultsFileInfo {
  std::string schema, runner_version, job_spec, created;
  bool complete = false;
};

enum class OpenMode {
  CreateNew,  ///< error if the file exists (suggests output.resume / output.overwrite)
  Overwrite,  ///< replace any existing file (once the new one holds a finished batch)
  Resume,     ///< continue an existing results file (verified whole, schema checked, rebuilt as a new file with its finished rows; complete reset to 0), else create
  ReadOnly,   ///< open an existing results file for reading (the version/spec arguments are ignored)
};

/// What ResultsFile::verify found in a file that passed every check.
struct VerifySummary {
  int64_t n_runs = 0, n_complete_runs = 0, n_rows = 0, n_done_rows = 0;
  bool checksummed = true;  ///< false: written before checksums (only readable as is)
};

class ResultsFile {
 public:
  /// Writers (every mode but ReadOnly) take the file's WriterLock first, or use `lock` when it
  /// is one already held for this path. An existing file is verified (verify(), in a child
  /// process) before it is opened; Resume needs one written with checksums.
  ResultsFile(const std::string& path, OpenMode mode, const std::string& runner_version,
              const std::string& job_spec_text, WriterLock lock = WriterLock());
  ~ResultsFile();  ///< closes the file; never throws
  ResultsFile(const ResultsFile&) = delete;
  ResultsFile& operator=(const ResultsFile&) = delete;

  const std::string& path() const { return path_; }
  /// 2 for kResultsSchema, 1 for a kResultsSchemaV1 file opened ReadOnly.
  int schema_version() const { return schema_version_; }

  /// Throws, saying that only a read-only open can read it, for a file of schema version 1.
  static void check_continuable(const std::string& path, int schema_version);
  /// The checks the constructor makes before touching the file, for callers that want them
  /// earlier (the runner's preflight): an existing file needs Resume or Overwrite (ReadOnly: the
  /// file must exist); a file to create needs a writable folder. Throws bloom::Error.
  static void check_openable(const std::string& path, OpenMode mode);

  /// Reads every part of the file at `path` and checks it: HDF5's chunk checksums, each group's
  /// attribute checksum, each finished row's checksum, done flags, lengths, complete runs fully
  /// done with finite summaries. Throws bloom::Error saying what is damaged (in this
  /// process: HDF5 may crash on some damage; constructors call it in a child process).
  /// `require_checksums`: a file written without checksums is refused rather than read as is.
  static VerifySummary verify(const std::string& path, bool require_checksums);

  /// Before a writer is made: throws when the file-size limit or the free space of `path`'s
  /// file system is smaller than a file of these runs can take (see reserve_space).
  static void check_space(const std::string& path, const std::vector<int64_t>& rows_per_run,
                          int64_t ranks);
  /// Reserves the disk space the job's file can need (runs of these row counts, written by
  /// `ranks` ranks); throws naming the space needed and free when it is not there.
  void reserve_space(const std::vector<int64_t>& rows_per_run, int64_t ranks);

  /// Creates /runs/<name> with n_examples prediction rows (all done=0) and attributes `attrs`
  /// (complete=0). In Resume mode an existing unfinished run is reopened instead: n_examples must
  /// match, its attributes are replaced by `attrs` (a torn timings append was trimmed at open).
  void begin_run(const std::string& name, int64_t n_examples, const RunAttributes& attrs);
  /// True when the run exists and its `complete` attribute is 1.
  bool run_complete(const std::string& name) const;
  /// The `done` flag of every row of the run (for resume).
  std::vector<uint8_t> done_rows(const std::string& name) const;
  /// Writes results[i] at row rows[i] (row = position in the run's dataset order) with its
  /// checksum, sets done=1 for those rows after the data, then flushes. A non-finite
  /// target_logprob is refused (nothing of the call is written).
  void write_predictions(const std::string& name, const std::vector<int64_t>& rows,
                         const std::vector<PassageResult>& results);
  /// Appends one row per timing to the run's timing datasets, then flushes.
  void append_timings(const std::string& name, const std::vector<BatchTiming>& timings);
  /// Replaces the run's attributes with `final_attrs`, sets its complete=1, flushes. Every row
  /// must be done and every number of `final_attrs` finite.
  void finish_run(const std::string& name, const RunAttributes& final_attrs);
  /// Sets the root attribute `complete` (1 once every run finished), flushes.
  void set_complete(bool complete);

  // Reading back (tests, resume, reports).
  ResultsFileInfo read_file_info() const;
  std::vector<std::string> run_names() const;  ///< in creation order
  /// Every row in dataset order; rows not done read as zero / empty. A done row that does not
  /// match its checksum throws.
  std::vector<PassageResult> read_predictions(const std::string& name) const;
  std::vector<BatchTiming> read_timings(const std::string& name) const;  ///< in append order
  RunAttributes read_run_attributes(const std::string& name) const;

 private:
  struct Unverified {};
  ResultsFile(const std::string& path, Unverified);  // ReadOnly, no child-process check (verify)
  VerifySummary verify_contents(bool require_checksums) const;
  // Resume: every run of the (verified) file at `from_path` into this new one, its finished
  // rows, attributes, timings (a torn append trimmed to its common rows) and `created`.
  void copy_contents(const std::string& from_path);
  // write_predictions without publishing (copy_contents publishes once everything is in).
  void write_rows(const std::string& name, const std::vector<int64_t>& rows,
                  const std::vector<PassageResult>& results);
  std::vector<BatchTiming> read_timings(const std::string& name, bool keep_common_rows) const;
  void open_existing();  // read-only
  void publish();  // the partial file becomes the file at path_
  void flush();    // H5Fflush, then the reservation renewed

  std::string path_;
  OpenMode mode_;
  int64_t file_ = -1;  // hid_t (int64_t in HDF5 >= 1.10; checked in io/hdf5_util.h)
  int schema_version_ = 2;
  WriterLock lock_;
  std::string open_path_;   // where the HDF5 file is: path_, or its partial file until published
  bool published_ = true;
  uint64_t reserved_bytes_ = 0;  // disk space held for the file (reserve_space)
  int uncaught_at_open_ = 0;  // std::uncaught_exceptions() when constructed
};

/// The HDF5 library's version, "1.10.8" (for provenance).
std::string hdf5_library_version();

}  // namespace bloom::io

// Internal to `runner report` (runner/report/report_cmd.h): the results files read into one summary per
// run, with the derived numbers the table, the JSON and the plots share (time breakdown, per-rank
// busy time, speed-up, accuracy flags), and small text helpers.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "io/results_file.h"
#include "io/run_summary.h"
#include "runner/report/report_cmd.h"

namespace bloom::report {

/// One world rank's share of a run: sums over its rows of /timings (last attempt only).
struct RankBusy {
  int32_t rank = 0, dp_rank = 0, tp_rank = 0;
  int64_t batches = 0, sequences = 0, tokens = 0;
  double forward_seconds = 0.0, comm_seconds = 0.0, wait_seconds = 0.0;
  double busy() const { return forward_seconds + comm_seconds; }
};

struct RunSummary {
  std::string file;  ///< the results file, as given on the command line
  std::string name;
  int schema_version = 2;          ///< of its file (1: bloom-eval/1)
  io::RunAttributes attrs;
  bool complete = false;
  int64_t n_rows = 0, n_done = 0;  ///< prediction rows; rows marked done
  /// Over the done rows (io/run_summary.h), complete or not: what the rows say.
  io::RunStatistics stats;
  int64_t n_correct = 0;           ///< stats.n_correct
  double accuracy = 0.0;           ///< stats.accuracy: n_correct / n_done
  int64_t ranks = 1;               ///< tp * dp
  int attempts = 0;                ///< evaluation attempts found in /timings (resume adds one)
  /// Resumed: the throughput attributes count only the attempt that finished the run (its
  /// n_evaluated rows; /1 files: more than one attempt in /timings). Shown marked, never
  /// compared: no speed-up, never the baseline, left out of the throughput plot.
  bool throughput_partial = false;
  std::vector<RankBusy> busy;      ///< one entry per world rank, by rank
  double forward_seconds = 0.0, comm_seconds = 0.0, wait_seconds = 0.0;  ///< rank-seconds
  /// Rank-seconds of the evaluation no rank spent computing or communicating:
  /// evaluate_seconds * ranks - (forward + comm), never below 0.
  double idle_seconds = 0.0;
  std::optional<double> speedup;   ///< passages/s over the baseline's (complete runs only)
  // Accuracy check against the other runs of the same model, dataset and passage count.
  int group_size = 1;              ///< runs in that group (this one included)
  double others_median_correct = 0.0;
  int64_t tolerance = 0;           ///< passages
  bool accuracy_flag = false;
  int reference_run = -1;          ///< the other run of the group closest to its median

  /// The run's name, or "FILE:NAME" (file name, else path) when several files hold that name.
  std::string label;

  std::string model_short() const;  ///< last path component of the model
};

struct FileSummary {
  std::string path;
  io::ResultsFileInfo info;
  int64_t n_runs = 0;
};

struct Report {
  std::vector<FileSummary> files;
  std::vector<RunSummary> runs;  ///< file order, then job order
  int baseline = -1;             ///< index into runs; -1 when no run is complete
  std::string baseline_rule;     ///< "slowest" or "--baseline"
  bool tolerance_overridden = false;
  int balance_run = -1;          ///< the run of the per-rank plot
};

/// Default accuracy tolerance for runs of `n` passages: max(3, ceil(0.2% of n)).
int64_t default_tolerance(int64_t n);
/// The text explaining the tolerance rule (footnote, JSON, REPORT.md say the same).
std::string tolerance_rule();

/// Reads every file (clear errors for files that are not ours, damaged or of another schema),
/// summarises every run, picks the baseline and sets the flags.
Report load_report(const std::vector<std::string>& files, const std::string& baseline,
                   int64_t tolerance, const std::string& balance_run);

/// The run named by `ref`: "NAME" (unique over the files) or "FILE:NAME" (FILE as given on the
/// command line or its file name). Throws listing the runs when nothing or several match.
int find_run(const Report& report, const std::string& ref);

/// The whole report as JSON (--json, and the input of runner/report/report_plots.py).
nlohmann::ordered_json report_json(const Report& report);

/// --run NAME --examples / --wrong / --diff OTHER: the passages, in options.format
/// (runner/report/report_examples.cpp).
int list_passages(const Report& report, const ReportOptions& options, std::ostream& out,
                  std::ostream& err);

/// --run NAME --lm-eval / --samples FILE: lm-evaluation-harness's results JSON and its
/// --log_samples lines for the run (runner/report/report_lm_eval.cpp).
int write_lm_eval(const Report& report, const ReportOptions& options, std::ostream& out,
                  std::ostream& err);

/// A run's input file (its `tokenizer` or `dataset` attribute): `path` when it exists, else for a
/// relative path (bloom-eval/1 files) the results file's folder and each folder above joined with
/// it; nullopt when none exists.
std::optional<std::string> resolve_input(const std::string& path, const std::string& results_file);

/// The run's attribute `key` (a fixed string attribute, or in /1 files an extra); "" if absent.
std::string run_string(const RunSummary& run, const std::string& key);

// ---- text helpers shared by the table and the passage listings ----

/// Printable one-line text: newlines and tabs become spaces, other control bytes "\xNN".
std::string one_line(const std::string& text);
/// Terminal columns of UTF-8 text (wide East Asian characters count 2, combining marks 0).
size_t display_width(const std::string& text);
/// The end of `text` that fits `width` columns, "…" first when cut.
std::string tail(const std::string& text, size_t width);
/// Word-wraps to `width` columns; lines after the first start with `indent`.
std::string wrap(const std::string& text, size_t width, const std::string& indent);
/// Pads to `width` display columns, on the left when `right` (numbers) else on the right.
std::string pad(const std::string& text, size_t width, bool right);
/// RFC 4180 field: quoted when it holds a comma, quote or newline.
std::string csv_field(const std::string& text);
/// "4.7 MiB" (binary units).
std::string human_bytes(int64_t bytes);

}  // namespace bloom::report

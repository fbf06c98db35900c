// `runner report RESULTS.h5 [...]`: sweep analysis of results files (schema bloom-eval/2, and /1
// of older runners; io/RESULTS.md) without writing any h5py code. runner/report/REPORT.md
// documents it for users.
//   - a table with one row per run (terminal columns, --csv or --json): layout, batching,
//     accuracy with its standard error and 95% interval, both perplexities, throughput (marked
//     partial for resumed runs), times, peak memory, speed-up over a baseline run, and a flag on
//     runs whose accuracy differs from the other runs of the same model by more than rounding
//     explains;
//   - --plot DIR: PNGs drawn by runner/report/report_plots.py (matplotlib) from the report's JSON;
//   - --run NAME --examples / --wrong / --diff OTHER: passages with their text, decoded with the
//     run's tokenizer and read from the run's dataset file; --diff adds the paired comparison
//     (McNemar's exact test, the interval of the accuracy difference);
//   - --run NAME --lm-eval / --samples FILE: lm-evaluation-harness's results JSON and samples.
// Needs no MPI. Every problem (not a results file, truncated file, other schema, unknown run,
// plotting failure) throws bloom::Error; runner/main.cpp prints it and exits 1.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

#include "runner/command.h"

namespace bloom {

struct ReportOptions {
  std::vector<std::string> files;  ///< results files, in the order given
  std::string format = "table";    ///< table, csv or json (applies to runs and to passages)
  std::string baseline;            ///< run the speed-up is relative to (default: the slowest)
  std::string plot_dir;            ///< write PNGs here (created if missing); empty: no plots
  std::string run;                 ///< NAME or FILE:NAME: the run of --examples/--wrong/--diff
                                   ///< and of the per-rank plot
  bool examples = false;           ///< list the passages of `run`
  bool wrong = false;              ///< only the misses (with diff: passages either run missed)
  std::string diff;                ///< list the passages where `run` and this run disagree
  bool lm_eval = false;            ///< print lm-eval's results JSON for `run`
  std::string samples;             ///< write lm-eval's --log_samples lines for `run` here
  int64_t limit = 0;               ///< list at most this many passages (0: all)
  int64_t tolerance = -1;          ///< accuracy flag threshold in passages (-1: the default rule)
  int context_chars = 60;          ///< context tail shown per passage
  std::string tokenizer;           ///< override the runs' `tokenizer` attribute
  std::string dataset;             ///< override the runs' `dataset` attribute
  std::string python;              ///< interpreter for --plot (default $BLOOM_PYTHON or python3)
  std::string plot_script;         ///< default $BLOOM_REPORT_PLOTS or runner/report/report_plots.py
};

/// Registers `report RESULTS.h5 [...]` (needs no MPI): the options fill a ReportOptions.
Command add_report_command(CLI::App& app);

/// Runs the report; tables go to `out`, warnings to `err`. Returns 0; throws bloom::Error.
int report_main(const ReportOptions& options, std::ostream& out, std::ostream& err);

}  // namespace bloom

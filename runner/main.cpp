// runner: the bloom-eval command line.
//   runner JOB.yaml | runner run JOB.yaml   evaluate every run of a job (under mpirun/srun too)
//   runner validate JOB.yaml [--world N]    expand and check a job, print the runs it would make
//   runner tokenize --tokenizer FILE        text lines (or {"text": ...} lines) -> JSON id arrays
//   runner make-model --like NAME ...       write a random HF-format BLOOM checkpoint
//   runner inspect MODEL_PATH               describe a model folder without loading it
//   runner report RESULTS.h5 [...]          tables, plots and passages of results files
// Every error is caught here: logged, flushed, and the MPI job aborted (a lone exit() would
// leave the other ranks waiting in a collective).
#include <unistd.h>

#include <csignal>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <mpi.h>
#include <spdlog/spdlog.h>

#include "core/check.h"
#include "runner/driver.h"
#include "runner/job_spec.h"
#include "runner/log.h"
#include "runner/tools/inspect_cmd.h"
#include "runner/tools/make_model.h"
#include "runner/select_runs.h"
#include "runner/report/report_cmd.h"  // report subcommand (issue 6)
#include "runner/tools/tokenize_cmd.h"
#include "runner/topology.h"
#include "runner/tools/validate_cmd.h"

#ifndef BLOOM_VERSION
#define BLOOM_VERSION "unknown"
#endif

namespace {

void on_signal(int) { bloom::g_stop_requested = true; }

// `runner JOB.yaml` means `runner run JOB.yaml`.
std::vector<std::string> normalize_args(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  static const char* kCommands[] = {"run", "validate", "tokenize", "make-model", "report",
                                    "inspect"};
  if (!args.empty() && args[0][0] != '-') {
    bool is_cmd = false;
    for (const char* c : kCommands) is_cmd = is_cmd || args[0] == c;
    if (!is_cmd) args.insert(args.begin(), "run");
  }
  return args;
}

}  // namespace

int main(int argc, char** argv) {
  // Past a file-size limit (ulimit -f, quotas) a write must fail with EFBIG and be reported like
  // a full disk, not kill the process with SIGXFSZ (whose default action also dumps core).
  std::signal(SIGXFSZ, SIG_IGN);
  CLI::App app{"bloom-eval runner " BLOOM_VERSION
               ": evaluates BLOOM language models on LAMBADA as described by a YAML job file, "
               "over MPI (data-parallel groups of tensor-parallel engines), writing every "
               "prediction and timing to HDF5."};
  app.set_version_flag("--version", BLOOM_VERSION);
  app.require_subcommand(1);
  bool verbose = false;
  app.add_flag("-v,--verbose", verbose, "debug logging");

  std::string job_path;
  auto* run = app.add_subcommand("run", "Evaluate every run of a job file (the default command: "
                                        "`runner JOB.yaml`). Launch under mpirun/srun for "
                                        "several ranks; jobs/README.md documents the keys.");
  run->add_option("job", job_path, "YAML job file")->required()->check(CLI::ExistingFile);

  std::string validate_path;
  int validate_world = 0;
  auto* validate = app.add_subcommand("validate", "Expand and check a job file without running "
                                                  "it; print the runs it would make.");
  validate->add_option("job", validate_path, "YAML job file")->required();
  validate->add_option("--world", validate_world,
                       "number of MPI ranks to check the layout against (default: tp x dp of "
                       "each run, or the ranks of this launch)");

  std::string tokenizer_path;
  auto* tokenize = app.add_subcommand("tokenize", "Read lines of text on stdin (a line holding a "
                                                  "JSON object with a \"text\" field is taken as "
                                                  "that text) and print one JSON array of token "
                                                  "ids per line.");
  tokenize->add_option("--tokenizer", tokenizer_path, "HF tokenizer.json")->required();

  bloom::MakeModelOptions mm;
  std::string shard = "5GB";
  std::string presets;
  for (const std::string& p : bloom::make_model_presets()) presets += (presets.empty() ? "" : ", ") + p;
  auto* make = app.add_subcommand("make-model", "Write a BLOOM checkpoint with random weights in "
                                                "HF's format (config.json + safetensors), for "
                                                "tests and benchmarks.");
  make->add_option("--like", mm.like, "shape preset: " + presets)->required();
  make->add_option("--dtype", mm.dtype, "fp32, fp16 or bf16")->default_val("fp16");
  make->add_option("--out", mm.out, "output folder")->required();
  make->add_option("--tokenizer", mm.tokenizer, "tokenizer.json to copy into the folder");
  make->add_option("--seed", mm.seed, "random seed")->default_val(0);
  make->add_option("--n-layer", mm.n_layer, "override the preset's layer count");
  make->add_option("--hidden", mm.hidden, "override the preset's hidden size");
  make->add_option("--n-head", mm.n_head, "override the preset's head count");
  make->add_option("--vocab", mm.vocab, "override the preset's vocabulary size");
  make->add_option("--max-shard-size", shard, "shard files above this size (e.g. 5GB)");
  make->add_option("--threads", mm.threads, "writer threads (0: all cores)");

  // --- report subcommand (issue 6; runner/report/report_cmd.h, runner/report/REPORT.md) ---
  bloom::ReportOptions rep;
  bool rep_csv = false, rep_json = false;
  auto* report = app.add_subcommand("report", "Summarise results files: one row per run (accuracy, "
                                              "perplexity, throughput, times, memory, speed-up), "
                                              "plots, and the passages of a run. runner/report/REPORT.md "
                                              "documents it.");
  report->add_option("results", rep.files, "results files (HDF5, schema bloom-eval/1)")->required();
  auto* rep_csv_flag = report->add_flag("--csv", rep_csv, "comma-separated values instead of a table");
  report->add_flag("--json", rep_json, "JSON instead of a table")->excludes(rep_csv_flag);
  report->add_option("--baseline", rep.baseline, "run the speed-up is relative to (NAME or FILE:NAME; "
                                                 "default: the slowest run)");
  report->add_option("--plot", rep.plot_dir, "write PNG plots (matplotlib) to this folder");
  report->add_option("--run", rep.run, "the run (NAME or FILE:NAME) of --examples/--wrong/--diff "
                                       "and of the per-rank plot");
  report->add_flag("--examples", rep.examples, "list the passages of --run");
  report->add_flag("--wrong", rep.wrong, "list only the passages --run got wrong (with --diff: "
                                         "that either run got wrong)");
  report->add_option("--diff", rep.diff, "list the passages where --run and this run disagree "
                                         "(predicted ids or correctness)");
  report->add_option("--limit", rep.limit, "list at most this many passages (0: all)");
  report->add_option("--tolerance", rep.tolerance, "flag runs whose correct count differs from the "
                                                   "other runs of the model by more than this many "
                                                   "passages (default: max(3, 0.2% of them))");
  report->add_option("--context-chars", rep.context_chars, "context tail shown per passage")
      ->default_val(60);
  report->add_option("--tokenizer", rep.tokenizer, "tokenizer.json to decode with (default: the "
                                                   "run's `tokenizer` attribute)");
  report->add_option("--dataset", rep.dataset, "dataset file with the passages (default: the run's "
                                               "`dataset` attribute)");
  report->add_option("--python", rep.python, "Python with matplotlib for --plot (default: "
                                             "$BLOOM_PYTHON or python3)");
  // --- end report ---
  bloom::InspectOptions insp;
  auto* inspect = bloom::add_inspect_command(app, &insp);

  const std::vector<std::string> args = normalize_args(argc, argv);
  std::vector<const char*> cargs = {argv[0]};
  for (const std::string& a : args) cargs.push_back(a.c_str());
  try {
    app.parse(static_cast<int>(cargs.size()), const_cast<char**>(cargs.data()));
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }

  // Commands that need no MPI.
  try {
    if (*tokenize) return bloom::tokenize_main(tokenizer_path, std::cin, std::cout);
    if (*inspect) return bloom::inspect_main(insp, std::cout);
    if (*report) {  // report subcommand (issue 6)
      rep.format = rep_csv ? "csv" : rep_json ? "json" : "table";
      return bloom::report_main(rep, std::cout, std::cerr);
    }
    if (*make) {
      bloom::setup_logging(0, 0, 0, verbose);
      mm.max_shard_bytes = bloom::parse_byte_size(shard);
      return bloom::make_model_main(mm);
    }
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }

  bloom::MpiSession mpi(&argc, &argv);
  bloom::setup_logging(mpi.world_rank(), 0, 0, verbose);
  try {
    if (*validate) {
      const int world = validate_world > 0 ? validate_world : 0;
      return bloom::validate_main(validate_path, world, mpi.world_rank() == 0);
    }
    std::signal(SIGTERM, on_signal);
    std::signal(SIGINT, on_signal);
    // BLOOM_RUNS picks runs of a sweep (Slurm job arrays: one point per array task).
    const bloom::JobSpec job = bloom::select_runs_from_env(bloom::load_job_spec(job_path));
    bloom::DriverOptions opt;
    opt.runner_version = BLOOM_VERSION;
    opt.progress_bar = isatty(STDOUT_FILENO) != 0;
    return bloom::run_job(job, mpi, opt);
  } catch (const std::exception& e) {
    spdlog::critical("{}", e.what());
    spdlog::default_logger()->flush();
    std::fflush(stdout);
    if (mpi.world_size() > 1) MPI_Abort(MPI_COMM_WORLD, 1);
    return 1;
  }
}

// runner: the bloom-eval command line.
//   runner JOB.yaml | runner run JOB.yaml   evaluate every run of a job (under mpirun/srun too)
//   runner validate JOB.yaml [--world N]    expand and check a job, print the runs it would make
//   runner tokenize --tokenizer FILE        text lines (or {"text": ...} lines) -> JSON id arrays
//   runner make-model --like NAME ...       write a random HF-format BLOOM checkpoint
//   runner inspect MODEL_PATH               describe a model folder without loading it
//   runner report RESULTS.h5 [...]          tables, plots and passages of results files
// -v (debug logs, source locations of errors) and -q (warnings and errors only) go anywhere on
// the line. Each command registers its own options (runner/command.h); this file only wires
// them and catches every error: printed on stderr, flushed, and the MPI job aborted (a lone
// exit() would leave the other ranks waiting in a collective). Exit codes: runner/command.h.
#include <csignal>
#include <cstdio>
#include <iostream>
#include <new>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <mpi.h>
#include <spdlog/spdlog.h>

#include "core/check.h"
#include "runner/command.h"
#include "runner/log.h"
#include "runner/report/report_cmd.h"
#include "runner/run_cmd.h"
#include "runner/tools/inspect_cmd.h"
#include "runner/tools/make_model_cmd.h"
#include "runner/tools/tokenize_cmd.h"
#include "runner/tools/validate_cmd.h"
#include "runner/topology.h"

#ifndef BLOOM_VERSION
#define BLOOM_VERSION "unknown"
#endif

namespace {

const char* const kFooter =
    "Exit codes (every command):\n"
    "  0  done: every run finished (validate: the job is valid and its inputs are there)\n"
    "  1  failed: an error (bad input, a fault); the message on stderr says what and where\n"
    "  2  usage: the command line is wrong (unknown option, missing or unreadable job file)\n"
    "  3  stopped by a signal (SIGTERM, SIGINT) or a lost launcher: the results file is\n"
    "     resumable (rerun with output.resume: true)\n"
    "  4  finished, but a run's accuracy is below --min-accuracy\n"
    "Errors go to stderr; -v adds their source location (for bug reports).\n";

bool is_global_flag(const std::string& a) {
  return a == "-v" || a == "--verbose" || a == "-q" || a == "--quiet";
}

// `runner [-v|-q] JOB.yaml` means `runner [-v|-q] run JOB.yaml`.
std::vector<std::string> normalize_args(int argc, char** argv,
                                        const std::vector<bloom::Command>& commands) {
  std::vector<std::string> args(argv + 1, argv + argc);
  size_t first = 0;
  while (first < args.size() && is_global_flag(args[first])) ++first;
  if (first == args.size() || args[first].empty() || args[first][0] == '-') return args;
  for (const bloom::Command& c : commands)
    if (args[first] == c.cli->get_name()) return args;
  args.insert(args.begin() + static_cast<std::ptrdiff_t>(first), "run");
  return args;
}

// What users read for an error: the message; with -v the source location too; under several
// ranks the rank and host it came from (an error of one rank names its node).
std::string describe(const std::exception& e, bloom::Verbosity v, bool several_ranks) {
  if (dynamic_cast<const std::bad_alloc*>(&e))
    return std::string("out of memory (") + e.what() + "); rerun with -v to see where";
  const auto* b = dynamic_cast<const bloom::Error*>(&e);
  if (b == nullptr) return e.what();
  if (v == bloom::Verbosity::Verbose && !b->where().empty())
    return b->message() + " [" + b->where() + "]";
  if (several_ranks && !b->origin().empty()) return b->message() + " [" + b->origin() + "]";
  return b->message();
}

// A command that needs MPI: the session, the rank-prefixed log, and on error an abort of every
// rank.
int run_with_mpi(const bloom::Command& command, bloom::CommandContext ctx, int* argc, char*** argv) {
  std::optional<bloom::MpiSession> mpi;
  try {
    mpi.emplace(argc, argv);
    bloom::setup_logging(mpi->world_rank(), ctx.verbosity);
    ctx.mpi = &*mpi;
    return command.run(ctx);
  } catch (const std::exception& e) {
    const bool several = mpi && mpi->world_size() > 1;
    if (mpi) {
      spdlog::critical("{}", describe(e, ctx.verbosity, several));
      spdlog::default_logger()->flush();
    } else {  // MPI itself did not start: no logger yet
      std::cerr << "error: " << describe(e, ctx.verbosity, false) << "\n";
    }
    std::fflush(stdout);
    if (several) MPI_Abort(MPI_COMM_WORLD, bloom::kExitFailed);
    return bloom::kExitFailed;
  }
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
  app.footer(kFooter);
  app.fallthrough();  // -v/-q after the command name too (inherited by the subcommands below)
  bloom::CommandContext ctx;
  ctx.runner_version = BLOOM_VERSION;
  bool verbose = false, quiet = false;
  auto* v_flag = app.add_flag("-v,--verbose", verbose,
                              "debug logging (batch plans, per-batch timings) and the source "
                              "location of errors");
  app.add_flag("-q,--quiet", quiet, "warnings and errors only")->excludes(v_flag);
  const std::vector<bloom::Command> commands = {
      bloom::add_run_command(app),        bloom::add_validate_command(app),
      bloom::add_tokenize_command(app),   bloom::add_make_model_command(app),
      bloom::add_report_command(app),     bloom::add_inspect_command(app),
  };

  const std::vector<std::string> args = normalize_args(argc, argv, commands);
  std::vector<const char*> cargs = {argv[0]};
  for (const std::string& a : args) cargs.push_back(a.c_str());
  try {
    app.parse(static_cast<int>(cargs.size()), const_cast<char**>(cargs.data()));
  } catch (const CLI::ParseError& e) {
    // --help and --version are "errors" with code 0; every real usage error is 2 (CLI11's own
    // codes, 104-109, say which check failed, which the message already does).
    return app.exit(e) == 0 ? bloom::kExitOk : bloom::kExitUsage;
  }
  ctx.verbosity = verbose ? bloom::Verbosity::Verbose
                  : quiet ? bloom::Verbosity::Quiet
                          : bloom::Verbosity::Normal;
  const bloom::Command* chosen = nullptr;
  for (const bloom::Command& c : commands)
    if (c.cli->parsed()) chosen = &c;
  if (chosen->needs_mpi) return run_with_mpi(*chosen, ctx, &argc, &argv);
  try {
    return chosen->run(ctx);
  } catch (const std::exception& e) {
    std::cout.flush();
    std::cerr << "error: " << describe(e, ctx.verbosity, false) << "\n";
    return bloom::kExitFailed;
  }
}

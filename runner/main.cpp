// runner: the bloom-eval command line.
//   runner JOB.yaml | runner run JOB.yaml   evaluate every run of a job (under mpirun/srun too)
//   runner validate JOB.yaml [--world N]    expand and check a job, print the runs it would make
//   runner tokenize --tokenizer FILE        text lines (or {"text": ...} lines) -> JSON id arrays
//   runner make-model --like NAME ...       write a random HF-format BLOOM checkpoint
//   runner inspect MODEL_PATH               describe a model folder without loading it
//   runner report RESULTS.h5 [...]          tables, plots and passages of results files
// Each command registers its own options (runner/command.h); this file only wires them and
// catches every error: logged, flushed, and the MPI job aborted (a lone exit() would leave the
// other ranks waiting in a collective).
#include <csignal>
#include <cstdio>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <mpi.h>
#include <spdlog/spdlog.h>

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

// `runner JOB.yaml` means `runner run JOB.yaml`.
std::vector<std::string> normalize_args(int argc, char** argv,
                                        const std::vector<bloom::Command>& commands) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0][0] == '-') return args;
  for (const bloom::Command& c : commands)
    if (args[0] == c.cli->get_name()) return args;
  args.insert(args.begin(), "run");
  return args;
}

// A command that needs MPI: the session, the rank-prefixed log, and on error an abort of every
// rank.
int run_with_mpi(const bloom::Command& command, bloom::CommandContext ctx, int* argc, char*** argv) {
  std::optional<bloom::MpiSession> mpi;
  try {
    mpi.emplace(argc, argv);
    bloom::setup_logging(mpi->world_rank(), ctx.verbose);
    ctx.mpi = &*mpi;
    return command.run(ctx);
  } catch (const std::exception& e) {
    spdlog::critical("{}", e.what());
    spdlog::default_logger()->flush();
    std::fflush(stdout);
    if (mpi && mpi->world_size() > 1) MPI_Abort(MPI_COMM_WORLD, 1);
    return 1;
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
  bloom::CommandContext ctx;
  ctx.runner_version = BLOOM_VERSION;
  app.add_flag("-v,--verbose", ctx.verbose, "debug logging");
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
    return app.exit(e);
  }
  const bloom::Command* chosen = nullptr;
  for (const bloom::Command& c : commands)
    if (c.cli->parsed()) chosen = &c;
  if (chosen->needs_mpi) return run_with_mpi(*chosen, ctx, &argc, &argv);
  try {
    return chosen->run(ctx);
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
}

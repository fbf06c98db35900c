// A subcommand of `runner`. Each registers its own options with an add_<name>_command(CLI::App&)
// function beside its code (runner/run_cmd.h, runner/tools/*_cmd.h, runner/report/report_cmd.h)
// and hands back a Command; runner/main.cpp only wires them: it parses, starts MPI (and the
// rank-prefixed log) for the commands that need it, runs the chosen one and catches what it
// throws. A new command is one add_<name>_command and one line in main.cpp's list.
// Exit codes are the same for every command (`runner --help` and the README list them).
#pragma once

#include <functional>
#include <string>

#include "runner/log.h"

namespace CLI {
class App;
}

namespace bloom {

class MpiSession;

/// The process exit codes of every command.
enum ExitCode : int {
  kExitOk = 0,                 ///< done: every run finished / the job is valid and ready
  kExitFailed = 1,             ///< an error (bad input, a fault); the message says what and where
  kExitUsage = 2,              ///< the command line is wrong (CLI11's parse errors, a bad job path)
  kExitStopped = 3,            ///< stopped by a signal or a lost launcher; the file is resumable
  kExitBelowMinAccuracy = 4,   ///< finished, but a run scored below --min-accuracy
};

/// What main gives the chosen command when it runs it.
struct CommandContext {
  Verbosity verbosity = Verbosity::Normal;  ///< -q / -v
  std::string runner_version;               ///< `runner --version`
  const MpiSession* mpi = nullptr;          ///< set for commands with needs_mpi, else null
};

struct Command {
  CLI::App* cli = nullptr;  ///< the subcommand: cli->parsed() after parsing says it was chosen
  bool needs_mpi = false;   ///< main starts MPI and the rank-prefixed log before run()
  /// The command's body, with its options parsed; returns the exit code, throws bloom::Error.
  std::function<int(const CommandContext&)> run;
};

}  // namespace bloom

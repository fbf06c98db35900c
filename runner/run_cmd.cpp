// `runner run` (see run_cmd.h).
#include "runner/run_cmd.h"

#include <unistd.h>

#include <csignal>
#include <memory>
#include <string>

#include <CLI/CLI.hpp>

#include "runner/driver.h"
#include "runner/job_spec.h"
#include "runner/select_runs.h"

namespace bloom {

namespace {

void on_signal(int) { g_stop_requested = true; }

}  // namespace

Command add_run_command(CLI::App& app) {
  auto job_path = std::make_shared<std::string>();
  CLI::App* cli = app.add_subcommand("run", "Evaluate every run of a job file (the default "
                                            "command: `runner JOB.yaml`). Launch under "
                                            "mpirun/srun for several ranks; jobs/README.md "
                                            "documents the keys.");
  cli->add_option("job", *job_path, "YAML job file")->required()->check(CLI::ExistingFile);
  return {cli, /*needs_mpi=*/true, [job_path](const CommandContext& ctx) {
            std::signal(SIGTERM, on_signal);
            std::signal(SIGINT, on_signal);
            // BLOOM_RUNS picks runs of a sweep (Slurm job arrays: one point per array task).
            const JobSpec job = select_runs_from_env(load_job_spec(*job_path));
            DriverOptions opt;
            opt.runner_version = ctx.runner_version;
            opt.progress_bar = isatty(STDOUT_FILENO) != 0;
            return run_job(job, *ctx.mpi, opt);
          }};
}

}  // namespace bloom

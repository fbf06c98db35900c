// `runner run` (see run_cmd.h).
#include "runner/run_cmd.h"

#include <unistd.h>

#include <csignal>
#include <memory>
#include <string>

#include <CLI/CLI.hpp>

#include "runner/accuracy_check.h"
#include "runner/driver.h"
#include "runner/job_spec.h"
#include "runner/overrides.h"
#include "runner/select_runs.h"

namespace bloom {

namespace {

void on_signal(int) { g_stop_requested = true; }

}  // namespace

Command add_run_command(CLI::App& app) {
  struct Args {
    std::string job_path;
    OverrideOptions overrides;
    std::string min_accuracy;
  };
  auto args = std::make_shared<Args>();
  CLI::App* cli = app.add_subcommand("run", "Evaluate every run of a job file (the default "
                                            "command: `runner JOB.yaml`). Launch under "
                                            "mpirun/srun for several ranks; jobs/README.md "
                                            "documents the keys.");
  cli->add_option("job", args->job_path, "YAML job file")->required()->check(CLI::ExistingFile);
  add_override_options(*cli, args->overrides);
  cli->add_option("--min-accuracy", args->min_accuracy,
                  "after writing the results, exit with code 4 when a run's accuracy is below "
                  "this: a fraction (0.35) or, like FasterTransformer's --acc-threshold, a "
                  "percentage (35%)");
  return {cli, /*needs_mpi=*/true, [args](const CommandContext& ctx) {
            std::signal(SIGTERM, on_signal);
            std::signal(SIGINT, on_signal);
            // BLOOM_RUNS picks runs of a sweep (Slurm job arrays: one point per array task).
            DriverOptions opt;
            if (!args->min_accuracy.empty()) opt.min_accuracy = parse_min_accuracy(args->min_accuracy);
            const JobSpec job =
                select_runs_from_env(load_job_spec(args->job_path, overrides_of(args->overrides)));
            opt.runner_version = ctx.runner_version;
            opt.progress_bar = isatty(STDOUT_FILENO) != 0;
            return run_job(job, *ctx.mpi, opt);
          }};
}

}  // namespace bloom

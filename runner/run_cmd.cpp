// `runner run` (see run_cmd.h).
#include "runner/run_cmd.h"

#include <memory>
#include <optional>
#include <string>

#include <CLI/CLI.hpp>

#include "runner/accuracy_check.h"
#include "runner/driver.h"
#include "runner/job_spec.h"
#include "runner/launcher_watch.h"
#include "runner/overrides.h"
#include "runner/progress.h"
#include "runner/select_runs.h"
#include "runner/signals.h"

namespace bloom {

Command add_run_command(CLI::App& app) {
  struct Args {
    std::string job_path;
    OverrideOptions overrides;
    std::string min_accuracy;
    std::string progress;  // empty: default_progress_mode
  };
  auto args = std::make_shared<Args>();
  CLI::App* cli = app.add_subcommand("run", "Evaluate every run of a job file (the default "
                                            "command: `runner JOB.yaml`). Launch under "
                                            "mpirun/srun for several ranks; jobs/README.md "
                                            "documents the keys. SIGINT (Ctrl-C) stops after "
                                            "the current batch, a second one at once; SIGTERM "
                                            "within a second: exit code 3, the results file "
                                            "resumable.");
  cli->add_option("job", args->job_path, "YAML job file")->required()->check(job_file_problem);
  add_override_options(*cli, args->overrides);
  cli->add_option("--min-accuracy", args->min_accuracy,
                  "after writing the results, exit with code 4 when a run's accuracy is below "
                  "this: a fraction (0.35) or, like FasterTransformer's --acc-threshold, a "
                  "percentage (35%)");
  cli->add_option("--progress", args->progress,
                  "bar (redrawn in place), lines (a log line every 10 s) or none; default: the "
                  "bar on an interactive terminal of a single-process run, else lines")
      ->check(CLI::IsMember({"bar", "lines", "none"}));
  return {cli, /*needs_mpi=*/true, [args](const CommandContext& ctx) {
            DriverOptions opt;
            if (!args->min_accuracy.empty()) opt.min_accuracy = parse_min_accuracy(args->min_accuracy);
            // BLOOM_RUNS picks runs of a sweep (Slurm job arrays: one point per array task).
            const JobSpec job =
                select_runs_from_env(load_job_spec(args->job_path, overrides_of(args->overrides)));
            const int rank = ctx.mpi->world_rank();
            StopOptions stop;
            stop.results_path = job.runs.front().output.path;
            stop.announce = rank == 0;
            stop.writes_results = rank == 0;
            stop.watch_launcher = ctx.mpi->world_size() > 1 || under_launcher();
            StopWatcher watcher(stop);
            opt.runner_version = ctx.runner_version;
            opt.progress = !args->progress.empty()         ? parse_progress_mode(args->progress)
                           : ctx.verbosity == Verbosity::Quiet ? ProgressMode::None
                                                             : default_progress_mode(
                                                                   ctx.mpi->world_size());
            const int code = run_job(job, *ctx.mpi, opt);
            watcher.job_returned();
            return code;
          }};
}

}  // namespace bloom

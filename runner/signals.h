// How `runner run` stops before its job is done, on every rank:
//   SIGINT (Ctrl-C)  1st: acknowledged at once; every group stops after its current batch.
//                    2nd: stop now.
//   SIGTERM, SIGHUP  Slurm's time limit, scancel, mpirun passing on a Ctrl-C, a closed terminal:
//                    the current batch is kept if it ends within the grace (kTermGraceSeconds),
//                    else stop now; a 2nd signal: stop now. (SIGHUP stays ignored under nohup.)
//   launcher gone    mpirun or srun's step daemon was killed (runner/launcher_watch.h): stop now.
// "Stop now" abandons the batch in flight (resume recomputes it): a watcher thread waits until no
// write of the results file is in progress (ResultsWriteGuard), says so, and ends the process
// with exit code 3. Every write flushes the file, so between writes it is exactly what a resume
// continues; nothing else is left to finish (a lost peer or launcher cannot be waited for).
// The stop after the current batch is the driver's (g_stop_requested, runner/driver.h).
#pragma once

#include <memory>
#include <mutex>
#include <string>

namespace bloom {

/// Seconds a SIGTERM leaves the batch in flight on world rank 0 (the others get half a second
/// more, so that the rank writing the file ends first). Under mpirun the ranks have about
/// 1-2 s before mpirun's SIGKILL follows its SIGTERM; Slurm's KillWait is 30 s by default.
inline constexpr double kTermGraceSeconds = 0.5;

struct StopOptions {
  std::string results_path;     ///< named in the messages
  bool announce = false;        ///< this rank acknowledges signals (world rank 0)
  bool writes_results = false;  ///< this rank writes the file (it stops first)
  bool watch_launcher = false;  ///< stop when the launcher is gone (under mpirun/srun)
};

/// Installs the handlers and starts the watcher thread; the destructor stops the thread and
/// restores the previous handlers. One at a time per process.
class StopWatcher {
 public:
  explicit StopWatcher(const StopOptions& options);
  ~StopWatcher();
  StopWatcher(const StopWatcher&) = delete;
  StopWatcher& operator=(const StopWatcher&) = delete;
  /// The job returned (done or stopped after a batch): no stop-now from here on.
  void job_returned();

 private:
  struct State;
  std::unique_ptr<State> state_;
};

/// Held (RAII) around each write of the results file: a stop now waits until it is released.
class ResultsWriteGuard {
 public:
  ResultsWriteGuard();
  ~ResultsWriteGuard();
  ResultsWriteGuard(const ResultsWriteGuard&) = delete;
  ResultsWriteGuard& operator=(const ResultsWriteGuard&) = delete;
};

}  // namespace bloom

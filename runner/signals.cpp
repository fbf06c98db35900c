// Signals and a lost launcher (see signals.h). The handler only counts the signal, raises the
// driver's stop flag and wakes the watcher through a pipe (all async-signal-safe); everything
// else (messages, deadlines, the stop now) happens on the watcher thread, which makes no MPI
// call and touches no HDF5 object.
#include "runner/signals.h"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <optional>
#include <thread>

#include <spdlog/spdlog.h>

#include "core/check.h"
#include "runner/command.h"
#include "runner/driver.h"
#include "runner/launcher_watch.h"

namespace bloom {

namespace {

using Clock = std::chrono::steady_clock;

std::recursive_timed_mutex g_write_mutex;
std::atomic<int> g_n_interrupt{0}, g_n_terminate{0}, g_last_terminate{SIGTERM};
std::atomic<int> g_wake_fd{-1};

extern "C" void on_stop_signal(int sig) {
  const int saved = errno;
  if (sig == SIGINT) {
    g_n_interrupt.fetch_add(1);
  } else {
    g_last_terminate.store(sig);
    g_n_terminate.fetch_add(1);
  }
  g_stop_requested.store(true);
  const int fd = g_wake_fd.load();
  if (fd >= 0) {
    const char c = 1;
    [[maybe_unused]] const ssize_t n = write(fd, &c, 1);
  }
  errno = saved;
}

const char* signal_name(int sig) { return sig == SIGHUP ? "SIGHUP" : "SIGTERM"; }

}  // namespace

struct StopWatcher::State {
  StopOptions opt;
  LauncherWatch launcher{false};
  int pipe_fd[2] = {-1, -1};
  std::atomic<bool> quit{false}, returned{false};
  std::thread thread;
  struct sigaction old_int {}, old_term {}, old_hup {}, old_pipe {};
  bool hup_installed = false;

  void watch();
  void stop_now(const std::string& reason, bool signalled = true);
};

void StopWatcher::State::stop_now(const std::string& reason, bool signalled) {
  // A write in progress is finished first (it ends with a flush); one that takes longer than
  // this is stuck (a hung file system) and is abandoned too.
  std::unique_lock<std::recursive_timed_mutex> lock(g_write_mutex, std::defer_lock);
  const bool clean = lock.try_lock_for(std::chrono::seconds(10));
  if (returned.load()) return;  // the job got there first: main exits normally
  // Without a launcher the output has nowhere to go (and a pipe no one reads could block).
  if (opt.announce && signalled) {
    // The words of the driver's stop after a batch, so that logs and scripts see one message.
    spdlog::warn("{}: stopping now; the batch in flight is abandoned (resume recomputes it); {}; "
                 "{} keeps every finished batch, rerun with output.resume: true to continue{}",
                 reason, signalled ? "stopped by a signal" : "stopped", opt.results_path,
                 clean ? "" : " (a write of it did not finish within 10 s and was cut short)");
  }
  spdlog::default_logger()->flush();
  std::fflush(nullptr);
  _exit(kExitStopped);  // no destructor, no MPI_Finalize: peers and launcher may be gone
}

void StopWatcher::State::watch() {
  int seen = 0;
  std::optional<Clock::time_point> deadline;
  // The rank writing the file stops first; the others, once it is gone, are ended by the
  // launcher or stop themselves.
  const double grace = kTermGraceSeconds + (opt.writes_results ? 0.0 : 0.5);
  while (!quit.load()) {
    pollfd p{pipe_fd[0], POLLIN, 0};
    if (poll(&p, 1, 100) > 0 && (p.revents & POLLIN)) {
      char buf[64];
      while (read(pipe_fd[0], buf, sizeof(buf)) > 0) {
      }
    }
    if (quit.load() || returned.load()) return;
    const int n_int = g_n_interrupt.load(), n_term = g_n_terminate.load();
    if (n_int + n_term > seen) {
      seen = n_int + n_term;
      if (seen >= 2) {
        stop_now(n_int >= 2 ? "a second Ctrl-C" : "a second signal");
      } else if (n_int == 1) {
        if (opt.announce)
          spdlog::warn("Ctrl-C: stopping after the current batch (the results file stays "
                       "resumable); Ctrl-C again to stop now");
      } else {
        const char* name = signal_name(g_last_terminate.load());
        if (opt.announce)
          spdlog::warn("{}: stopping; the batch in flight is kept if it ends within {} s",
                       name, kTermGraceSeconds);
        deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                      std::chrono::duration<double>(grace));
      }
    }
    if (deadline && Clock::now() >= *deadline)
      stop_now(fmt::format("{}: the batch in flight did not end within {} s",
                           signal_name(g_last_terminate.load()), kTermGraceSeconds));
    if (launcher.gone()) stop_now("the launcher (mpirun, srun) is gone", /*signalled=*/false);
  }
}

StopWatcher::StopWatcher(const StopOptions& options) : state_(std::make_unique<State>()) {
  State& s = *state_;
  s.opt = options;
  s.launcher = LauncherWatch(options.watch_launcher);
  BLOOM_CHECK(pipe2(s.pipe_fd, O_CLOEXEC | O_NONBLOCK) == 0, "cannot create a pipe: {}",
              std::strerror(errno));
  g_wake_fd.store(s.pipe_fd[1]);
  g_n_interrupt.store(0);
  g_n_terminate.store(0);
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;  // MPI and HDF5 calls in flight carry on; the flag is polled
  sigaction(SIGINT, &sa, &s.old_int);
  sigaction(SIGTERM, &sa, &s.old_term);
  struct sigaction hup {};
  sigaction(SIGHUP, nullptr, &hup);
  if (hup.sa_handler != SIG_IGN) {  // nohup: the user asked to outlive the terminal
    sigaction(SIGHUP, &sa, &s.old_hup);
    s.hup_installed = true;
  }
  // A log line to a launcher or terminal that is gone must fail (EPIPE), not kill the process
  // in the middle of a write of the results file.
  struct sigaction ign {};
  ign.sa_handler = SIG_IGN;
  sigaction(SIGPIPE, &ign, &s.old_pipe);
  s.thread = std::thread([&s] { s.watch(); });
}

void StopWatcher::job_returned() { state_->returned.store(true); }

StopWatcher::~StopWatcher() {
  State& s = *state_;
  s.quit.store(true);
  const char c = 1;
  [[maybe_unused]] const ssize_t n = write(s.pipe_fd[1], &c, 1);
  if (s.thread.joinable()) s.thread.join();
  sigaction(SIGINT, &s.old_int, nullptr);
  sigaction(SIGTERM, &s.old_term, nullptr);
  if (s.hup_installed) sigaction(SIGHUP, &s.old_hup, nullptr);
  sigaction(SIGPIPE, &s.old_pipe, nullptr);
  g_wake_fd.store(-1);
  close(s.pipe_fd[0]);
  close(s.pipe_fd[1]);
}

ResultsWriteGuard::ResultsWriteGuard() { g_write_mutex.lock(); }
ResultsWriteGuard::~ResultsWriteGuard() { g_write_mutex.unlock(); }

}  // namespace bloom

// The launcher watch: a process whose parent (its launcher) dies notices it; the launcher's
// environment says whether to watch at all.
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>

#include "runner/launcher_watch.h"

namespace bloom {
namespace {

TEST(LauncherWatch, EnvironmentOfTheLaunchers) {
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE", "SLURM_STEP_ID"})
    unsetenv(name);
  EXPECT_FALSE(under_launcher());
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "SLURM_STEP_ID"}) {
    setenv(name, "0", 1);
    EXPECT_TRUE(under_launcher()) << name;
    unsetenv(name);
  }
}

// middle (the "launcher") forks the watcher and exits once the watcher has recorded it; the
// watcher reports through a pipe whether it saw its launcher go within 2 s (and not before).
TEST(LauncherWatch, NoticesThatTheParentIsGone) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  const pid_t middle = fork();
  ASSERT_GE(middle, 0);
  if (middle == 0) {
    int ready[2];
    if (pipe(ready) != 0) _exit(2);
    const pid_t watcher = fork();
    if (watcher == 0) {
      close(ready[0]);
      LauncherWatch w(true);
      const bool early = w.gone();
      const char r = 'r';
      [[maybe_unused]] ssize_t n = write(ready[1], &r, 1);
      bool gone = false;
      for (int i = 0; i < 200 && !gone; ++i) {
        gone = w.gone();
        if (!gone) std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
      const LauncherWatch off(false);
      const char verdict = !early && gone && !off.gone() ? 'y' : 'n';
      n = write(fds[1], &verdict, 1);
      _exit(0);
    }
    close(ready[1]);
    char r;
    [[maybe_unused]] const ssize_t n = read(ready[0], &r, 1);
    _exit(0);
  }
  close(fds[1]);
  int status = 0;
  ASSERT_EQ(waitpid(middle, &status, 0), middle);
  char verdict = '?';
  ASSERT_EQ(read(fds[0], &verdict, 1), 1);
  close(fds[0]);
  EXPECT_EQ(verdict, 'y');
}

}  // namespace
}  // namespace bloom

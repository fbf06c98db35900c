// --progress: the names it takes, and the default: the live bar only for an interactive
// terminal of a single process that no launcher started (under mpirun the ranks' stdout is a
// pty even when the log goes to a file), else lines.
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "core/check.h"
#include "runner/progress.h"

namespace bloom {
namespace {

TEST(Progress, ModeNames) {
  EXPECT_EQ(parse_progress_mode("bar"), ProgressMode::Bar);
  EXPECT_EQ(parse_progress_mode("lines"), ProgressMode::Lines);
  EXPECT_EQ(parse_progress_mode("none"), ProgressMode::None);
  try {
    parse_progress_mode("fancy");
    FAIL() << "no error for --progress fancy";
  } catch (const Error& e) {
    EXPECT_EQ(e.message(), "--progress must be bar, lines or none, got 'fancy'");
  }
}

TEST(Progress, DefaultIsLinesUnderALauncherOrSeveralRanks) {
  const char* saved = std::getenv("OMPI_COMM_WORLD_SIZE");
  const std::string keep = saved ? saved : "";
  setenv("OMPI_COMM_WORLD_SIZE", "1", 1);
  EXPECT_EQ(default_progress_mode(1), ProgressMode::Lines);  // mpirun -n 1, pty or not
  unsetenv("OMPI_COMM_WORLD_SIZE");
  EXPECT_EQ(default_progress_mode(2), ProgressMode::Lines);
  // ctest gives tests a pipe for stdout: not a terminal either.
  EXPECT_EQ(default_progress_mode(1), ProgressMode::Lines);
  if (saved) setenv("OMPI_COMM_WORLD_SIZE", keep.c_str(), 1);
}

}  // namespace
}  // namespace bloom

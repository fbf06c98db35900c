// Tests of io/results_lock: a second writer of the same results file, in another process, is
// refused at once naming the holder, before it changes a byte of the file (an existing file and
// its overwrite); the lock ends with its holder (released, or killed), so the next writer gets it.
#include "io/results_lock.h"

#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>

#include <gtest/gtest.h>

#include "core/check.h"
#include "tests/test_support.h"
#include "io/results_file.h"

namespace bloom::io {
namespace {

namespace fs = std::filesystem;

class WriterLockTest : public bloom::testing::TempDirTest {
 protected:
  void SetUp() override {
    TempDirTest::SetUp();
    path_ = path("job.h5");
  }

  // Runs `body` in a child process; returns its exit code (0: no error; 1: bloom::Error with
  // its message written to `message_file`).
  int in_child(const std::function<void()>& body) {
    const pid_t child = fork();
    if (child == 0) {
      int code = 0;
      try {
        body();
      } catch (const Error& e) {
        std::ofstream(message_file()) << e.what();
        code = 1;
      }
      _exit(code);
    }
    int status = 0;
    waitpid(child, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  std::string message_file() const { return path("message.txt"); }
  std::string message() const {
    std::ifstream in(message_file());
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  std::string bytes() const {
    std::ifstream in(path_, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

  std::string path_;
};

TEST_F(WriterLockTest, SecondWriterIsRefusedAtOnceNamingTheHolder) {
  {  // an existing results file with a finished row
    ResultsFile w(path_, OpenMode::CreateNew, "v", "spec");
    w.begin_run("a", 1, RunAttributes());
    PassageResult r;
    r.target_ids = r.predicted_ids = {5};
    w.write_predictions("a", {0}, {r});
  }
  const std::string before = bytes();
  ResultsFile first(path_, OpenMode::Resume, "v", "spec");
  const std::string resumed = bytes();
  for (OpenMode mode : {OpenMode::Overwrite, OpenMode::Resume}) {
    const auto t0 = std::chrono::steady_clock::now();
    EXPECT_EQ(in_child([&] { ResultsFile second(path_, mode, "v2", "spec2"); }), 1);
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));
    EXPECT_NE(message().find("'" + path_ + "' is being written by another job"), std::string::npos) << message();
    EXPECT_NE(message().find(fmt::format("process {} on host", getpid())), std::string::npos) << message();
    EXPECT_EQ(bytes(), resumed) << "the second writer changed the file";
  }
  EXPECT_NE(before, "");
  EXPECT_EQ(first.done_rows("a"), std::vector<uint8_t>{1});  // the first writer is unharmed
}

TEST_F(WriterLockTest, ReleasedOrKilledHolderLetsTheNextWriterIn) {
  {
    WriterLock lock = WriterLock::acquire(path_);
    EXPECT_TRUE(lock.held());
    EXPECT_TRUE(fs::exists(WriterLock::lock_path_for(path_)));
  }
  EXPECT_FALSE(fs::exists(WriterLock::lock_path_for(path_)));  // released: no file left
  // A holder killed without releasing leaves its lock file, but no lock.
  const pid_t child = fork();
  if (child == 0) {
    auto* lock = new WriterLock(WriterLock::acquire(path_));
    (void)lock;
    _exit(0);
  }
  int status = 0;
  waitpid(child, &status, 0);
  ASSERT_TRUE(fs::exists(WriterLock::lock_path_for(path_)));
  WriterLock next = WriterLock::acquire(path_);
  EXPECT_TRUE(next.held());
  // A lock moved into a writer is the writer's: no second acquire in between.
  ResultsFile w(path_, OpenMode::CreateNew, "v", "spec", std::move(next));
  EXPECT_EQ(in_child([&] { WriterLock::acquire(path_); }), 1);
}

TEST_F(WriterLockTest, ReadersNeedNoLock) {
  { ResultsFile w(path_, OpenMode::CreateNew, "v", "spec"); }
  WriterLock lock = WriterLock::acquire(path_);
  ResultsFile r(path_, OpenMode::ReadOnly, "", "");
  EXPECT_TRUE(r.run_names().empty());
}

}  // namespace
}  // namespace bloom::io

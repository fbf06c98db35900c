// Tests of io/results_storage and how ResultsFile uses it: a new file stays "<path>.partial"
// until its first finished batch; a writer that fails before then leaves nothing at the path,
// one killed before then leaves a partial file the next writer removes; overwrite keeps the old
// file until the new one has a row; the space reservation refuses a file-size limit and a
// file system too small before anything is written, and is given back at the end.
#include "io/results_storage.h"

#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

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

class ResultsStorageTest : public bloom::testing::TempDirTest {
 protected:
  void SetUp() override {
    TempDirTest::SetUp();
    path_ = path("job.h5");
  }
  std::string partial() const { return storage::staging_path(path_); }

  std::string path_;
};

PassageResult row() {
  PassageResult r;
  r.target_logprob = -1.5;
  r.target_ids = r.predicted_ids = {42};
  return r;
}

std::string error_of(const std::function<void()>& body) {
  try {
    body();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST_F(ResultsStorageTest, FileAppearsWithItsFirstFinishedBatch) {
  ResultsFile w(path_, OpenMode::CreateNew, "v", "spec");
  w.begin_run("a", 2, RunAttributes());
  EXPECT_FALSE(fs::exists(path_));
  EXPECT_TRUE(fs::exists(partial()));
  w.write_predictions("a", {1}, {row()});
  EXPECT_TRUE(fs::exists(path_));
  EXPECT_FALSE(fs::exists(partial()));
  w.write_predictions("a", {0}, {row()});  // still writes the same (renamed) file
  EXPECT_EQ(w.done_rows("a"), (std::vector<uint8_t>{1, 1}));
}

TEST_F(ResultsStorageTest, WriterFailingBeforeItsFirstBatchLeavesNothing) {
  try {
    ResultsFile w(path_, OpenMode::CreateNew, "v", "spec");
    w.begin_run("a", 2, RunAttributes());
    BLOOM_FAIL("the model cannot be loaded");
  } catch (const Error&) {
  }
  EXPECT_FALSE(fs::exists(path_));
  EXPECT_FALSE(fs::exists(partial()));
  // ... so the same job, unchanged, can run again.
  ResultsFile again(path_, OpenMode::CreateNew, "v", "spec");
}

TEST_F(ResultsStorageTest, WriterEndingWithoutErrorPublishesWhatItHas) {
  { ResultsFile w(path_, OpenMode::CreateNew, "v", "spec"); }  // e.g. stopped by a signal
  EXPECT_TRUE(fs::exists(path_));
  EXPECT_FALSE(fs::exists(partial()));
}

TEST_F(ResultsStorageTest, PartialFileOfAKilledWriterIsReplaced) {
  const pid_t child = fork();
  if (child == 0) {  // killed before its first batch: no destructor runs
    auto* w = new ResultsFile(path_, OpenMode::CreateNew, "v", "spec");
    w->begin_run("a", 2, RunAttributes());
    _exit(0);
  }
  int status = 0;
  waitpid(child, &status, 0);
  ASSERT_TRUE(fs::exists(partial()));
  ASSERT_FALSE(fs::exists(path_));
  std::ofstream(partial(), std::ios::trunc) << "as damaged as a full disk leaves it";
  for (OpenMode mode : {OpenMode::CreateNew, OpenMode::Resume}) {
    ResultsFile w(path_, mode, "v", "spec");
    w.begin_run("a", 2, RunAttributes());
    w.write_predictions("a", {0}, {row()});
    EXPECT_EQ(w.done_rows("a"), (std::vector<uint8_t>{1, 0}));
    fs::remove(path_);
  }
}

TEST_F(ResultsStorageTest, OverwriteKeepsTheOldFileUntilTheNewOneHasARow) {
  std::ofstream(path_) << "the old results";
  {
    ResultsFile w(path_, OpenMode::Overwrite, "v", "spec");
    w.begin_run("a", 1, RunAttributes());
    std::ifstream in(path_);
    EXPECT_EQ(std::string(std::istreambuf_iterator<char>(in), {}), "the old results");
    w.write_predictions("a", {0}, {row()});
  }
  ResultsFile r(path_, OpenMode::ReadOnly, "", "");
  EXPECT_EQ(r.done_rows("a"), std::vector<uint8_t>{1});
}

TEST_F(ResultsStorageTest, EstimateCoversWhatAFileTakes) {
  const int64_t n = 3000;
  {
    ResultsFile w(path_, OpenMode::CreateNew, "v", "spec");
    w.reserve_space({n}, 2);
    w.begin_run("a", n, RunAttributes());
    for (int64_t b = 0; b < n / 10; ++b) {
      std::vector<int64_t> rows;
      std::vector<PassageResult> results;
      for (int64_t i = b * 10; i < b * 10 + 10; ++i) {
        PassageResult r = row();
        r.index = i;
        r.target_ids = r.predicted_ids = {1, 2, 3, 4};
        rows.push_back(i);
        results.push_back(r);
      }
      w.write_predictions("a", rows, results);
      BatchTiming t;
      w.append_timings("a", {t, t});
    }
    w.finish_run("a", RunAttributes());
  }
  const uint64_t size = fs::file_size(path_);
  EXPECT_LT(size, storage::estimate_bytes({n}, 2));
  // The reservation beyond the end was given back.
  struct stat st{};
  ASSERT_EQ(stat(path_.c_str(), &st), 0);
  EXPECT_LE(static_cast<uint64_t>(st.st_blocks) * 512, size + (64 << 10));
}

TEST_F(ResultsStorageTest, FileSizeLimitIsRefusedBeforeAnythingIsWritten) {
  const pid_t child = fork();
  if (child == 0) {
    struct rlimit limit{64 << 10, RLIM_INFINITY};
    setrlimit(RLIMIT_FSIZE, &limit);
    signal(SIGXFSZ, SIG_IGN);
    int code = 3;
    try {
      ResultsFile w(path_, OpenMode::CreateNew, "v", "spec");
      w.reserve_space({5153}, 1);
    } catch (const Error& e) {
      const std::string m = e.what();
      code = m.find("file-size limit (ulimit -f)") != std::string::npos &&
                     m.find("nothing was evaluated") != std::string::npos ? 1 : 2;
    }
    _exit(code);
  }
  int status = 0;
  waitpid(child, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 1) << status;
  EXPECT_FALSE(fs::exists(path_));
  EXPECT_FALSE(fs::exists(partial()));
}

TEST_F(ResultsStorageTest, SpaceThatIsNotThereIsRefused) {
  ResultsFile w(path_, OpenMode::CreateNew, "v", "spec");
  // An exabyte: no file system here has it.
  const std::string message = error_of([&] { w.reserve_space({int64_t{1} << 51}, 1); });
  EXPECT_NE(message.find("needs up to"), std::string::npos) << message;
  EXPECT_NE(message.find(path_), std::string::npos) << message;
}

}  // namespace
}  // namespace bloom::io

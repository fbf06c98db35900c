// Tests of runner/output_guard: an output that is an input, reached by the same path, through a
// symbolic link, a hard link or "..", is refused naming both; its lock and partial files too;
// an output beside the inputs is fine.
#include "runner/output_guard.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>

#include <gtest/gtest.h>

#include "core/check.h"

namespace bloom {
namespace {

namespace fs = std::filesystem;

class OutputGuardTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "bloom_guard_XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    fs::create_directories(dir_ + "/model/sub");
    for (const char* f : {"model/config.json", "model/tokenizer.json", "model/sub/w.safetensors",
                          "data.jsonl", "job.yaml"})
      std::ofstream(dir_ + "/" + f) << f;
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string refusal(const std::string& out) const {
    JobSpec j = parse_job_spec("name: j\nmodel:\n  path: " + dir_ + "/model\ndataset:\n  path: " +
                               dir_ + "/data.jsonl\noutput:\n  path: " + out + "\n", dir_ + "/job.yaml");
    try {
      check_output_is_no_input(j);
    } catch (const Error& e) {
      return e.what();
    }
    return "";
  }
  std::string dir_;
};

TEST_F(OutputGuardTest, InputsAreRefusedHoweverReached) {
  std::string m = refusal(dir_ + "/data.jsonl");
  EXPECT_NE(m.find("would overwrite an input of the job: it is dataset.path"), std::string::npos) << m;
  m = refusal(dir_ + "/model/../job.yaml");
  EXPECT_NE(m.find("the job file"), std::string::npos) << m;
  m = refusal(dir_ + "/model/tokenizer.json");
  EXPECT_NE(m.find("model.tokenizer"), std::string::npos) << m;
  m = refusal(dir_ + "/model/sub/w.safetensors");
  EXPECT_NE(m.find("a file of model.path"), std::string::npos) << m;
  fs::create_symlink(dir_ + "/data.jsonl", dir_ + "/link.h5");
  EXPECT_NE(refusal(dir_ + "/link.h5").find("dataset.path"), std::string::npos);
  fs::create_hard_link(dir_ + "/model/config.json", dir_ + "/hard.h5");
  EXPECT_NE(refusal(dir_ + "/hard.h5").find("a file of model.path"), std::string::npos);
  // output.path "data" would put its partial file on "data.partial": an input too.
  std::ofstream(dir_ + "/x.h5.partial") << "an input named like a partial file";
  JobSpec j = parse_job_spec("name: j\nmodel:\n  path: " + dir_ + "/model\ndataset:\n  path: " +
                             dir_ + "/x.h5.partial\noutput:\n  path: " + dir_ + "/x.h5\n", "job.yaml");
  try {
    check_output_is_no_input(j);
    ADD_FAILURE() << "partial file over an input not refused";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("its partial file"), std::string::npos) << e.what();
  }
}

TEST_F(OutputGuardTest, OutputBesideTheInputsIsFine) {
  EXPECT_EQ(refusal(dir_ + "/results.h5"), "");
  EXPECT_EQ(refusal(dir_ + "/model/results.h5"), "");
}

}  // namespace
}  // namespace bloom

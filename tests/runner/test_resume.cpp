// Tests of runner/resume: the record of a run (defaults filled, dp resolved), check_resume naming
// every difference of every run the file holds (complete ones too) and nothing for what does not
// count (input paths with the same bytes, output settings, load.threads), and check_kept_rows
// refusing a kept row that is not this job's passage or batches of another size.
#include "runner/resume.h"

#include <filesystem>
#include <functional>

#include <gtest/gtest.h>

#include "core/check.h"
#include "tests/test_support.h"

namespace bloom {
namespace {

namespace fs = std::filesystem;

std::string error_of(const std::function<void()>& body) {
  try {
    body();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

class ResumeTest : public bloom::testing::TempDirTest {
 protected:
  void SetUp() override {
    TempDirTest::SetUp();
    out_ = path("r.h5");
  }

  JobSpec job(const std::string& extra = "") const {
    return parse_job_spec("name: j\nmodel:\n  path: /models/a\ndataset:\n  path: /data/d.jsonl\n"
                          "output:\n  path: " + out_ + "\n" + extra, "job.yaml");
  }
  static Fingerprints prints(const std::string& tag = "") {
    Fingerprints f;
    f.config = "c" + tag;
    f.tokenizer = "t";
    f.dataset = "d" + tag;
    f.weights = "w";
    return f;
  }
  // A file holding run "j" recorded from `j` with 2 rows, row 0 finished.
  void write_file(const JobSpec& j, const Fingerprints& f, bool complete = false) {
    io::ResultsFile w(out_, io::OpenMode::CreateNew, "v", "spec");
    io::RunAttributes a;
    a.max_tokens = 4096;
    add_resume_record(resume_record(j.runs[0], 1, f), a);
    w.begin_run("j", 2, a);
    io::PassageResult r;
    r.index = 0;
    r.context_len = 3;
    r.target_ids = r.predicted_ids = {7, 8};
    w.write_predictions("j", {0}, {r});
    if (complete) {
      r.index = 1;
      w.write_predictions("j", {1}, {r});
      w.finish_run("j", a);
    }
  }
  void check(const JobSpec& j, const Fingerprints& f) const {
    const io::ResultsFile view(out_, io::OpenMode::ReadOnly, "", "");
    check_resume(view, j, {resume_record(j.runs[0], 1, f)});
  }

  std::string out_;
};

TEST_F(ResumeTest, RecordFillsDefaultsAndResolvesTheLayout) {
  const ResumeRecord r = resume_record(job("parallelism:\n  tp: 2\n").runs[0], 8, prints());
  const std::string yaml = settings_yaml(r);
  for (const char* line : {"model.dtype: fp32", "model.backend: cpu", "method: teacher_forced",
                           "batch.size: 16", "batch.max_tokens: 0", "dataset.limit: 0",
                           "parallelism.tp: 2", "parallelism.dp: 4",
                           "model.tokenizer: /models/a/tokenizer.json"})
    EXPECT_NE(yaml.find(line), std::string::npos) << line << " in\n" << yaml;
  io::RunAttributes a;
  add_resume_record(r, a);
  EXPECT_EQ(a.extra_strings.at("resolved_spec"), yaml);
  EXPECT_EQ(a.dataset_sha256, "d");
  EXPECT_EQ(a.weights_fingerprint, "w");
}

TEST_F(ResumeTest, SameSettingsAndBytesResume) {
  write_file(job(), prints());
  // Another path to the same bytes, output and loading settings: nothing that changes a row.
  check(parse_job_spec("name: j\nmodel:\n  path: /copy/of/a\ndataset:\n  path: /copy/d.jsonl\n"
                       "output:\n  path: " + out_ + "\n  resume: true\nload:\n  threads: 9\n", "job.yaml"),
        prints());
  // Another number of ranks: dp 2 instead of 1, the same batches.
  const JobSpec j = job();
  const io::ResultsFile view(out_, io::OpenMode::ReadOnly, "", "");
  check_resume(view, j, {resume_record(j.runs[0], 2, prints())});
}

TEST_F(ResumeTest, EveryDifferenceIsNamed) {
  write_file(job(), prints(), /*complete=*/true);
  const std::string message = error_of([&] {
    check(parse_job_spec("name: j\nmodel:\n  path: /models/b\n  dtype: bf16\ndataset:\n  path: "
                         "/data/d.jsonl\nbatch:\n  size: 8\noutput:\n  path: " + out_ + "\n", "job.yaml"),
          prints("2"));
  });
  for (const char* part : {"cannot resume results file", "run 'j' (complete)",
                           "model.dtype (file: fp32, job: bf16)", "batch.size (file: 16, job: 8)",
                           "model config (file: '/models/a' config_sha256 c, job: '/models/b' config_sha256 c2)",
                           "dataset (file: '/data/d.jsonl' dataset_sha256 d, job: '/data/d.jsonl' dataset_sha256 d2)",
                           "output.overwrite: true"})
    EXPECT_NE(message.find(part), std::string::npos) << part << " in\n" << message;
  EXPECT_EQ(message.find("weights"), std::string::npos) << message;  // the same fingerprint
}

TEST_F(ResumeTest, RunWithoutARecordIsRefused) {
  {
    io::ResultsFile w(out_, io::OpenMode::CreateNew, "v", "spec");
    w.begin_run("j", 2, io::RunAttributes());
  }
  const std::string message = error_of([&] { check(job(), prints()); });
  EXPECT_NE(message.find("no record of the settings and inputs"), std::string::npos) << message;
}

TEST_F(ResumeTest, KeptRowsMustBeThisJobsPassages) {
  write_file(job(), prints());
  const io::ResultsFile view(out_, io::OpenMode::ReadOnly, "", "");
  std::vector<TokenizedPassage> data(2);
  data[0].context_ids = {1, 2, 3};
  data[0].target_ids = {7, 8};
  data[1] = data[0];
  const ResumePlan plan = check_kept_rows(view, job().runs[0], data, 4096);
  EXPECT_EQ(plan.kept, 1);
  EXPECT_EQ(plan.recomputed, 1);
  std::string message = error_of([&] { check_kept_rows(view, job().runs[0], data, 1024); });
  EXPECT_NE(message.find("batches of at most 4096 tokens"), std::string::npos) << message;
  EXPECT_NE(message.find("set batch.max_tokens: 4096"), std::string::npos) << message;
  data[0].target_ids = {7, 9};
  message = error_of([&] { check_kept_rows(view, job().runs[0], data, 4096); });
  EXPECT_NE(message.find("finished row 0 does not belong to passage 0"), std::string::npos) << message;
  data.pop_back();
  message = error_of([&] { check_kept_rows(view, job().runs[0], data, 4096); });
  EXPECT_NE(message.find("it has 2 rows"), std::string::npos) << message;
  JobSpec other = job();
  other.runs[0].name = "not-there";
  EXPECT_EQ(check_kept_rows(view, other.runs[0], data, 1).recomputed, 1);
}

}  // namespace
}  // namespace bloom

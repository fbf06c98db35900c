// Job files: defaults, sweeps, environment expansion, errors that say where, and job paths that
// are not regular files (a directory, a FIFO: refused at once, never opened).
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "core/check.h"
#include "runner/job_spec.h"

namespace bloom {
namespace {

const char* kBase = R"(name: t
model:
  path: /m
dataset:
  path: /d.jsonl
output:
  path: /o.h5
)";

std::string error_of(const std::string& text) {
  try {
    parse_job_spec(text, "job.yaml");
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(JobSpec, DefaultsAndSingleRun) {
  const JobSpec j = parse_job_spec(kBase, "job.yaml");
  ASSERT_EQ(j.runs.size(), 1u);
  const RunSpec& r = j.runs[0];
  EXPECT_EQ(r.name, "t");
  EXPECT_EQ(r.model.tokenizer, "/m/tokenizer.json");
  EXPECT_EQ(r.model.dtype, "fp32");
  EXPECT_EQ(r.model.backend, "cpu");
  EXPECT_EQ(r.batch.size, 16);
  EXPECT_EQ(r.parallelism.tp, 1);
  EXPECT_FALSE(r.output.resume);
}

TEST(JobSpec, SweepIsACartesianProduct) {
  const JobSpec j = parse_job_spec(std::string(kBase) +
                                       "sweep:\n  parallelism.tp: [1, 2]\n  batch.size: [4, 8, 16]\n",
                                   "job.yaml");
  ASSERT_EQ(j.runs.size(), 6u);
  EXPECT_EQ(j.runs[0].name, "tp=1,size=4");
  EXPECT_EQ(j.runs[5].name, "tp=2,size=16");
  EXPECT_EQ(j.runs[5].parallelism.tp, 2);
  EXPECT_EQ(j.runs[5].batch.size, 16);
}

TEST(JobSpec, EnvironmentVariables) {
  setenv("BLOOM_TEST_MODEL", "/models/x", 1);
  unsetenv("BLOOM_TEST_UNSET");
  std::string t = kBase;
  t.replace(t.find("/m\n"), 2, "${BLOOM_TEST_MODEL}");
  EXPECT_EQ(parse_job_spec(t, "j").runs[0].model.path, "/models/x");
  t = kBase;
  t.replace(t.find("/m\n"), 2, "${BLOOM_TEST_UNSET:-/fallback}");
  EXPECT_EQ(parse_job_spec(t, "j").runs[0].model.path, "/fallback");
  t = kBase;
  t.replace(t.find("/m\n"), 2, "${BLOOM_TEST_UNSET}");
  EXPECT_NE(error_of(t).find("BLOOM_TEST_UNSET is not set"), std::string::npos);
}

TEST(JobSpec, ErrorsNameTheKeyAndLine) {
  EXPECT_NE(error_of(std::string(kBase) + "batch:\n  sise: 4\n").find("job.yaml:9:3: unknown key 'batch.sise' (did you mean 'batch.size'?)"),
            std::string::npos) << error_of(std::string(kBase) + "batch:\n  sise: 4\n");
  EXPECT_NE(error_of(std::string(kBase) + "batch:\n  size: many\n").find("job.yaml:9:9: batch.size must be an integer"),
            std::string::npos);
  EXPECT_NE(error_of(std::string(kBase) + "batch:\n  size: 0\n").find("batch.size must be >= 1"), std::string::npos);
  EXPECT_NE(error_of(std::string(kBase) + "model2: 1\n").find("unknown key 'model2'"), std::string::npos);
  EXPECT_NE(error_of("name: [unclosed\n").find("job.yaml:"), std::string::npos);
  EXPECT_NE(error_of("name: x\n").find("missing required key 'model.path'"), std::string::npos);
  EXPECT_NE(error_of(std::string(kBase) + "model2:\n  dtype: fp8\n").find("unknown key"), std::string::npos);
  std::string bad_dtype = kBase;
  bad_dtype.replace(bad_dtype.find("  path: /m\n"), 11, "  path: /m\n  dtype: fp8\n");
  EXPECT_NE(error_of(bad_dtype).find("model.dtype must be one of fp32, fp16, bf16, got 'fp8'"),
            std::string::npos);
  EXPECT_NE(error_of(std::string(kBase) + "sweep:\n  batch.sise: [1]\n").find("unknown sweep key"),
            std::string::npos);
  EXPECT_NE(error_of(std::string(kBase) + "sweep:\n  batch.size: []\n").find("non-empty list"),
            std::string::npos);
}

TEST(JobSpec, GuardsOfOddInput) {
  EXPECT_NE(error_of(std::string(kBase) + "load:\n  threads: 100000\n")
                .find("load.threads must be <= 256, got 100000"), std::string::npos);
  EXPECT_EQ(error_of(std::string(kBase) + "load:\n  threads: 256\n"), "");
  // A second document would be dropped by a plain YAML::Load.
  const std::string two = std::string(kBase) + "---\nname: other\n";
  EXPECT_NE(error_of(two).find("job.yaml:9: the job file holds 2 YAML documents"), std::string::npos)
      << error_of(two);
  EXPECT_EQ(error_of(std::string(kBase) + "---\n"), "");  // a trailing empty document holds nothing
  // Two sections of one name would be merged silently.
  EXPECT_NE(error_of(std::string(kBase) + "dataset:\n  limit: 3\n")
                .find("job.yaml:8:1: 'dataset' is given twice (first at line 4)"), std::string::npos)
      << error_of(std::string(kBase) + "dataset:\n  limit: 3\n");
  std::string dot = kBase;
  dot.replace(0, 7, "name: .");
  EXPECT_NE(error_of(dot).find("name must not be '.'"), std::string::npos) << error_of(dot);
  std::string cut = kBase;
  cut.replace(cut.find("  path: /d.jsonl\n"), 17, "  path: /d.jsonl\n  max_tokens: 1\n");
  EXPECT_NE(error_of(cut).find("dataset.max_tokens must be 0 (no cut) or >= 2, got 1"),
            std::string::npos) << error_of(cut);
  cut.replace(cut.find("max_tokens: 1"), 13, "max_tokens: 1024");
  EXPECT_EQ(parse_job_spec(cut, "job.yaml").runs[0].dataset.max_tokens, 1024);
}

// Run names are HDF5 group names: a swept path contributes its last component.
TEST(JobSpec, SweptPathsNameRunsByTheirLastComponent) {
  const JobSpec job = parse_job_spec(std::string(kBase) + "sweep:\n  model.path: [/a/bloom-560m/, /b/tiny]\n",
                                     "job.yaml");
  ASSERT_EQ(job.runs.size(), 2u);
  EXPECT_EQ(job.runs[0].name, "path=bloom-560m");
  EXPECT_EQ(job.runs[1].name, "path=tiny");
  EXPECT_EQ(job.runs[0].model.path, "/a/bloom-560m/");
  EXPECT_NE(error_of(std::string(kBase) + "sweep:\n  model.path: [/a/m, /b/m]\n")
                .find("sweep gives two runs named 'path=m'"), std::string::npos);
}

TEST(JobSpec, JobPathsThatAreNotRegularFiles) {
  char dir[] = "/tmp/bloom_jobspec_XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  const std::string d = dir, fifo = d + "/job.fifo", file = d + "/job.yaml";
  EXPECT_EQ(job_file_problem(d + "/none.yaml"), "job file '" + d + "/none.yaml' does not exist");
  EXPECT_EQ(job_file_problem(d), "job file '" + d + "' is a directory, not a YAML file");
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  // Opening a FIFO with no writer would block forever: it must be refused without opening.
  const auto t0 = std::chrono::steady_clock::now();
  try {
    load_job_spec(fifo);
    ADD_FAILURE() << "a FIFO was read as a job file";
  } catch (const Error& e) {
    EXPECT_NE(e.message().find("is a named pipe (FIFO), not a regular file"), std::string::npos)
        << e.message();
  }
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 1.0);
  std::ofstream(file) << kBase;
  EXPECT_EQ(job_file_problem(file), "");
  EXPECT_EQ(load_job_spec(file).runs.size(), 1u);
  std::remove(fifo.c_str());
  std::remove(file.c_str());
  rmdir(dir);
}

}  // namespace
}  // namespace bloom

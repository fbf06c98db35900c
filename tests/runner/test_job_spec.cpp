// Job files: defaults, sweeps, environment expansion, and errors that say where.
#include <gtest/gtest.h>

#include <cstdlib>
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

}  // namespace
}  // namespace bloom

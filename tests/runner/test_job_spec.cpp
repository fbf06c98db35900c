// Job files: defaults, sweeps, environment expansion, errors that say where, command-line
// overrides (validated as the file is), the resolved spec a results file records, and job paths
// that are not regular files (a directory, a FIFO: refused at once, never opened).
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include <yaml-cpp/yaml.h>

#include "core/check.h"
#include "runner/job_spec.h"
#include "runner/overrides.h"

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
  bad_dtype.replace(bad_dtype.find("  path: /m\n"), 11, "  path: /m\n  dtype: fp4\n");
  EXPECT_NE(error_of(bad_dtype).find("model.dtype must be one of fp32, fp16, bf16, fp8, got 'fp4'"),
            std::string::npos);
  EXPECT_NE(error_of(std::string(kBase) + "sweep:\n  batch.sise: [1]\n").find("unknown sweep key"),
            std::string::npos);
  EXPECT_NE(error_of(std::string(kBase) + "sweep:\n  batch.size: []\n").find("non-empty list"),
            std::string::npos);
}

std::string override_error(const std::string& text, const std::vector<Override>& overrides) {
  try {
    parse_job_spec(text, "job.yaml", overrides);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(JobSpec, OverridesReplaceAndAddKeys) {
  const JobSpec j = parse_job_spec(kBase, "job.yaml",
                                   {parse_set_option("batch.size=32"), parse_set_option("model.dtype=bf16"),
                                    {"dataset.limit", "100", "--limit 100"}, parse_set_option("name=renamed")});
  ASSERT_EQ(j.runs.size(), 1u);
  EXPECT_EQ(j.runs[0].batch.size, 32);
  EXPECT_EQ(j.runs[0].model.dtype, "bf16");
  EXPECT_EQ(j.runs[0].dataset.limit, 100);
  EXPECT_EQ(j.runs[0].name, "renamed");
  EXPECT_EQ(j.overrides, "--set batch.size=32 --set model.dtype=bf16 --limit 100 --set name=renamed");
  // A value with '=' in it keeps everything after the first '='.
  EXPECT_EQ(parse_job_spec(kBase, "j", {parse_set_option("model.path=/a=b")}).runs[0].model.path, "/a=b");
}

TEST(JobSpec, OverrideOfASweptKeyFixesIt) {
  const std::string swept = std::string(kBase) + "sweep:\n  parallelism.tp: [1, 2]\n  batch.size: [4, 8]\n";
  const JobSpec j = parse_job_spec(swept, "job.yaml", {parse_set_option("batch.size=8")});
  ASSERT_EQ(j.runs.size(), 2u);
  EXPECT_EQ(j.runs[0].name, "tp=1");
  EXPECT_EQ(j.runs[1].name, "tp=2");
  EXPECT_EQ(j.runs[1].batch.size, 8);
}

TEST(JobSpec, OverridesAreValidatedAsTheFileIs) {
  const std::string e1 = override_error(kBase, {parse_set_option("batch.size=0")});
  EXPECT_NE(e1.find("--set batch.size=0: batch.size must be >= 1, got 0"), std::string::npos) << e1;
  const std::string e2 = override_error(kBase, {parse_set_option("batch.szie=4")});
  EXPECT_NE(e2.find("--set batch.szie=4: unknown key 'batch.szie' (did you mean 'batch.size'?)"),
            std::string::npos) << e2;
  const std::string e3 = override_error(kBase, {{"dataset.limit", "-5", "--limit -5"}});
  EXPECT_NE(e3.find("--limit -5: dataset.limit must be >= 0, got -5"), std::string::npos) << e3;
  const std::string e4 = override_error(kBase, {parse_set_option("model.dtype=fp4")});
  EXPECT_NE(e4.find("model.dtype must be one of fp32, fp16, bf16, fp8, got 'fp4'"), std::string::npos) << e4;
  EXPECT_NE(override_error(kBase, {parse_set_option("sweep=1")}).find("unknown key 'sweep'"), std::string::npos);
  for (const char* bad : {"batch.size", "=4", ""}) {
    try {
      parse_set_option(bad);
      ADD_FAILURE() << "accepted --set " << bad;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("expected KEY=VALUE"), std::string::npos) << e.what();
    }
  }
}

TEST(JobSpec, CommandLineOutputFlagsWinOverTheFile) {
  OverrideOptions o;
  o.resume = true;
  o.output = "/elsewhere.h5";
  o.limit = "7";
  const std::string text = std::string(kBase) + "  overwrite: true\n";
  const JobSpec j = parse_job_spec(text, "job.yaml", overrides_of(o));
  EXPECT_TRUE(j.runs[0].output.resume);
  EXPECT_FALSE(j.runs[0].output.overwrite);  // the file's overwrite: true gives way to --resume
  EXPECT_EQ(j.runs[0].output.path, "/elsewhere.h5");
  EXPECT_EQ(j.runs[0].dataset.limit, 7);
  EXPECT_EQ(j.overrides, "--limit 7 --output /elsewhere.h5 --resume");
}

TEST(JobSpec, ResolvedSpecHasEveryKey) {
  const JobSpec j = parse_job_spec("name: t\nmodel:\n  path: rel/model\ndataset:\n  path: d.jsonl\n"
                                   "output:\n  path: o.h5\n",
                                   "job.yaml");
  const YAML::Node spec = YAML::Load(j.runs[0].yaml);
  const std::string cwd = absolute_path(".");
  EXPECT_EQ(spec["model"]["path"].as<std::string>(), absolute_path("rel/model"));
  EXPECT_EQ(spec["model"]["path"].as<std::string>().rfind('/', 0), 0u);  // absolute
  EXPECT_EQ(spec["model"]["tokenizer"].as<std::string>(), absolute_path("rel/model/tokenizer.json"));
  EXPECT_EQ(spec["model"]["dtype"].as<std::string>(), "fp32");
  EXPECT_EQ(spec["batch"]["size"].as<int>(), 16);
  EXPECT_EQ(spec["parallelism"]["tp"].as<int>(), 1);
  EXPECT_EQ(spec["output"]["resume"].as<bool>(), false);
  EXPECT_EQ(spec["load"]["threads"].as<std::string>(), "auto");
  EXPECT_EQ(spec["method"].as<std::string>(), "teacher_forced");
  // Evaluating the spec alone gives the same run, from any folder.
  const JobSpec again = parse_job_spec(j.runs[0].yaml, "spec");
  EXPECT_EQ(again.runs[0].yaml, j.runs[0].yaml);
  EXPECT_EQ(again.runs[0].dataset.path, cwd + "/d.jsonl");
}

TEST(JobSpec, GuardsOfOddInput) {
  EXPECT_NE(error_of(std::string(kBase) + "load:\n  threads: 100000\n")
                .find("load.threads must be <= 256, got 100000"), std::string::npos);
  EXPECT_EQ(error_of(std::string(kBase) + "load:\n  threads: 256\n"), "");
  EXPECT_EQ(error_of(std::string(kBase) + "load:\n  threads: auto\n"), "");
  EXPECT_NE(error_of(std::string(kBase) + "load:\n  threads: many\n")
                .find("load.threads must be an integer, got 'many'"), std::string::npos);
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

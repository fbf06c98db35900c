// select_runs: which runs of a sweep BLOOM_RUNS keeps (indices, ranges, names), in job order,
// and the errors that list the job's runs.
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "core/check.h"
#include "runner/select_runs.h"

namespace bloom {
namespace {

// 6 runs, in this order: tp=1,size=8 tp=1,size=16 tp=1,size=32 tp=2,size=8 tp=2,size=16 tp=2,size=32
JobSpec sweep() {
  return parse_job_spec("{name: s, model: {path: /m}, dataset: {path: /d.jsonl}, output: {path: /o.h5},"
                        " sweep: {parallelism.tp: [1, 2], batch.size: [8, 16, 32]}}",
                        "sweep.yaml");
}

std::vector<std::string> names(const JobSpec& j) {
  std::vector<std::string> out;
  for (const RunSpec& r : j.runs) out.push_back(r.name);
  return out;
}

std::string error_of(const std::string& selector) {
  try {
    select_runs(sweep(), selector);
  } catch (const Error& e) {
    return e.message();
  }
  return "";
}

TEST(SelectRuns, TheSweepHasSixRuns) {
  ASSERT_EQ(names(sweep()), (std::vector<std::string>{"tp=1,size=8", "tp=1,size=16", "tp=1,size=32",
                                                       "tp=2,size=8", "tp=2,size=16", "tp=2,size=32"}));
}

TEST(SelectRuns, EmptyKeepsEveryRun) {
  EXPECT_EQ(names(select_runs(sweep(), "")).size(), 6u);
  EXPECT_EQ(names(select_runs(sweep(), "  \t")).size(), 6u);
}

TEST(SelectRuns, IndicesAndRangesInJobOrder) {
  EXPECT_EQ(names(select_runs(sweep(), "3")), std::vector<std::string>{"tp=2,size=8"});
  EXPECT_EQ(names(select_runs(sweep(), "0")), std::vector<std::string>{"tp=1,size=8"});
  EXPECT_EQ(names(select_runs(sweep(), "5,1-2")),
            (std::vector<std::string>{"tp=1,size=16", "tp=1,size=32", "tp=2,size=32"}));
  // Repeats and overlaps keep a run once; spaces are allowed.
  EXPECT_EQ(names(select_runs(sweep(), " 4 , 3-4,4 ")),
            (std::vector<std::string>{"tp=2,size=8", "tp=2,size=16"}));
  EXPECT_EQ(names(select_runs(sweep(), "0-5")).size(), 6u);
}

TEST(SelectRuns, NamesSeparatedBySemicolons) {
  EXPECT_EQ(names(select_runs(sweep(), "tp=2,size=32;tp=1,size=8")),
            (std::vector<std::string>{"tp=1,size=8", "tp=2,size=32"}));
  EXPECT_EQ(names(select_runs(sweep(), "tp=1,size=16;")), std::vector<std::string>{"tp=1,size=16"});
}

TEST(SelectRuns, KeepsTheRunsWhole) {
  const JobSpec j = select_runs(sweep(), "4");
  ASSERT_EQ(j.runs.size(), 1u);
  EXPECT_EQ(j.runs[0].parallelism.tp, 2);
  EXPECT_EQ(j.runs[0].batch.size, 16);
  EXPECT_EQ(j.name, "s");
  EXPECT_EQ(j.source_path, "sweep.yaml");
}

TEST(SelectRuns, ErrorsNameTheProblemAndListTheRuns) {
  std::string e = error_of("6");
  EXPECT_NE(e.find("index 6 is out of range: sweep.yaml has 6 run(s)"), std::string::npos) << e;
  EXPECT_NE(e.find("\n  5: tp=2,size=32"), std::string::npos) << e;
  e = error_of("tp=3,size=8");
  EXPECT_NE(e.find("sweep.yaml has no run named 'tp=3,size=8'; its runs:"), std::string::npos) << e;
  EXPECT_NE(e.find("\n  0: tp=1,size=8"), std::string::npos) << e;
  e = error_of("3-1");
  EXPECT_NE(e.find("range 3-1 is empty"), std::string::npos) << e;
  e = error_of("1-");
  EXPECT_NE(e.find("'' is not an index"), std::string::npos) << e;
  e = error_of("1,,2");
  EXPECT_NE(e.find("'' is not an index"), std::string::npos) << e;
  e = error_of(";");
  EXPECT_NE(e.find("selects no run"), std::string::npos) << e;
  e = error_of("99999999999999999999999");
  EXPECT_NE(e.find("is not an index"), std::string::npos) << e;
}

TEST(SelectRuns, FromTheEnvironment) {
  ASSERT_EQ(unsetenv("BLOOM_RUNS"), 0);
  EXPECT_EQ(select_runs_from_env(sweep()).runs.size(), 6u);
  ASSERT_EQ(setenv("BLOOM_RUNS", "2", 1), 0);
  EXPECT_EQ(names(select_runs_from_env(sweep())), std::vector<std::string>{"tp=1,size=32"});
  ASSERT_EQ(setenv("BLOOM_RUNS", "", 1), 0);
  EXPECT_EQ(select_runs_from_env(sweep()).runs.size(), 6u);
  ASSERT_EQ(setenv("BLOOM_RUNS", "7", 1), 0);
  EXPECT_THROW(select_runs_from_env(sweep()), Error);
  unsetenv("BLOOM_RUNS");
}

}  // namespace
}  // namespace bloom

#include "runner/select_runs.h"

#include <cstdlib>
#include <set>
#include <vector>

#include <spdlog/spdlog.h>

#include "core/check.h"

namespace bloom {

namespace {

std::string trim(const std::string& s) {
  const size_t b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(" \t") - b + 1);
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  while (true) {
    const size_t end = s.find(sep, start);
    out.push_back(trim(s.substr(start, end == std::string::npos ? std::string::npos : end - start)));
    if (end == std::string::npos) return out;
    start = end + 1;
  }
}

std::string run_list(const JobSpec& job) {
  std::string s;
  for (size_t i = 0; i < job.runs.size(); ++i) s += fmt::format("\n  {}: {}", i, job.runs[i].name);
  return s;
}

size_t parse_index(const std::string& text, const std::string& selector, const JobSpec& job) {
  size_t used = 0;
  unsigned long long v = 0;
  try {
    v = std::stoull(text, &used);
  } catch (...) {
    used = 0;
  }
  BLOOM_CHECK(!text.empty() && used == text.size(), "run selector '{}': '{}' is not an index",
              selector, text);
  BLOOM_CHECK(v < job.runs.size(), "run selector '{}': index {} is out of range: {} has {} run(s):{}",
              selector, v, job.source_path, job.runs.size(), run_list(job));
  return static_cast<size_t>(v);
}

}  // namespace

JobSpec select_runs(JobSpec job, const std::string& selector_in) {
  const std::string selector = trim(selector_in);
  if (selector.empty()) return job;
  std::set<size_t> keep;
  if (selector.find_first_not_of("0123456789,- ") == std::string::npos) {
    for (const std::string& part : split(selector, ',')) {
      const size_t dash = part.find('-');
      if (dash == std::string::npos) {
        keep.insert(parse_index(part, selector, job));
        continue;
      }
      const size_t lo = parse_index(trim(part.substr(0, dash)), selector, job);
      const size_t hi = parse_index(trim(part.substr(dash + 1)), selector, job);
      BLOOM_CHECK(lo <= hi, "run selector '{}': range {} is empty", selector, part);
      for (size_t i = lo; i <= hi; ++i) keep.insert(i);
    }
  } else {
    for (const std::string& name : split(selector, ';')) {
      if (name.empty()) continue;
      size_t i = 0;
      while (i < job.runs.size() && job.runs[i].name != name) ++i;
      BLOOM_CHECK(i < job.runs.size(), "run selector '{}': {} has no run named '{}'; its runs:{}",
                  selector, job.source_path, name, run_list(job));
      keep.insert(i);
    }
  }
  BLOOM_CHECK(!keep.empty(), "run selector '{}' selects no run", selector);
  std::vector<RunSpec> runs;
  for (size_t i : keep) runs.push_back(std::move(job.runs[i]));
  job.runs = std::move(runs);
  return job;
}

JobSpec select_runs_from_env(JobSpec job) {
  const char* env = std::getenv("BLOOM_RUNS");
  if (env == nullptr || trim(env).empty()) return job;
  const size_t before = job.runs.size();
  JobSpec out = select_runs(std::move(job), env);
  std::string names;
  for (const RunSpec& r : out.runs) names += (names.empty() ? "" : ", ") + r.name;
  spdlog::info("BLOOM_RUNS={}: {} of {} run(s): {}", env, out.runs.size(), before, names);
  return out;
}

}  // namespace bloom

// Output against inputs (see output_guard.h).
#include "runner/output_guard.h"

#include <sys/stat.h>

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "core/check.h"

namespace bloom {
namespace {

namespace fs = std::filesystem;

struct Input {
  std::string path, what;  // what: the key (or "the job file") that names it
};

std::vector<Input> inputs_of(const JobSpec& job) {
  std::vector<Input> in = {{job.source_path, "the job file"}};
  for (const RunSpec& r : job.runs) {
    in.push_back({r.dataset.path, "dataset.path"});
    in.push_back({r.model.tokenizer, "model.tokenizer"});
    std::error_code ec;
    if (!fs::is_directory(r.model.path, ec)) {
      in.push_back({r.model.path, "model.path"});
      continue;
    }
    for (auto it = fs::recursive_directory_iterator(r.model.path, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (it->is_regular_file(ec)) in.push_back({it->path().string(), "a file of model.path"});
    }
  }
  return in;
}

bool same_file(const std::string& a, const std::string& b) {
  std::error_code ec;
  struct stat sa{}, sb{};
  if (stat(a.c_str(), &sa) == 0 && stat(b.c_str(), &sb) == 0)
    return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
  // One of them does not exist yet: compare where they would be.
  const fs::path ca = fs::weakly_canonical(a, ec);
  if (ec) return false;
  const fs::path cb = fs::weakly_canonical(b, ec);
  return !ec && ca == cb;
}

}  // namespace

void check_output_is_no_input(const JobSpec& job) {
  if (job.runs.empty()) return;
  const std::string out = job.runs.front().output.path;
  const std::vector<std::pair<std::string, std::string>> written = {
      {out, "output.path"}, {out + ".lock", "its lock file"}, {out + ".partial", "its partial file"}};
  for (const Input& in : inputs_of(job)) {
    for (const auto& [path, what] : written) {
      BLOOM_CHECK(!same_file(path, in.path),
                  "output.path '{}' would overwrite an input of the job: {} is {} '{}'. Write the "
                  "results elsewhere", out, what == "output.path" ? "it" : what + " '" + path + "'",
                  in.what, in.path);
    }
  }
}

}  // namespace bloom

// Preflight (see preflight.h). Messages name the run and the job-file key; the results file is
// checked by io::ResultsFile::check_openable, the check its constructor makes itself.
#include "runner/preflight.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <utility>

#include "core/check.h"
#include "io/checkpoint.h"
#include "io/dataset.h"
#include "io/results_file.h"
#include "runner/output_guard.h"
#include "runner/topology.h"

namespace bloom {

namespace {

namespace fs = std::filesystem;

void check_tokenizer(const RunSpec& r) {
  std::error_code ec;
  // An ifstream opens a folder without complaint on Linux; say what reading it would say.
  const int err = fs::is_directory(r.model.tokenizer, ec) ? EISDIR : 0;
  std::ifstream tok(r.model.tokenizer, std::ios::binary);
  BLOOM_CHECK(err == 0 && tok.good(), "run {}: model.tokenizer '{}' cannot be opened: {}", r.name,
              r.model.tokenizer, std::strerror(err ? err : errno));
}

}  // namespace

io::OpenMode output_mode(const RunSpec& r) {
  return r.output.resume ? io::OpenMode::Resume
         : r.output.overwrite ? io::OpenMode::Overwrite
                              : io::OpenMode::CreateNew;
}

std::vector<RunCheck> preflight(const JobSpec& job, int world_size) {
  std::vector<RunCheck> checks;
  std::map<std::pair<std::string, int64_t>, int64_t> passages;  // (path, limit) -> count
  for (const RunSpec& r : job.runs) {
    RunCheck c;
    c.tp = static_cast<int>(r.parallelism.tp);
    const int dp = static_cast<int>(r.parallelism.dp);
    c.world = world_size > 0 ? world_size : c.tp * (dp > 0 ? dp : 1);
    BLOOM_CHECK(fs::is_directory(r.model.path),
                "run {}: model.path '{}' is not a folder (a HF BLOOM checkpoint folder: "
                "config.json, tokenizer.json, *.safetensors)", r.name, r.model.path);
    c.config = BloomConfig::from_file(r.model.path + "/config.json");
    check_layout(c.world, c.tp, dp, static_cast<int>(c.config.n_head));
    c.dp = c.world / c.tp;
    io::Checkpoint::open(r.model.path);
    check_tokenizer(r);
    const auto key = std::make_pair(r.dataset.path, r.dataset.limit);
    if (passages.count(key) == 0) {
      passages[key] = static_cast<int64_t>(
          io::read_lambada(r.dataset.path, r.dataset.limit > 0 ? r.dataset.limit : -1).size());
    }
    c.n_passages = passages[key];
    BLOOM_CHECK(c.n_passages >= c.dp,
                "run {}: {} data-parallel groups ({} ranks / tp {}) but only {} passage(s) in "
                "'{}'{}: launch fewer ranks or evaluate more passages", r.name, c.dp, c.world,
                c.tp, c.n_passages, r.dataset.path,
                r.dataset.limit > 0 ? fmt::format(" (dataset.limit {})", r.dataset.limit) : "");
    checks.push_back(c);
  }
  if (!job.runs.empty()) {
    check_output_is_no_input(job);
    io::ResultsFile::check_openable(job.runs.front().output.path, output_mode(job.runs.front()));
  }
  return checks;
}

}  // namespace bloom

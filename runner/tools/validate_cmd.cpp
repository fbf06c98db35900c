#include "runner/tools/validate_cmd.h"

#include <sys/stat.h>
#include <unistd.h>

#include <iostream>

#include <fmt/format.h>

#include "engine/bloom_config.h"
#include "core/check.h"
#include "runner/job_spec.h"
#include "runner/topology.h"

namespace bloom {

namespace {

bool file_exists(const std::string& p) {
  struct stat st;
  return stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

std::string parent_dir(const std::string& p) {
  const size_t slash = p.rfind('/');
  return slash == std::string::npos ? "." : (slash == 0 ? "/" : p.substr(0, slash));
}

}  // namespace

int validate_main(const std::string& job_path, int world, bool print) {
  const JobSpec job = load_job_spec(job_path);
  const std::string out_dir = parent_dir(job.runs[0].output.path);
  struct stat st;
  BLOOM_CHECK(stat(out_dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode),
              "{}: output.path: folder '{}' does not exist", job_path, out_dir);
  BLOOM_CHECK(access(out_dir.c_str(), W_OK) == 0, "{}: output.path: folder '{}' is not writable",
              job_path, out_dir);
  if (print) std::cout << fmt::format("{}: {} run(s) -> {}\n", job_path, job.runs.size(), job.runs[0].output.path);
  for (const RunSpec& r : job.runs) {
    const ModelLocation loc = locate_model(r.model.path, parse_model_format(r.model.format));
    const BloomConfig c = read_model_config(loc);
    const int tp = static_cast<int>(r.parallelism.tp);
    const int w = world > 0 ? world : tp * static_cast<int>(r.parallelism.dp > 0 ? r.parallelism.dp : 1);
    check_layout(w, tp, static_cast<int>(r.parallelism.dp), static_cast<int>(c.n_head));
    BLOOM_CHECK(file_exists(r.model.tokenizer), "run {}: model.tokenizer '{}' does not exist{}",
                r.name, r.model.tokenizer,
                loc.format == ModelFormat::Ft
                    ? " (model.path is a FasterTransformer folder, and the tokenizer is not part "
                      "of one: set model.tokenizer)"
                    : "");
    BLOOM_CHECK(file_exists(r.dataset.path), "run {}: dataset.path '{}' does not exist", r.name,
                r.dataset.path);
    if (print) {
      std::cout << fmt::format("  {}: model {} ({}, {} layers, hidden {}, {} heads) {} on {}, tp {} "
                               "x dp {} ({} ranks), batch {} sequences / {} tokens, dataset {}{}\n",
                               r.name, r.model.path, model_format_name(loc.format), c.n_layer, c.hidden, c.n_head, r.model.dtype,
                               r.model.backend, tp, w / tp, w, r.batch.size,
                               r.batch.max_tokens ? std::to_string(r.batch.max_tokens) : "auto",
                               r.dataset.path,
                               r.dataset.limit ? fmt::format(" (first {})", r.dataset.limit) : "");
    }
  }
  if (print) std::cout << "ok\n";
  return 0;
}

}  // namespace bloom

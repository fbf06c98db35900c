// Resume checks (see resume.h): records in, differences out, kept rows verified.
#include "runner/resume.h"

#include <algorithm>
#include <filesystem>
#include <map>

#include <yaml-cpp/yaml.h>

#include "core/check.h"
#include "io/results_lock.h"
#include "runner/preflight.h"

namespace bloom {
namespace {

// The settings rows depend on, compared on resume, in the order messages list them.
// (parallelism.dp is recorded, not compared: the batches are the same whatever their dealing.)
const char* const kCompared[] = {"model.dtype", "model.backend",    "method",        "dataset.limit",
                                 "batch.size",  "batch.max_tokens", "parallelism.tp"};
const char* const kResolvedSpec = "resolved_spec";

// Each fingerprint, the setting that names its input, and what a message calls it.
struct Input {
  const char* item;  // Fingerprints::items() name
  const char* path_key;
  const char* what;
};
const Input kInputs[] = {{"config_sha256", "model.path", "model config"},
                         {"weights_fingerprint", "model.path", "weights"},
                         {"tokenizer_sha256", "model.tokenizer", "tokenizer"},
                         {"dataset_sha256", "dataset.path", "dataset"}};

std::map<std::string, std::string> parse_settings(const std::string& yaml, const std::string& what) {
  std::map<std::string, std::string> out;
  try {
    const YAML::Node root = YAML::Load(yaml);
    BLOOM_CHECK(root.IsMap(), "{}: resolved_spec is not a mapping", what);
    for (auto it = root.begin(); it != root.end(); ++it)
      out[it->first.as<std::string>()] = it->second.as<std::string>();
  } catch (const YAML::Exception& e) {
    BLOOM_FAIL("{}: resolved_spec cannot be read: {}", what, e.what());
  }
  return out;
}

std::string value_or(const std::map<std::string, std::string>& m, const std::string& key) {
  auto it = m.find(key);
  return it == m.end() ? "(not recorded)" : it->second;
}

// Every difference between a run's recorded record and this job's, "; "-separated.
std::string differences(const io::RunAttributes& recorded, const ResumeRecord& now,
                        const std::string& what) {
  auto it = recorded.extra_strings.find(kResolvedSpec);
  if (it == recorded.extra_strings.end()) {
    return "it has no record of the settings and inputs its rows were computed with";
  }
  const std::map<std::string, std::string> then = parse_settings(it->second, what);
  Fingerprints recorded_inputs;
  recorded_inputs.config = recorded.config_sha256;
  recorded_inputs.weights = recorded.weights_fingerprint;
  recorded_inputs.tokenizer = recorded.tokenizer_sha256;
  recorded_inputs.dataset = recorded.dataset_sha256;
  const std::map<std::string, std::string> job(now.settings.begin(), now.settings.end());
  std::vector<std::string> out;
  for (const char* key : kCompared) {
    if (value_or(then, key) != value_or(job, key))
      out.push_back(fmt::format("{} (file: {}, job: {})", key, value_or(then, key), value_or(job, key)));
  }
  for (const Input& in : kInputs) {
    std::string recorded_value = "(not recorded)", job_value;
    for (const auto& [name, value] : recorded_inputs.items())
      if (name == in.item && !value.empty()) recorded_value = value;
    for (const auto& [name, value] : now.inputs.items())
      if (name == in.item) job_value = value;
    if (recorded_value == job_value) continue;
    out.push_back(fmt::format("{} (file: '{}' {} {:.12}, job: '{}' {} {:.12})", in.what,
                              value_or(then, in.path_key), in.item, recorded_value,
                              value_or(job, in.path_key), in.item, job_value));
  }
  std::string text;
  for (const std::string& d : out) text += (text.empty() ? "" : "; ") + d;
  return text;
}

}  // namespace

ResumeRecord resume_record(const RunSpec& r, int world_size, const Fingerprints& inputs) {
  ResumeRecord rec;
  const int64_t dp = r.parallelism.dp > 0 ? r.parallelism.dp : world_size / std::max<int64_t>(r.parallelism.tp, 1);
  rec.settings = {{"model.path", r.model.path},
                  {"model.tokenizer", r.model.tokenizer},
                  {"dataset.path", r.dataset.path},
                  {"model.dtype", r.model.dtype},
                  {"model.backend", r.model.backend},
                  {"method", r.method},
                  {"dataset.limit", std::to_string(r.dataset.limit)},
                  {"batch.size", std::to_string(r.batch.size)},
                  {"batch.max_tokens", std::to_string(r.batch.max_tokens)},
                  {"parallelism.tp", std::to_string(r.parallelism.tp)},
                  {"parallelism.dp", std::to_string(dp)}};
  rec.inputs = inputs;
  return rec;
}

std::string settings_yaml(const ResumeRecord& record) {
  YAML::Emitter e;
  e << YAML::BeginMap;
  for (const auto& [key, value] : record.settings) e << YAML::Key << key << YAML::Value << value;
  e << YAML::EndMap;
  return e.c_str();
}

void add_resume_record(const ResumeRecord& record, io::RunAttributes& a) {
  a.extra_strings[kResolvedSpec] = settings_yaml(record);
  a.config_sha256 = record.inputs.config;
  a.weights_fingerprint = record.inputs.weights;
  a.tokenizer_sha256 = record.inputs.tokenizer;
  a.dataset_sha256 = record.inputs.dataset;
}

void check_resume(const io::ResultsFile& file, const JobSpec& job,
                  const std::vector<ResumeRecord>& records) {
  BLOOM_CHECK(records.size() == job.runs.size(), "{} resume records for {} runs", records.size(),
              job.runs.size());
  io::ResultsFile::check_continuable(file.path(), file.schema_version());  // no record in /1
  const std::vector<std::string> names = file.run_names();
  std::string problems;
  for (size_t i = 0; i < job.runs.size(); ++i) {
    const RunSpec& r = job.runs[i];
    if (std::find(names.begin(), names.end(), r.name) == names.end()) continue;  // not started
    const std::string what = fmt::format("run '{}' of '{}'", r.name, file.path());
    const std::string d = differences(file.read_run_attributes(r.name), records[i], what);
    if (!d.empty()) problems += fmt::format("\n  run '{}'{}: {}", r.name,
                                            file.run_complete(r.name) ? " (complete)" : "", d);
  }
  BLOOM_CHECK(problems.empty(),
              "cannot resume results file '{}': its rows were computed with other settings or "
              "inputs than this job has:{}\nResume with the job and inputs that wrote it, or set "
              "output.overwrite: true (or another output.path) to start afresh", file.path(), problems);
}

std::unique_ptr<io::ResultsFile> open_results_file(const JobSpec& job,
                                                   const std::vector<ResumeRecord>& records,
                                                   const std::vector<int64_t>& rows_per_run,
                                                   int world_size, const std::string& runner_version) {
  const RunSpec& first = job.runs.front();
  const std::string& path = first.output.path;
  const io::OpenMode mode = output_mode(first);
  io::WriterLock lock = io::WriterLock::acquire(path);
  io::ResultsFile::check_space(path, rows_per_run, world_size);  // before anything is created
  std::error_code ec;
  if (mode == io::OpenMode::Resume && std::filesystem::exists(path, ec)) {
    const io::ResultsFile view(path, io::OpenMode::ReadOnly, "", "");
    check_resume(view, job, records);
  }
  auto writer = std::make_unique<io::ResultsFile>(path, mode, runner_version, job.source_text,
                                                  std::move(lock));
  writer->reserve_space(rows_per_run, world_size);
  return writer;
}

ResumePlan check_kept_rows(const io::ResultsFile& file, const RunSpec& run,
                           const std::vector<TokenizedPassage>& data, int64_t max_tokens) {
  ResumePlan plan;
  const int64_t n = static_cast<int64_t>(data.size());
  const std::vector<std::string> names = file.run_names();
  if (std::find(names.begin(), names.end(), run.name) == names.end()) {
    plan.recomputed = n;
    return plan;
  }
  const io::RunAttributes a = file.read_run_attributes(run.name);
  BLOOM_CHECK(a.max_tokens == max_tokens,
              "cannot resume run '{}' of '{}': its rows were computed in batches of at most {} "
              "tokens, this job's batches take at most {}{}: set batch.max_tokens: {} to continue "
              "it, or output.overwrite: true to start afresh", run.name, file.path(), a.max_tokens,
              max_tokens, run.batch.max_tokens == 0 ? " (batch.max_tokens unset: derived)" : "",
              a.max_tokens);
  const std::vector<uint8_t> done = file.done_rows(run.name);
  const std::vector<io::PassageResult> rows = file.read_predictions(run.name);  // checksums
  BLOOM_CHECK(static_cast<int64_t>(rows.size()) == n && static_cast<int64_t>(done.size()) == n,
              "cannot resume run '{}' of '{}': it has {} rows, this job's dataset {} passages",
              run.name, file.path(), rows.size(), n);
  for (int64_t i = 0; i < n; ++i) {
    if (!done[static_cast<size_t>(i)]) continue;
    const io::PassageResult& got = rows[static_cast<size_t>(i)];
    const TokenizedPassage& want = data[static_cast<size_t>(i)];
    BLOOM_CHECK(got.index == i && got.context_len == static_cast<int32_t>(want.context_ids.size()) &&
                    got.target_ids == want.target_ids &&
                    got.predicted_ids.size() == got.target_ids.size(),
                "cannot resume run '{}' of '{}': finished row {} does not belong to passage {} of "
                "'{}' (it holds passage {}, a context of {} tokens and {} target tokens; the "
                "passage has {} and {}): set output.overwrite: true to start afresh", run.name,
                file.path(), i, i, run.dataset.path, got.index, got.context_len,
                got.target_ids.size(), want.context_ids.size(), want.target_ids.size());
    ++plan.kept;
  }
  plan.recomputed = n - plan.kept;
  return plan;
}

}  // namespace bloom

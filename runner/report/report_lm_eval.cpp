// `runner report --run NAME --lm-eval [--samples FILE.jsonl]`: a run in lm-evaluation-harness's
// dialect, for tools that read its output. Field names follow lm-eval's own (evaluator_utils.py
// and evaluation_tracker.py of EleutherAI/lm-evaluation-harness):
//   results JSON  results.lambada_openai.{name, alias, sample_len, "acc,none", "acc_stderr,none",
//                 "perplexity,none", "perplexity_stderr,none"}, group_subtasks, configs, versions,
//                 n-shot, higher_is_better, n-samples.{original, effective}, config (model, dtype,
//                 batch, layout), date, total_evaluation_time_seconds, and a `bloom_eval` block of
//                 our own (the results file, the run, the statistics lm-eval does not have);
//   samples       one line per passage as --log_samples writes a loglikelihood task: doc_id, doc,
//                 target, arguments.gen_args_0.{arg_0: context, arg_1: target}, resps and
//                 filtered_resps ([log-likelihood, is-greedy] as strings, as lm-eval sanitises
//                 them), filter, metrics, doc_hash/prompt_hash/target_hash (sha256), perplexity
//                 (the log-likelihood), acc; then ours: target_ids, predicted_ids, predicted.
// lm-eval bootstraps perplexity_stderr (100000 resamples); we give the delta-method value
// (io/run_summary.h), which agrees with it to within the bootstrap's own noise.
#include <openssl/evp.h>

#include <cmath>
#include <ctime>
#include <fstream>
#include <memory>
#include <ostream>

#include <fmt/format.h>

#include "core/check.h"
#include "io/dataset.h"
#include "io/tokenizer.h"
#include "runner/report/report_data.h"

namespace bloom::report {
namespace {

using J = nlohmann::ordered_json;
constexpr const char* kTask = "lambada_openai";

std::string sha256_hex(const std::string& text) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  BLOOM_CHECK(EVP_Digest(text.data(), text.size(), digest, &len, EVP_sha256(), nullptr) == 1,
              "sha256 failed");
  std::string hex;
  for (unsigned int i = 0; i < len; ++i) hex += fmt::format("{:02x}", digest[i]);
  return hex;
}

// Python's str() of a float (its shortest round-trip repr) and of a bool.
std::string py_float(double x) {
  if (std::isnan(x)) return "nan";
  if (std::isinf(x)) return x > 0 ? "inf" : "-inf";
  std::string s = fmt::format("{}", x);
  // fmt writes "1e-05" as Python does, but integral values as "3" where Python writes "3.0".
  if (s.find_first_of(".en") == std::string::npos) s += ".0";
  return s;
}
const char* py_bool(bool b) { return b ? "True" : "False"; }

// json.dumps(doc, indent=2, ensure_ascii=False) of lm-eval's doc_hash, for a {"text": ...} doc.
std::string python_json_dumps_doc(const std::string& text) {
  return "{\n  \"text\": " + J(text).dump(-1, ' ', false, J::error_handler_t::replace) + "\n}";
}

const RunSummary& the_run(const Report& rep, const ReportOptions& opt) {
  if (opt.run.empty()) {
    BLOOM_CHECK(rep.runs.size() == 1, "report: --lm-eval and --samples need --run NAME (the files "
                "hold {} runs)", rep.runs.size());
    return rep.runs[0];
  }
  return rep.runs[static_cast<size_t>(find_run(rep, opt.run))];
}

// lm-eval's names for our dtypes (str(torch dtype), as its HF model reports model_dtype).
std::string torch_dtype(const std::string& d) {
  return d == "fp16" ? "torch.float16" : d == "bf16" ? "torch.bfloat16" : d == "fp32" ? "torch.float32" : d;
}

double unix_time(const std::string& utc) {
  std::tm t{};
  if (utc.empty() || !strptime(utc.c_str(), "%Y-%m-%dT%H:%M:%SZ", &t)) return 0.0;
  return static_cast<double>(timegm(&t));
}

J results_json(const RunSummary& r, int64_t n_original) {
  const io::RunAttributes& a = r.attrs;
  const io::RunStatistics& s = r.stats;
  J task = {{"name", kTask},
            {"alias", kTask},
            {"sample_len", s.n},
            {"perplexity,none", s.passage_perplexity},
            {"perplexity_stderr,none", s.passage_perplexity_stderr},
            {"acc,none", s.accuracy},
            {"acc_stderr,none", s.accuracy_stderr}};
  J config = {{"task", kTask},
              {"tag", {"lambada"}},
              {"dataset_path", run_string(r, "dataset")},
              {"test_split", "test"},
              {"doc_to_text", "{{text.split(' ')[:-1]|join(' ')}}"},
              {"doc_to_target", "{{' '+text.split(' ')[-1]}}"},
              {"output_type", "loglikelihood"},
              {"num_fewshot", 0},
              {"metric_list", J::array({J{{"metric", "perplexity"}, {"aggregation", "perplexity"}, {"higher_is_better", false}},
                                        J{{"metric", "acc"}, {"aggregation", "mean"}, {"higher_is_better", true}}})},
              {"metadata", {{"version", 1.0}}}};
  J doc;
  doc["results"] = {{kTask, task}};
  doc["group_subtasks"] = {{kTask, J::array()}};
  doc["configs"] = {{kTask, config}};
  doc["versions"] = {{kTask, 1.0}};
  doc["n-shot"] = {{kTask, 0}};
  doc["higher_is_better"] = {{kTask, {{"perplexity", false}, {"acc", true}}}};
  doc["n-samples"] = {{kTask, {{"original", n_original}, {"effective", s.n}}}};
  doc["config"] = {{"model", "bloom-eval"},
                   {"model_args", fmt::format("pretrained={},dtype={}", a.model, a.dtype)},
                   {"model_dtype", torch_dtype(a.dtype)},
                   {"batch_size", a.batch_size},
                   {"batch_sizes", J::array()},
                   {"device", a.backend},
                   {"limit", s.n < n_original ? J(s.n) : J(nullptr)},
                   {"bootstrap_iters", 0},
                   {"tensor_parallel", a.tp},
                   {"data_parallel", a.dp},
                   {"max_tokens", a.max_tokens},
                   {"method", run_string(r, "method")}};
  doc["git_hash"] = nullptr;
  doc["date"] = unix_time(a.started_utc);
  doc["model_source"] = "bloom-eval";
  doc["model_name"] = a.model;
  doc["total_evaluation_time_seconds"] = fmt::format("{}", a.wall_seconds);
  doc["bloom_eval"] = {{"results_file", r.file},
                       {"run", r.name},
                       {"schema", r.schema_version == 1 ? io::kResultsSchemaV1 : io::kResultsSchema},
                       {"perplexity_stderr", "delta method: passage_perplexity * stderr of the mean "
                                             "log-likelihood (lm-eval bootstraps it)"},
                       {"accuracy_ci95", {s.accuracy_ci95_low, s.accuracy_ci95_high}},
                       {"token_perplexity", s.token_perplexity},
                       {"n_correct", s.n_correct}};
  return doc;
}

}  // namespace

int write_lm_eval(const Report& rep, const ReportOptions& opt, std::ostream& out, std::ostream& err) {
  const RunSummary& r = the_run(rep, opt);
  BLOOM_CHECK(r.complete, "report: run {} is incomplete ({} of {} rows done): lm-eval's files describe "
              "a finished evaluation; resume the job first", r.label, r.n_done, r.n_rows);
  const io::ResultsFile file(r.file, io::OpenMode::ReadOnly, "", "");
  const std::vector<io::PassageResult> rows = file.read_predictions(r.name);
  const std::string ds_attr = opt.dataset.empty() ? run_string(r, "dataset") : opt.dataset;
  const std::optional<std::string> ds_path = resolve_input(ds_attr, r.file);
  std::vector<io::Example> examples;
  if (ds_path) examples = io::read_lambada(*ds_path);
  const int64_t n_original = ds_path ? static_cast<int64_t>(examples.size()) : r.n_rows;
  if (opt.lm_eval) out << results_json(r, n_original).dump(2, ' ', false, J::error_handler_t::replace) << "\n";
  if (opt.samples.empty()) return 0;

  BLOOM_CHECK(ds_path, "report --samples: the run's dataset {} is not found: give --dataset FILE (the "
              "samples hold each passage's text)", ds_attr.empty() ? "(no `dataset` attribute)" : "'" + ds_attr + "'");
  std::unique_ptr<io::Tokenizer> tok;
  const std::string tok_attr = opt.tokenizer.empty() ? run_string(r, "tokenizer") : opt.tokenizer;
  if (auto p = resolve_input(tok_attr, r.file)) tok = std::make_unique<io::Tokenizer>(io::Tokenizer::from_file(*p));
  else err << fmt::format("warning: run {}: tokenizer not found; samples carry token ids only\n", r.label);
  std::ofstream f(opt.samples, std::ios::binary | std::ios::trunc);
  BLOOM_CHECK(f.good(), "report --samples: cannot write '{}'", opt.samples);
  int64_t written = 0;
  for (const io::PassageResult& p : rows) {
    BLOOM_CHECK(p.index >= 0 && p.index < static_cast<int64_t>(examples.size()),
                "report --samples: run {} has passage {} but the dataset '{}' has {}", r.label, p.index,
                *ds_path, examples.size());
    const io::Example& ex = examples[static_cast<size_t>(p.index)];
    const std::string text = ex.context + ex.target;
    const std::string ll = py_float(p.target_logprob), greedy = py_bool(p.correct);
    J line = {{"doc_id", p.index},
              {"doc", {{"text", text}}},
              {"target", ex.target},
              {"arguments", {{"gen_args_0", {{"arg_0", ex.context}, {"arg_1", ex.target}}}}},
              {"resps", J::array({J::array({J::array({ll, greedy})})})},
              {"filtered_resps", J::array({J::array({ll, greedy})})},
              {"filter", "none"},
              {"metrics", {"perplexity", "acc"}},
              {"doc_hash", sha256_hex(python_json_dumps_doc(text))},
              {"prompt_hash", sha256_hex(ex.context)},
              {"target_hash", sha256_hex(ex.target)},
              {"perplexity", p.target_logprob},
              {"acc", p.correct ? 1 : 0},
              {"target_ids", p.target_ids},
              {"predicted_ids", p.predicted_ids},
              {"predicted", tok ? J(tok->decode(p.predicted_ids, /*skip_special_tokens=*/false)) : J(nullptr)}};
    f << line.dump(-1, ' ', false, J::error_handler_t::replace) << "\n";
    ++written;
  }
  f.close();
  BLOOM_CHECK(f.good(), "report --samples: writing '{}' failed (disk full?)", opt.samples);
  err << fmt::format("wrote {} samples of run {} to {}\n", written, r.label, opt.samples);
  return 0;
}

}  // namespace bloom::report

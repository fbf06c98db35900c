// `runner report`: reading results files into run summaries (see report_data.h).
#include "runner/report/report_data.h"

#include <sys/stat.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>

#include <fmt/format.h>

#include "core/check.h"

namespace bloom::report {
namespace {

std::string base_name(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

// Opens one results file read-only. The reader's own checks give the reasons (not HDF5, no
// schema, other schema); anything HDF5 reports later (a truncated or damaged file) is wrapped
// so that the message says which file and what to suspect.
std::unique_ptr<io::ResultsFile> open_results(const std::string& path) {
  struct stat st;
  BLOOM_CHECK(stat(path.c_str(), &st) == 0, "results file '{}' does not exist", path);
  BLOOM_CHECK(S_ISREG(st.st_mode), "'{}' is not a file (a results file is expected)", path);
  return std::make_unique<io::ResultsFile>(path, io::OpenMode::ReadOnly, "", "");
}

// Rows of /timings are appended per attempt (a run stopped by a signal and resumed has two), each
// attempt rank by rank in batch order. An attempt starts where the rank number goes back or a
// rank's start time goes back; returns the first row of the last attempt and the attempt count.
std::pair<size_t, int> last_attempt(const std::vector<io::BatchTiming>& t) {
  if (t.empty()) return {0, 0};
  size_t first = 0;
  int attempts = 1;
  for (size_t i = 1; i < t.size(); ++i) {
    const bool back = t[i].rank < t[i - 1].rank ||
                      (t[i].rank == t[i - 1].rank && t[i].start_seconds < t[i - 1].start_seconds);
    if (back) first = i, ++attempts;
  }
  return {first, attempts};
}

RunSummary summarise(const io::ResultsFile& w, const std::string& file, const std::string& name) {
  RunSummary r;
  r.file = file;
  r.name = name;
  r.schema_version = w.schema_version();
  r.attrs = w.read_run_attributes(name);
  r.complete = r.attrs.complete;
  const std::vector<uint8_t> done = w.done_rows(name);
  r.n_rows = static_cast<int64_t>(done.size());
  r.n_done = std::count(done.begin(), done.end(), uint8_t{1});
  // From the rows, complete or not (an unfinished run's attributes are placeholders, and a /1
  // file has neither the interval nor the passage perplexity).
  r.stats = io::run_statistics(w.read_predictions(name), done);
  r.n_correct = r.stats.n_correct;
  r.accuracy = r.stats.accuracy;
  r.ranks = std::max<int64_t>(1, r.attrs.tp * r.attrs.dp);
  for (int64_t i = 0; i < r.ranks; ++i) {
    RankBusy b;
    b.rank = static_cast<int32_t>(i);
    b.dp_rank = static_cast<int32_t>(i / std::max<int64_t>(1, r.attrs.tp));  // contiguous TP groups
    b.tp_rank = static_cast<int32_t>(i % std::max<int64_t>(1, r.attrs.tp));
    r.busy.push_back(b);
  }
  const std::vector<io::BatchTiming> timings = w.read_timings(name);
  const auto [first, attempts] = last_attempt(timings);
  r.attempts = attempts;
  r.throughput_partial = r.complete && (r.schema_version >= 2 ? r.attrs.n_evaluated < r.n_rows : attempts > 1);
  for (size_t i = first; i < timings.size(); ++i) {
    const io::BatchTiming& t = timings[i];
    BLOOM_CHECK(t.rank >= 0 && t.rank < 1 << 20, "results file '{}', run '{}': timing row {} has rank {}",
                file, name, i, t.rank);
    while (static_cast<int32_t>(r.busy.size()) <= t.rank) {
      RankBusy b;
      b.rank = static_cast<int32_t>(r.busy.size());
      r.busy.push_back(b);
    }
    RankBusy& b = r.busy[static_cast<size_t>(t.rank)];
    b.dp_rank = t.dp_rank;
    b.tp_rank = t.tp_rank;
    b.batches += 1;
    b.sequences += t.n_sequences;
    b.tokens += t.n_tokens;
    b.forward_seconds += t.forward_seconds;
    b.comm_seconds += t.comm_seconds;
    b.wait_seconds += t.wait_seconds;
    r.forward_seconds += t.forward_seconds;
    r.comm_seconds += t.comm_seconds;
    r.wait_seconds += t.wait_seconds;
  }
  r.idle_seconds = std::max(0.0, r.attrs.evaluate_seconds * static_cast<double>(r.ranks) -
                                     r.forward_seconds - r.comm_seconds);
  return r;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

}  // namespace

std::string run_string(const RunSummary& r, const std::string& key) {
  if (key == "method" && !r.attrs.method.empty()) return r.attrs.method;
  if (key == "tokenizer" && !r.attrs.tokenizer.empty()) return r.attrs.tokenizer;
  if (key == "dataset" && !r.attrs.dataset.empty()) return r.attrs.dataset;
  if (key == "spec" && !r.attrs.spec.empty()) return r.attrs.spec;
  auto it = r.attrs.extra_strings.find(key);  // runners before bloom-eval/2 wrote extras
  return it == r.attrs.extra_strings.end() ? std::string() : it->second;
}

std::string RunSummary::model_short() const {
  std::string m = attrs.model;
  while (m.size() > 1 && m.back() == '/') m.pop_back();
  return base_name(m);
}

int64_t default_tolerance(int64_t n) {
  return std::max<int64_t>(3, static_cast<int64_t>(std::ceil(0.002 * static_cast<double>(n))));
}

std::string tolerance_rule() {
  return "a run is flagged when its n_correct differs from the median of the other complete runs "
         "of the same model, dataset and passage count by more than max(3, 0.2% of the passages) "
         "(--tolerance N overrides): a layout, dtype or kernel only changes the rounding of the "
         "logits, which can flip only passages whose best two tokens at a target position are "
         "nearly tied (HF and FasterTransformer, both fp16, differ by 2 of the 5153 LAMBADA "
         "passages on bloom-560m); more than that is a bug";
}

Report load_report(const std::vector<std::string>& files, const std::string& baseline,
                   int64_t tolerance, const std::string& balance_run) {
  BLOOM_CHECK(!files.empty(), "report: no results file given");
  for (size_t i = 0; i < files.size(); ++i)
    for (size_t k = 0; k < i; ++k)
      BLOOM_CHECK(files[i] != files[k], "report: results file '{}' given twice", files[i]);
  Report rep;
  for (const std::string& path : files) {
    std::unique_ptr<io::ResultsFile> w = open_results(path);
    try {
      FileSummary f;
      f.path = path;
      f.info = w->read_file_info();
      const std::vector<std::string> names = w->run_names();
      f.n_runs = static_cast<int64_t>(names.size());
      for (const std::string& name : names) rep.runs.push_back(summarise(*w, path, name));
      rep.files.push_back(f);
    } catch (const std::exception& e) {
      BLOOM_FAIL("cannot read results file '{}' (truncated, damaged, or not written by this "
                 "runner's schema {}): {}", path, io::kResultsSchema, error_message(e));
    }
  }
  // Labels: the run name, qualified by its file where several files hold the same name.
  std::map<std::string, int> name_count, base_count;
  for (const RunSummary& r : rep.runs) ++name_count[r.name];
  for (const FileSummary& f : rep.files) ++base_count[base_name(f.path)];
  for (RunSummary& r : rep.runs) {
    r.label = r.name;
    if (name_count[r.name] > 1)
      r.label = (base_count[base_name(r.file)] > 1 ? r.file : base_name(r.file)) + ":" + r.name;
  }

  // Baseline and speed-ups (complete runs: the others have no throughput yet).
  if (!baseline.empty()) {
    rep.baseline = find_run(rep, baseline);
    const RunSummary& b = rep.runs[static_cast<size_t>(rep.baseline)];
    BLOOM_CHECK(b.complete && b.attrs.passages_per_second > 0,
                "--baseline {}: that run is not complete, so it has no throughput to compare with",
                baseline);
    BLOOM_CHECK(!b.throughput_partial,
                "--baseline {}: that run was resumed, so its throughput counts only its last attempt "
                "({} of {} passages) and is not compared", baseline, b.attrs.n_evaluated, b.n_rows);
    rep.baseline_rule = "--baseline";
  } else {
    for (size_t i = 0; i < rep.runs.size(); ++i) {
      const RunSummary& r = rep.runs[i];
      if (!r.complete || r.throughput_partial || r.attrs.passages_per_second <= 0) continue;
      if (rep.baseline < 0 ||
          r.attrs.passages_per_second < rep.runs[static_cast<size_t>(rep.baseline)].attrs.passages_per_second)
        rep.baseline = static_cast<int>(i);
    }
    rep.baseline_rule = "slowest";
  }
  if (rep.baseline >= 0) {
    const double base = rep.runs[static_cast<size_t>(rep.baseline)].attrs.passages_per_second;
    for (RunSummary& r : rep.runs)
      if (r.complete && !r.throughput_partial && r.attrs.passages_per_second > 0)
        r.speedup = r.attrs.passages_per_second / base;
  }

  // Accuracy flags within groups of comparable runs.
  rep.tolerance_overridden = tolerance >= 0;
  for (RunSummary& r : rep.runs) {
    r.tolerance = tolerance >= 0 ? tolerance : default_tolerance(r.n_rows);
    if (!r.complete) continue;
    std::vector<double> others;
    std::vector<int> other_index;
    for (const RunSummary& o : rep.runs) {
      if (&o == &r || !o.complete || o.attrs.model != r.attrs.model || o.n_rows != r.n_rows) continue;
      if (run_string(o, "dataset") != run_string(r, "dataset")) continue;
      others.push_back(static_cast<double>(o.n_correct));
      other_index.push_back(static_cast<int>(&o - rep.runs.data()));
    }
    r.group_size = static_cast<int>(others.size()) + 1;
    if (others.empty()) continue;
    r.others_median_correct = median(others);
    double best = 0.0;
    for (size_t k = 0; k < others.size(); ++k) {
      const double dist = std::abs(others[k] - r.others_median_correct);
      if (r.reference_run < 0 || dist < best) r.reference_run = other_index[k], best = dist;
    }
    r.accuracy_flag = std::abs(static_cast<double>(r.n_correct) - r.others_median_correct) >
                      static_cast<double>(r.tolerance);
  }

  // The run of the per-rank plot: the one asked for, else the fastest with the most DP groups.
  if (!balance_run.empty()) {
    rep.balance_run = find_run(rep, balance_run);
  } else {
    for (size_t i = 0; i < rep.runs.size(); ++i) {
      const RunSummary& r = rep.runs[i];
      if (rep.balance_run < 0) {
        rep.balance_run = static_cast<int>(i);
        continue;
      }
      const RunSummary& b = rep.runs[static_cast<size_t>(rep.balance_run)];
      const auto key = [](const RunSummary& x) {
        return std::make_tuple(x.complete, x.attrs.dp, x.attrs.passages_per_second);
      };
      if (key(r) > key(b)) rep.balance_run = static_cast<int>(i);
    }
  }
  return rep;
}

int find_run(const Report& report, const std::string& ref) {
  std::vector<int> hits;
  for (size_t i = 0; i < report.runs.size(); ++i)
    if (report.runs[i].name == ref) hits.push_back(static_cast<int>(i));
  if (hits.empty()) {
    for (size_t colon = ref.find(':'); colon != std::string::npos; colon = ref.find(':', colon + 1)) {
      const std::string file = ref.substr(0, colon), name = ref.substr(colon + 1);
      for (size_t i = 0; i < report.runs.size(); ++i) {
        const RunSummary& r = report.runs[i];
        if (r.name == name && (r.file == file || base_name(r.file) == file)) hits.push_back(static_cast<int>(i));
      }
      if (!hits.empty()) break;
    }
  }
  if (hits.size() == 1) return hits[0];
  if (hits.size() > 1) {
    std::string listed;
    for (const int i : hits) listed += (listed.empty() ? "" : ", ") + report.runs[static_cast<size_t>(i)].file;
    BLOOM_FAIL("run '{}' is in several files ({}): name it FILE:NAME", ref, listed);
  }
  std::string runs;
  for (const RunSummary& r : report.runs) runs += (runs.empty() ? "'" : ", '") + r.label + "'";
  std::string files;
  for (const FileSummary& f : report.files) files += (files.empty() ? "" : ", ") + f.path;
  BLOOM_FAIL("no run '{}' in {}; its runs are: {}", ref, files, runs.empty() ? "(none)" : runs);
}

nlohmann::ordered_json report_json(const Report& rep) {
  using J = nlohmann::ordered_json;
  J doc;
  doc["report"] = "bloom-eval report/1";
  doc["files"] = J::array();
  for (const FileSummary& f : rep.files) {
    doc["files"].push_back({{"path", f.path}, {"schema", f.info.schema},
                            {"runner_version", f.info.runner_version}, {"created", f.info.created},
                            {"complete", f.info.complete}, {"runs", f.n_runs}});
  }
  if (rep.baseline >= 0) {
    const RunSummary& b = rep.runs[static_cast<size_t>(rep.baseline)];
    doc["baseline"] = {{"file", b.file}, {"run", b.name}, {"label", b.label}, {"rule", rep.baseline_rule},
                       {"passages_per_second", b.attrs.passages_per_second}};
  } else {
    doc["baseline"] = nullptr;
  }
  doc["accuracy_tolerance_rule"] = rep.tolerance_overridden ? "--tolerance" : tolerance_rule();
  doc["balance_run"] = rep.balance_run;
  doc["runs"] = J::array();
  for (const RunSummary& r : rep.runs) {
    const io::RunAttributes& a = r.attrs;
    J j;
    j["file"] = r.file;
    j["run"] = r.name;
    j["label"] = r.label;
    j["complete"] = r.complete;
    j["model"] = a.model;
    j["dtype"] = a.dtype;
    j["backend"] = a.backend;
    j["tp"] = a.tp;
    j["dp"] = a.dp;
    j["ranks"] = r.ranks;
    j["batch_size"] = a.batch_size;
    j["max_tokens"] = a.max_tokens;
    j["n_examples"] = r.n_rows;
    j["n_done"] = r.n_done;
    j["n_correct"] = r.n_correct;
    j["accuracy"] = r.accuracy;
    j["accuracy_stderr"] = r.stats.accuracy_stderr;
    j["accuracy_ci95_low"] = r.stats.accuracy_ci95_low;
    j["accuracy_ci95_high"] = r.stats.accuracy_ci95_high;
    j["token_perplexity"] = r.stats.token_perplexity;
    j["passage_perplexity"] = r.stats.passage_perplexity;
    j["passage_perplexity_stderr"] = r.stats.passage_perplexity_stderr;
    j["n_evaluated"] = a.n_evaluated;
    j["throughput_partial"] = r.throughput_partial;
    j["passages_per_second"] = a.passages_per_second;
    j["tokens_per_second"] = a.tokens_per_second;
    j["evaluate_seconds"] = a.evaluate_seconds;
    j["wall_seconds"] = a.wall_seconds;
    j["load_seconds"] = a.load_seconds;
    j["tokenize_seconds"] = a.tokenize_seconds;
    j["peak_device_bytes"] = a.peak_device_bytes;
    j["speedup"] = r.speedup ? J(*r.speedup) : J(nullptr);
    j["forward_seconds"] = r.forward_seconds;  // rank-seconds, summed over ranks
    j["comm_seconds"] = r.comm_seconds;
    j["wait_seconds"] = r.wait_seconds;
    j["idle_seconds"] = r.idle_seconds;
    j["attempts"] = r.attempts;
    j["accuracy_flag"] = r.accuracy_flag;
    j["accuracy_group_size"] = r.group_size;
    j["others_median_correct"] = r.group_size > 1 ? J(r.others_median_correct) : J(nullptr);
    j["accuracy_tolerance"] = r.tolerance;
    for (const char* k : {"method", "tokenizer", "dataset"}) {
      const std::string v = run_string(r, k);
      j[k] = v.empty() ? J(nullptr) : J(v);
    }
    // Provenance (bloom-eval/2; null in /1 files).
    const auto text_or_null = [](const std::string& v) { return v.empty() ? J(nullptr) : J(v); };
    j["schema"] = r.schema_version == 1 ? io::kResultsSchemaV1 : io::kResultsSchema;
    j["started_utc"] = text_or_null(a.started_utc);
    j["finished_utc"] = text_or_null(a.finished_utc);
    j["overrides"] = text_or_null(a.overrides);
    j["spec"] = text_or_null(run_string(r, "spec"));
    j["config_sha256"] = text_or_null(a.config_sha256);
    j["tokenizer_sha256"] = text_or_null(a.tokenizer_sha256);
    j["dataset_sha256"] = text_or_null(a.dataset_sha256);
    j["weights_fingerprint"] = text_or_null(a.weights_fingerprint);
    j["environment"] = a.environment.empty() ? J(nullptr) : J::parse(a.environment, nullptr, false);
    j["per_rank"] = J::array();
    for (const RankBusy& b : r.busy) {
      j["per_rank"].push_back({{"rank", b.rank}, {"dp_rank", b.dp_rank}, {"tp_rank", b.tp_rank},
                               {"batches", b.batches}, {"sequences", b.sequences}, {"tokens", b.tokens},
                               {"forward_seconds", b.forward_seconds}, {"comm_seconds", b.comm_seconds},
                               {"wait_seconds", b.wait_seconds}});
    }
    doc["runs"].push_back(std::move(j));
  }
  return doc;
}

// ---- text helpers ----

std::string one_line(const std::string& text) {
  std::string out;
  for (const char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '\n' || c == '\r' || c == '\t') out += ' ';
    else if (u < 0x20 || u == 0x7f) out += fmt::format("\\x{:02x}", u);
    else out += c;
  }
  return out;
}

namespace {
// Terminal columns of one code point: 0 for combining marks and zero-width characters, 2 for East
// Asian wide and fullwidth characters and most emoji, else 1 (a small wcwidth without locales).
int code_point_width(uint32_t c) {
  if ((c >= 0x0300 && c <= 0x036F) || (c >= 0x200B && c <= 0x200F) || (c >= 0xFE00 && c <= 0xFE0F))
    return 0;
  if ((c >= 0x1100 && c <= 0x115F) || (c >= 0x2E80 && c <= 0x303E) || (c >= 0x3041 && c <= 0x33FF) ||
      (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0xA000 && c <= 0xA4CF) ||
      (c >= 0xAC00 && c <= 0xD7A3) || (c >= 0xF900 && c <= 0xFAFF) || (c >= 0xFE30 && c <= 0xFE4F) ||
      (c >= 0xFF00 && c <= 0xFF60) || (c >= 0xFFE0 && c <= 0xFFE6) || (c >= 0x1F300 && c <= 0x1F64F) ||
      (c >= 0x1F900 && c <= 0x1F9FF) || (c >= 0x20000 && c <= 0x3FFFD))
    return 2;
  return 1;
}
}  // namespace

size_t display_width(const std::string& text) {
  size_t n = 0;
  for (size_t i = 0; i < text.size();) {
    const auto b = static_cast<unsigned char>(text[i]);
    const int len = b < 0x80 ? 1 : (b >> 5) == 0x6 ? 2 : (b >> 4) == 0xE ? 3 : (b >> 3) == 0x1E ? 4 : 1;
    uint32_t c = len == 1 ? b : b & (0x7F >> len);
    for (int k = 1; k < len && i + static_cast<size_t>(k) < text.size(); ++k)
      c = (c << 6) | (static_cast<unsigned char>(text[i + static_cast<size_t>(k)]) & 0x3F);
    n += static_cast<size_t>(code_point_width(c));
    i += static_cast<size_t>(len);
  }
  return n;
}

std::string tail(const std::string& text, size_t width) {
  if (display_width(text) <= width) return text;
  if (width == 0) return "";
  size_t used = 0, pos = text.size();  // keep width-1 columns after the "…"
  while (pos > 0) {
    size_t start = pos - 1;
    while (start > 0 && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80) --start;
    const size_t w = display_width(text.substr(start, pos - start));
    if (used + w > width - 1) break;
    used += w;
    pos = start;
  }
  return "\u2026" + text.substr(pos);
}

std::string wrap(const std::string& text, size_t width, const std::string& indent) {
  std::string out, line;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find(' ', start);
    if (end == std::string::npos) end = text.size();
    const std::string word = text.substr(start, end - start);
    if (!line.empty() && display_width(line) + 1 + display_width(word) > width) {
      out += line + "\n";
      line = indent;
    } else if (!line.empty() && line != indent) {
      line += ' ';
    }
    line += word;
    start = end + 1;
  }
  return out + line;
}

std::string pad(const std::string& text, size_t width, bool right) {
  const size_t w = display_width(text);
  if (w >= width) return text;
  return right ? std::string(width - w, ' ') + text : text + std::string(width - w, ' ');
}

std::string csv_field(const std::string& text) {
  if (text.find_first_of(",\"\n\r") == std::string::npos) return text;
  std::string out = "\"";
  for (const char c : text) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

std::string human_bytes(int64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024.0 && u < 4) v /= 1024.0, ++u;
  return u == 0 ? fmt::format("{} B", bytes) : fmt::format("{:.1f} {}", v, units[u]);
}

}  // namespace bloom::report

// `runner report --run NAME --examples | --wrong | --diff OTHER`: passages of a run as text.
// Predicted and target ids are decoded with the run's tokenizer (run attribute `tokenizer`) and
// the context comes from the run's dataset file (attribute `dataset`; prediction `index` = passage
// position in it). Either may be missing or moved: relative paths (bloom-eval/1 files) are also
// tried from the results file's folder and its parents, --tokenizer / --dataset override them,
// and without a tokenizer the ids are printed, without a dataset the context is left out (a
// warning says so). --diff ends its summary with the paired comparison (io/run_summary.h).
#include <sys/stat.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <optional>
#include <ostream>

#include <fmt/format.h>

#include "core/check.h"
#include "io/dataset.h"
#include "io/tokenizer.h"
#include "runner/report/report_data.h"

namespace bloom::report {
namespace {

using J = nlohmann::ordered_json;

bool is_file(const std::string& p) {
  struct stat st;
  return stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

std::string ids_text(const std::vector<int32_t>& ids) {
  std::string s = "[";
  for (size_t i = 0; i < ids.size(); ++i) s += (i ? " " : "") + std::to_string(ids[i]);
  return s + "]";
}

// A JSON string literal of the text: quotes show leading spaces, escapes show odd characters.
std::string quoted(const std::string& text) {
  return J(one_line(text)).dump(-1, ' ', false, J::error_handler_t::replace);
}

// Tokenizer and dataset of one run, loaded once per path.
struct RunText {
  std::shared_ptr<io::Tokenizer> tokenizer;
  std::shared_ptr<std::vector<io::Example>> dataset;
  std::string tokenizer_path, dataset_path;  // as resolved; empty when unavailable

  /// Decoded text; without a tokenizer the ids ("[12 345]").
  std::string decode(const std::vector<int32_t>& ids) const {
    return tokenizer ? tokenizer->decode(ids, /*skip_special_tokens=*/false) : ids_text(ids);
  }
  /// Table cell: the decoded text quoted (spaces visible), else the bare ids.
  std::string cell(const std::vector<int32_t>& ids) const {
    return tokenizer ? quoted(decode(ids)) : ids_text(ids);
  }
  /// JSON value: decoded text, null without a tokenizer (the ids are beside it).
  J json(const std::vector<int32_t>& ids) const { return tokenizer ? J(decode(ids)) : J(nullptr); }
  const io::Example* example(int64_t index) const {
    if (!dataset || index < 0 || index >= static_cast<int64_t>(dataset->size())) return nullptr;
    return &(*dataset)[static_cast<size_t>(index)];
  }
};

class TextSources {
 public:
  TextSources(const ReportOptions& opt, std::ostream& err) : opt_(opt), err_(err) {}

  RunText for_run(const RunSummary& r, int64_t max_index) {
    RunText t;
    const auto attr = [&](const char* k) { return run_string(r, k); };
    const std::string tok_attr = opt_.tokenizer.empty() ? attr("tokenizer") : opt_.tokenizer;
    const std::string ds_attr = opt_.dataset.empty() ? attr("dataset") : opt_.dataset;
    if (auto p = resolve_input(tok_attr, r.file)) {
      auto& slot = tokenizers_[*p];
      if (!slot) {
        try {
          slot = std::make_shared<io::Tokenizer>(io::Tokenizer::from_file(*p));
        } catch (const std::exception& e) {
          err_ << fmt::format("warning: run {}: cannot load tokenizer '{}': {}; printing token ids\n",
                              r.label, *p, error_message(e));
        }
      }
      t.tokenizer = slot;
      if (slot) t.tokenizer_path = *p;
    } else {
      err_ << fmt::format("warning: run {}: tokenizer {} not found (give --tokenizer FILE); printing "
                          "token ids\n", r.label, tok_attr.empty() ? "(no `tokenizer` attribute)" : "'" + tok_attr + "'");
    }
    if (auto p = resolve_input(ds_attr, r.file)) {
      auto& slot = datasets_[*p];
      if (!slot || static_cast<int64_t>(slot->size()) <= max_index) {
        try {
          slot = std::make_shared<std::vector<io::Example>>(io::read_lambada(*p, max_index + 1));
        } catch (const std::exception& e) {
          err_ << fmt::format("warning: run {}: cannot read dataset '{}': {}; context left out\n",
                              r.label, *p, error_message(e));
          slot.reset();
        }
      }
      t.dataset = slot;
      if (slot) t.dataset_path = *p;
      if (slot && static_cast<int64_t>(slot->size()) <= max_index)
        err_ << fmt::format("warning: run {}: dataset '{}' has {} passages but the run has index {}; "
                            "later passages have no context\n", r.label, *p, slot->size(), max_index);
    } else {
      err_ << fmt::format("warning: run {}: dataset {} not found (give --dataset FILE); context left "
                          "out\n", r.label, ds_attr.empty() ? "(no `dataset` attribute)" : "'" + ds_attr + "'");
    }
    return t;
  }

 private:
  const ReportOptions& opt_;
  std::ostream& err_;
  std::map<std::string, std::shared_ptr<io::Tokenizer>> tokenizers_;
  std::map<std::string, std::shared_ptr<std::vector<io::Example>>> datasets_;
};

// Done rows of one run, by dataset index.
struct Rows {
  std::vector<io::PassageResult> rows;
  std::vector<uint8_t> done;
  int64_t max_index = -1;
};

Rows read_rows(const RunSummary& r) {
  io::ResultsFile w(r.file, io::OpenMode::ReadOnly, "", "");
  Rows out;
  out.rows = w.read_predictions(r.name);
  out.done = w.done_rows(r.name);
  for (size_t i = 0; i < out.rows.size(); ++i)
    if (out.done[i]) out.max_index = std::max(out.max_index, out.rows[i].index);
  return out;
}

// Target text: the dataset's word when the dataset is there (checked against the run's target
// ids when the tokenizer is there too), else the decoded target ids, else nothing.
std::optional<std::string> target_text(const RunText& t, const io::PassageResult& p, bool* mismatch) {
  const io::Example* ex = t.example(p.index);
  if (!ex) return t.tokenizer ? std::optional<std::string>(t.decode(p.target_ids)) : std::nullopt;
  if (t.tokenizer && t.tokenizer->encode(ex->target) != p.target_ids) *mismatch = true;
  return ex->target;
}

std::string target_cell(const std::optional<std::string>& text, const io::PassageResult& p) {
  return text ? quoted(*text) : ids_text(p.target_ids);
}
J target_json(const std::optional<std::string>& text) { return text ? J(*text) : J(nullptr); }

std::string context_of(const RunText& t, const io::PassageResult& p) {
  const io::Example* ex = t.example(p.index);
  return ex ? ex->context : std::string();
}

struct Column {
  std::string title;
  bool right;
  std::vector<std::string> cells;
};

void print_columns(const std::vector<Column>& cols, std::ostream& out) {
  std::vector<size_t> width;
  for (const Column& c : cols) {
    size_t w = display_width(c.title);
    for (const std::string& s : c.cells) w = std::max(w, display_width(s));
    width.push_back(w);
  }
  const size_t n = cols.empty() ? 0 : cols[0].cells.size();
  auto line = [&](auto cell) {
    std::string s;
    for (size_t c = 0; c < cols.size(); ++c) {
      const bool last = c + 1 == cols.size();
      const std::string text = pad(cell(c), last && !cols[c].right ? 0 : width[c], cols[c].right);
      s += (c ? "  " : "") + text;
    }
    out << s << "\n";
  };
  line([&](size_t c) { return cols[c].title; });
  for (size_t r = 0; r < n; ++r) line([&](size_t c) { return cols[c].cells[r]; });
}

void warn_mismatch(bool mismatch, const RunSummary& r, const RunText& t, std::ostream& err) {
  if (mismatch)
    err << fmt::format("warning: run {}: some dataset targets in '{}' do not tokenize to the run's "
                       "target ids: is it the file the run read?\n", r.label, t.dataset_path);
}

int list_examples(const RunSummary& r, const ReportOptions& opt, std::ostream& out, std::ostream& err) {
  const Rows rows = read_rows(r);
  TextSources sources(opt, err);
  const RunText text = sources.for_run(r, rows.max_index);
  bool mismatch = false;
  J passages = J::array();
  std::vector<Column> cols = {{"index", true, {}},     {"context (tail)", true, {}}, {"target", false, {}},
                              {"predicted", false, {}}, {"correct", false, {}},       {"logprob", true, {}}};
  std::vector<std::string> csv;
  int64_t listed = 0, n_wrong = 0, n_done = 0;
  for (size_t i = 0; i < rows.rows.size(); ++i) {
    if (!rows.done[i]) continue;
    const io::PassageResult& p = rows.rows[i];
    ++n_done;
    n_wrong += p.correct ? 0 : 1;
    if (opt.wrong && p.correct) continue;
    if (opt.limit > 0 && listed >= opt.limit) continue;
    ++listed;
    const std::optional<std::string> target = target_text(text, p, &mismatch);
    const std::string predicted = text.tokenizer ? text.decode(p.predicted_ids) : "";
    const std::string context = context_of(text, p);
    if (opt.format == "json") {
      passages.push_back({{"row", i}, {"index", p.index}, {"correct", p.correct},
                          {"target_logprob", p.target_logprob}, {"target", target_json(target)},
                          {"predicted", text.json(p.predicted_ids)}, {"target_ids", p.target_ids},
                          {"predicted_ids", p.predicted_ids}, {"context_len", p.context_len},
                          {"context", text.dataset ? J(context) : J(nullptr)}});
    } else if (opt.format == "csv") {
      csv.push_back(fmt::format("{},{},{},{},{},{},{},{},{}", p.index, i, p.correct ? 1 : 0,
                                fmt::format("{}", p.target_logprob), csv_field(target.value_or("")),
                                csv_field(predicted), ids_text(p.target_ids), ids_text(p.predicted_ids),
                                csv_field(context)));
    } else {
      cols[0].cells.push_back(std::to_string(p.index));
      cols[1].cells.push_back(tail(one_line(context), static_cast<size_t>(opt.context_chars)));
      cols[2].cells.push_back(target_cell(target, p));
      cols[3].cells.push_back(text.cell(p.predicted_ids));
      cols[4].cells.push_back(p.correct ? "yes" : "no");
      cols[5].cells.push_back(fmt::format("{:.4f}", p.target_logprob));
    }
  }
  warn_mismatch(mismatch, r, text, err);
  if (opt.format == "json") {
    J doc = {{"file", r.file}, {"run", r.name}, {"mode", opt.wrong ? "wrong" : "examples"},
             {"tokenizer", text.tokenizer ? J(text.tokenizer_path) : J(nullptr)},
             {"dataset", text.dataset ? J(text.dataset_path) : J(nullptr)},
             {"n_examples", r.n_rows}, {"n_done", n_done}, {"n_wrong", n_wrong}, {"n_listed", listed},
             {"passages", passages}};
    out << doc.dump(2, ' ', false, J::error_handler_t::replace) << "\n";
  } else if (opt.format == "csv") {
    out << "index,row,correct,target_logprob,target,predicted,target_ids,predicted_ids,context\n";
    for (const std::string& l : csv) out << l << "\n";
  } else {
    out << fmt::format("run {} in {}: {} {} on {}, tp {} x dp {}; {} of {} passages correct{}\n", r.label,
                       r.file, r.model_short(), r.attrs.dtype, r.attrs.backend, r.attrs.tp, r.attrs.dp,
                       n_done - n_wrong, n_done, r.n_done < r.n_rows ? fmt::format(" ({} not done)", r.n_rows - r.n_done) : "");
    print_columns(cols, out);
    out << fmt::format("{} passage(s) listed{}\n", listed, opt.wrong ? " (misses only)" : "");
  }
  return 0;
}

int list_diff(const RunSummary& a, const RunSummary& b, const ReportOptions& opt, std::ostream& out,
              std::ostream& err) {
  const Rows ra = read_rows(a), rb = read_rows(b);
  TextSources sources(opt, err);
  const RunText ta = sources.for_run(a, ra.max_index), tb = sources.for_run(b, rb.max_index);
  std::map<int64_t, size_t> b_row;
  for (size_t i = 0; i < rb.rows.size(); ++i)
    if (rb.done[i]) b_row[rb.rows[i].index] = i;
  bool mismatch = false;
  int64_t common = 0, disagree = 0, only_a = 0, only_b = 0, listed = 0;
  double max_dlogprob = 0.0;
  J passages = J::array();
  std::vector<Column> cols = {{"index", true, {}},          {"context (tail)", true, {}},
                              {"target", false, {}},        {"A predicted", false, {}},
                              {"A correct", false, {}},     {"A logprob", true, {}},
                              {"B predicted", false, {}},   {"B correct", false, {}},
                              {"B logprob", true, {}}};
  std::vector<std::string> csv;
  for (size_t i = 0; i < ra.rows.size(); ++i) {
    if (!ra.done[i]) continue;
    auto it = b_row.find(ra.rows[i].index);
    if (it == b_row.end()) continue;
    const io::PassageResult& pa = ra.rows[i];
    const io::PassageResult& pb = rb.rows[it->second];
    ++common;
    max_dlogprob = std::max(max_dlogprob, std::abs(pa.target_logprob - pb.target_logprob));
    if (pa.predicted_ids == pb.predicted_ids && pa.correct == pb.correct) continue;
    ++disagree;
    only_a += pa.correct && !pb.correct;
    only_b += pb.correct && !pa.correct;
    if (opt.wrong && pa.correct && pb.correct) continue;
    if (opt.limit > 0 && listed >= opt.limit) continue;
    ++listed;
    const std::optional<std::string> target = target_text(ta, pa, &mismatch);
    const std::string context = context_of(ta, pa);
    const std::string pred_a = ta.tokenizer ? ta.decode(pa.predicted_ids) : "";
    const std::string pred_b = tb.tokenizer ? tb.decode(pb.predicted_ids) : "";
    if (opt.format == "json") {
      const auto side = [](const io::PassageResult& p, const RunText& t, size_t row) {
        return J{{"row", row}, {"predicted", t.json(p.predicted_ids)}, {"predicted_ids", p.predicted_ids},
                 {"correct", p.correct}, {"target_logprob", p.target_logprob}};
      };
      passages.push_back({{"index", pa.index}, {"target", target_json(target)}, {"target_ids", pa.target_ids},
                          {"context", ta.dataset ? J(context) : J(nullptr)},
                          {"a", side(pa, ta, i)}, {"b", side(pb, tb, it->second)}});
    } else if (opt.format == "csv") {
      csv.push_back(fmt::format("{},{},{},{},{},{},{},{},{},{},{}", pa.index, csv_field(target.value_or("")),
                                csv_field(pred_a), ids_text(pa.predicted_ids), pa.correct ? 1 : 0,
                                fmt::format("{}", pa.target_logprob), csv_field(pred_b),
                                ids_text(pb.predicted_ids), pb.correct ? 1 : 0,
                                fmt::format("{}", pb.target_logprob), csv_field(context)));
    } else {
      cols[0].cells.push_back(std::to_string(pa.index));
      cols[1].cells.push_back(tail(one_line(context), static_cast<size_t>(opt.context_chars)));
      cols[2].cells.push_back(target_cell(target, pa));
      cols[3].cells.push_back(ta.cell(pa.predicted_ids));
      cols[4].cells.push_back(pa.correct ? "yes" : "no");
      cols[5].cells.push_back(fmt::format("{:.4f}", pa.target_logprob));
      cols[6].cells.push_back(tb.cell(pb.predicted_ids));
      cols[7].cells.push_back(pb.correct ? "yes" : "no");
      cols[8].cells.push_back(fmt::format("{:.4f}", pb.target_logprob));
    }
  }
  warn_mismatch(mismatch, a, ta, err);
  const io::PairedComparison paired = io::compare_paired(ra.rows, ra.done, rb.rows, rb.done);
  if (opt.format == "json") {
    J doc = {{"mode", "diff"},
             {"a", {{"file", a.file}, {"run", a.name}}},
             {"b", {{"file", b.file}, {"run", b.name}}},
             {"n_common", common}, {"n_disagree", disagree}, {"n_only_a_correct", only_a},
             {"n_only_b_correct", only_b}, {"max_abs_logprob_diff", max_dlogprob},
             {"paired", {{"n_common", paired.n_common}, {"n_both_correct", paired.n_both_correct},
                         {"n_both_wrong", paired.n_both_wrong}, {"n_only_a_correct", paired.n_only_a},
                         {"n_only_b_correct", paired.n_only_b}, {"accuracy_a", paired.accuracy_a},
                         {"accuracy_b", paired.accuracy_b}, {"difference", paired.difference},
                         {"difference_ci95_low", paired.difference_ci95_low},
                         {"difference_ci95_high", paired.difference_ci95_high},
                         {"mcnemar_p", paired.mcnemar_p}}},
             {"n_listed", listed}, {"passages", passages}};
    out << doc.dump(2, ' ', false, J::error_handler_t::replace) << "\n";
  } else if (opt.format == "csv") {
    out << "index,target,a_predicted,a_predicted_ids,a_correct,a_target_logprob,b_predicted,"
           "b_predicted_ids,b_correct,b_target_logprob,context\n";
    for (const std::string& l : csv) out << l << "\n";
  } else {
    out << fmt::format("A = {} ({}), B = {} ({})\n", a.label, a.file, b.label, b.file);
    out << fmt::format("{} passages in both; {} disagree (predicted ids or correctness): {} only A "
                       "got right, {} only B; max |logprob A - logprob B| = {:.3g}\n",
                       common, disagree, only_a, only_b, max_dlogprob);
    out << fmt::format("paired: accuracy A {:.2f}% vs B {:.2f}% on the same {} passages: difference "
                       "{:+.2f}% (95% CI {:+.2f}% to {:+.2f}%); McNemar exact p = {:.4g} ({} right only "
                       "in A, {} only in B)\n",
                       100.0 * paired.accuracy_a, 100.0 * paired.accuracy_b, paired.n_common,
                       100.0 * paired.difference, 100.0 * paired.difference_ci95_low,
                       100.0 * paired.difference_ci95_high, paired.mcnemar_p, paired.n_only_a, paired.n_only_b);
    if (disagree > 0) print_columns(cols, out);
    out << fmt::format("{} passage(s) listed{}\n", listed, opt.wrong ? " (missed by A or B)" : "");
  }
  return 0;
}

}  // namespace

std::optional<std::string> resolve_input(const std::string& path, const std::string& results_file) {
  if (path.empty()) return std::nullopt;
  if (is_file(path)) return path;
  if (path[0] == '/') return std::nullopt;
  std::string dir = results_file;
  for (;;) {
    const size_t slash = dir.find_last_of('/');
    if (slash == std::string::npos) break;
    dir = dir.substr(0, slash);
    const std::string candidate = (dir.empty() ? "" : dir + "/") + path;
    if (is_file(candidate)) return candidate;
    if (dir.empty()) break;
  }
  return std::nullopt;
}

int list_passages(const Report& rep, const ReportOptions& opt, std::ostream& out, std::ostream& err) {
  const RunSummary& a = rep.runs[static_cast<size_t>(find_run(rep, opt.run))];
  if (!opt.diff.empty()) return list_diff(a, rep.runs[static_cast<size_t>(find_run(rep, opt.diff))], opt, out, err);
  return list_examples(a, opt, out, err);
}

}  // namespace bloom::report

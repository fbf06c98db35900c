// ResultsFile's writes (see results_file.h): a run's group and columns, prediction rows with
// their checksums before their done flags, timings, a run's final attributes, the job's
// `complete`. Every call ends with a flush.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "io/hdf5_util.h"
#include "io/results_file.h"
#include "io/results_integrity.h"
#include "io/results_layout.h"
#include "io/run_attributes.h"

namespace bloom::io {
namespace {

using h5::Handle;

// Column names and file types, in the order RESULTS.md lists them.
struct Column {
  const char* name;
  hid_t (*file_type)();
};
const Column kTimingColumns[] = {
    {"batch", h5::TypeOf<int64_t>::file},         {"rank", h5::TypeOf<int32_t>::file},
    {"dp_rank", h5::TypeOf<int32_t>::file},       {"tp_rank", h5::TypeOf<int32_t>::file},
    {"n_sequences", h5::TypeOf<int32_t>::file},   {"n_tokens", h5::TypeOf<int64_t>::file},
    {"forward_seconds", h5::TypeOf<double>::file}, {"comm_seconds", h5::TypeOf<double>::file},
    {"wait_seconds", h5::TypeOf<double>::file},   {"start_seconds", h5::TypeOf<double>::file}};

void create_run(hid_t runs, const std::string& name, int64_t n_examples) {
  Handle run = h5::create_group(runs, name);
  Handle predictions = h5::create_group(run.get(), "predictions");
  hsize_t rows = static_cast<hsize_t>(n_examples);
  h5::create_column(predictions.get(), "index", h5::TypeOf<int64_t>::file(), rows, false);
  h5::create_column(predictions.get(), "correct", h5::TypeOf<uint8_t>::file(), rows, false);
  h5::create_column(predictions.get(), "target_logprob", h5::TypeOf<double>::file(), rows, false);
  h5::create_column(predictions.get(), "context_len", h5::TypeOf<int32_t>::file(), rows, false);
  h5::create_column(predictions.get(), "target_len", h5::TypeOf<int32_t>::file(), rows, false);
  Handle sequence = h5::vlen_int32_type(true);
  h5::create_column(predictions.get(), "target_ids", sequence.get(), rows, false);
  h5::create_column(predictions.get(), "predicted_ids", sequence.get(), rows, false);
  h5::create_column(predictions.get(), integrity::kRowChecksum, h5::TypeOf<int64_t>::file(), rows, false);
  h5::create_column(predictions.get(), "done", h5::TypeOf<uint8_t>::file(), rows, false);
  Handle timings = h5::create_group(run.get(), "timings");
  for (const Column& column : kTimingColumns) {
    h5::create_column(timings.get(), column.name, column.file_type(), 0, true);
  }
}

}  // namespace

void ResultsFile::begin_run(const std::string& name, int64_t n_examples, const RunAttributes& attrs) {
  check_writable(mode_, path_, "begin a run");
  check_run_name(name);
  BLOOM_CHECK(n_examples >= 0, "run '{}' in '{}': n_examples must be >= 0, got {}", name, path_, n_examples);
  BLOOM_CHECK(attrs.n_examples == 0 || attrs.n_examples == n_examples,
              "run '{}' in '{}': attributes say n_examples = {} but the run has {} rows", name, path_,
              attrs.n_examples, n_examples);
  Handle runs = h5::open_group(file_, "runs");
  if (!h5::has_link(runs.get(), name)) {
    create_run(runs.get(), name, n_examples);
  } else {
    BLOOM_CHECK(mode_ == OpenMode::Resume,
                "results file '{}' already has a run '{}' (run names must be unique in a job)", path_, name);
    Handle run = h5::open_group(runs.get(), name);
    BLOOM_CHECK(h5::read_int_attribute(run.get(), "complete") == 0,
                "run '{}' in '{}' is already complete: check run_complete() before begin_run()", name, path_);
    Handle done = h5::open_dataset(run.get(), "predictions/done");
    int64_t stored = static_cast<int64_t>(h5::column_rows(done.get()));
    BLOOM_CHECK(stored == n_examples,
                "cannot resume run '{}' in '{}': it has {} examples, this job has {} (different dataset or "
                "limits? use output.overwrite or another output file)",
                name, path_, stored, n_examples);
  }
  Handle run = h5::open_group(runs.get(), name);
  run_attributes::write(run.get(), attrs, n_examples, /*complete=*/false);
  integrity::seal_attributes(run.get());
  flush();
}

bool ResultsFile::run_complete(const std::string& name) const {
  check_run_name(name);
  Handle runs = h5::open_group(file_, "runs");
  if (!h5::has_link(runs.get(), name)) return false;
  Handle run = h5::open_group(runs.get(), name);
  return h5::has_attribute(run.get(), "complete") && h5::read_int_attribute(run.get(), "complete") == 1;
}

std::vector<uint8_t> ResultsFile::done_rows(const std::string& name) const {
  Handle run = open_run(file_, path_, name);
  Handle done = h5::open_dataset(run.get(), "predictions/done");
  return h5::read_column<uint8_t>(done.get());
}

void ResultsFile::write_predictions(const std::string& name, const std::vector<int64_t>& rows,
                                      const std::vector<PassageResult>& results) {
  write_rows(name, rows, results);
  if (!rows.empty()) publish();  // a finished batch: the file is worth resuming from now on
}

void ResultsFile::write_rows(const std::string& name, const std::vector<int64_t>& rows,
                             const std::vector<PassageResult>& results) {
  check_writable(mode_, path_, "write predictions");
  BLOOM_CHECK(rows.size() == results.size(), "run '{}' in '{}': {} rows given for {} results", name, path_,
              rows.size(), results.size());
  Handle run = open_run(file_, path_, name);
  Handle predictions = h5::open_group(run.get(), "predictions");
  Handle done = h5::open_dataset(predictions.get(), "done");
  const int64_t n_rows = static_cast<int64_t>(h5::column_rows(done.get()));

  std::vector<hsize_t> points(rows.begin(), rows.end());
  std::vector<int64_t> index(rows.size());
  std::vector<uint8_t> correct(rows.size()), ones(rows.size(), 1);
  std::vector<double> logprob(rows.size());
  std::vector<int32_t> context_len(rows.size()), target_len(rows.size());
  std::vector<int64_t> checksum(rows.size());
  std::vector<const std::vector<int32_t>*> target_ids(rows.size()), predicted_ids(rows.size());
  for (size_t i = 0; i < rows.size(); ++i) {
    const PassageResult& r = results[i];
    BLOOM_CHECK(rows[i] >= 0 && rows[i] < n_rows, "run '{}' in '{}': row {} is outside [0, {})", name,
                path_, rows[i], n_rows);
    BLOOM_CHECK(r.predicted_ids.size() == r.target_ids.size(),
                "run '{}' in '{}': row {} has {} target ids but {} predicted ids", name, path_, rows[i],
                r.target_ids.size(), r.predicted_ids.size());
    BLOOM_CHECK(r.target_ids.size() <= static_cast<size_t>(std::numeric_limits<int32_t>::max()),
                "run '{}' in '{}': row {} has too many target ids", name, path_, rows[i]);
    BLOOM_CHECK(std::isfinite(r.target_logprob),
                "run '{}' in '{}': row {} (passage {}) has a non-finite target_logprob ({}): "
                "refused, nothing of this batch is written", name, path_, rows[i], r.index,
                r.target_logprob);
    checksum[i] = integrity::row_checksum(rows[i], r);
    index[i] = r.index;
    correct[i] = r.correct ? 1 : 0;
    logprob[i] = r.target_logprob;
    context_len[i] = r.context_len;
    target_len[i] = static_cast<int32_t>(r.target_ids.size());
    target_ids[i] = &r.target_ids;
    predicted_ids[i] = &r.predicted_ids;
  }
  std::vector<hsize_t> sorted = points;
  std::sort(sorted.begin(), sorted.end());
  auto repeated = std::adjacent_find(sorted.begin(), sorted.end());
  BLOOM_CHECK(repeated == sorted.end(), "run '{}' in '{}': row {} given twice in one write", name, path_,
              repeated == sorted.end() ? 0 : *repeated);

  auto column = [&](const char* column_name) { return h5::open_dataset(predictions.get(), column_name); };
  h5::write_column(column("index").get(), points, index);
  h5::write_column(column("correct").get(), points, correct);
  h5::write_column(column("target_logprob").get(), points, logprob);
  h5::write_column(column("context_len").get(), points, context_len);
  h5::write_column(column("target_len").get(), points, target_len);
  h5::write_vlen_column(column("target_ids").get(), points, target_ids);
  h5::write_vlen_column(column("predicted_ids").get(), points, predicted_ids);
  h5::write_column(column(integrity::kRowChecksum).get(), points, checksum);
  // Only once the data is in: a crash before this flush leaves these rows not done.
  flush();
  h5::write_column(done.get(), points, ones);
  flush();
}

void ResultsFile::copy_contents(const std::string& from_path) {
  const ResultsFile from(from_path, Unverified{});
  check_continuable(from_path, from.schema_version());
  h5::write_attribute(file_, "created", from.read_file_info().created);  // the first start's
  integrity::seal_attributes(file_);
  for (const std::string& name : from.run_names()) {
    const std::vector<uint8_t> done = from.done_rows(name);
    std::vector<PassageResult> all = from.read_predictions(name);
    const RunAttributes attrs = from.read_run_attributes(name);
    const int64_t n_rows = static_cast<int64_t>(done.size());
    {
      Handle runs = h5::open_group(file_, "runs");
      create_run(runs.get(), name, n_rows);
      Handle run = h5::open_group(runs.get(), name);
      run_attributes::write(run.get(), attrs, n_rows, attrs.complete);
      integrity::seal_attributes(run.get());
    }
    std::vector<int64_t> rows;
    std::vector<PassageResult> kept;
    for (int64_t i = 0; i < n_rows; ++i) {
      if (!done[static_cast<size_t>(i)]) continue;  // what a killed batch left half-written
      rows.push_back(i);
      kept.push_back(std::move(all[static_cast<size_t>(i)]));
    }
    write_rows(name, rows, kept);
    // A crash inside append_timings can leave columns of different lengths: the common rows.
    append_timings(name, from.read_timings(name, /*keep_common_rows=*/true));
  }
  flush();
}

void ResultsFile::append_timings(const std::string& name, const std::vector<BatchTiming>& timings) {
  check_writable(mode_, path_, "append timings");
  Handle run = open_run(file_, path_, name);
  Handle group = h5::open_group(run.get(), "timings");
  auto append = [&](const char* column_name, auto field) {
    using T = std::decay_t<decltype(field(timings.front()))>;
    std::vector<T> values;
    values.reserve(timings.size());
    for (const BatchTiming& t : timings) values.push_back(field(t));
    Handle dset = h5::open_dataset(group.get(), column_name);
    h5::append_column(dset.get(), values);
  };
  if (timings.empty()) return;
  append("batch", [](const BatchTiming& t) { return t.batch; });
  append("rank", [](const BatchTiming& t) { return t.rank; });
  append("dp_rank", [](const BatchTiming& t) { return t.dp_rank; });
  append("tp_rank", [](const BatchTiming& t) { return t.tp_rank; });
  append("n_sequences", [](const BatchTiming& t) { return t.n_sequences; });
  append("n_tokens", [](const BatchTiming& t) { return t.n_tokens; });
  append("forward_seconds", [](const BatchTiming& t) { return t.forward_seconds; });
  append("comm_seconds", [](const BatchTiming& t) { return t.comm_seconds; });
  append("wait_seconds", [](const BatchTiming& t) { return t.wait_seconds; });
  append("start_seconds", [](const BatchTiming& t) { return t.start_seconds; });
  flush();
}

void ResultsFile::finish_run(const std::string& name, const RunAttributes& final_attrs) {
  check_writable(mode_, path_, "finish a run");
  Handle run = open_run(file_, path_, name);
  std::vector<uint8_t> done = done_rows(name);
  auto missing = std::count(done.begin(), done.end(), uint8_t{0});
  BLOOM_CHECK(missing == 0, "cannot finish run '{}' in '{}': {} of {} rows have no prediction yet", name,
              path_, missing, done.size());
  int64_t n_examples = static_cast<int64_t>(done.size());
  BLOOM_CHECK(final_attrs.n_examples == 0 || final_attrs.n_examples == n_examples,
              "run '{}' in '{}': attributes say n_examples = {} but the run has {} rows", name, path_,
              final_attrs.n_examples, n_examples);
  auto finite = [&](const char* what, double v) {
    BLOOM_CHECK(std::isfinite(v), "cannot finish run '{}' in '{}': its {} is {} (a complete "
                "file holds finite summaries only)", name, path_, what, v);
  };
  finite("accuracy", final_attrs.accuracy);
  finite("accuracy_stderr", final_attrs.accuracy_stderr);
  // A perplexity may overflow to +inf (lm-eval's too); NaN means a NaN row got through.
  auto not_nan = [&](const char* what, double v) { if (std::isnan(v)) finite(what, v); };
  not_nan("token_perplexity", final_attrs.token_perplexity);
  not_nan("passage_perplexity", final_attrs.passage_perplexity);
  for (const auto& [key, value] : final_attrs.extra_numbers) finite(key.c_str(), value);
  run_attributes::write(run.get(), final_attrs, n_examples, /*complete=*/true);
  integrity::seal_attributes(run.get());
  flush();
  publish();
}

void ResultsFile::set_complete(bool complete) {
  check_writable(mode_, path_, "mark the job complete");
  h5::write_attribute(file_, "complete", uint8_t{complete});
  integrity::seal_attributes(file_);
  flush();
  if (complete) publish();
}

}  // namespace bloom::io

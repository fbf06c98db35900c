// ResultsFile's reading side: root and run attributes, run names, predictions (each finished
// row checked against its checksum) and timings, as io/RESULTS.md lays them out.
#include <algorithm>

#include "io/hdf5_util.h"
#include "io/results_file.h"
#include "io/results_integrity.h"
#include "io/results_layout.h"
#include "io/run_attributes.h"

namespace bloom::io {

using h5::Handle;

ResultsFileInfo ResultsFile::read_file_info() const {
  integrity::check_attributes(file_, "the root group", path_, /*required=*/false);
  ResultsFileInfo info;
  info.schema = h5::read_string_attribute(file_, "schema");
  info.runner_version = h5::read_string_attribute(file_, "runner_version");
  info.job_spec = h5::read_string_attribute(file_, "job_spec");
  info.created = h5::read_string_attribute(file_, "created");
  info.complete = h5::read_int_attribute(file_, "complete") == 1;
  return info;
}

namespace {
herr_t collect_link(hid_t /*group*/, const char* name, const H5L_info_t* /*info*/, void* out) {
  static_cast<std::vector<std::string>*>(out)->emplace_back(name);
  return 0;
}
}  // namespace

std::vector<std::string> ResultsFile::run_names() const {
  Handle runs = h5::open_group(file_, "runs");
  std::vector<std::string> names;
  // Creation order where tracked (files we wrote), else by name.
  if (H5Literate(runs.get(), H5_INDEX_CRT_ORDER, H5_ITER_INC, nullptr, collect_link, &names) < 0) {
    H5Eclear2(H5E_DEFAULT);
    names.clear();
    BLOOM_H5_CHECK(H5Literate(runs.get(), H5_INDEX_NAME, H5_ITER_INC, nullptr, collect_link, &names) >= 0,
                   "cannot list the runs of '{}'", path_);
  }
  return names;
}

std::vector<PassageResult> ResultsFile::read_predictions(const std::string& name) const {
  Handle run = open_run(file_, path_, name);
  Handle predictions = h5::open_group(run.get(), "predictions");
  auto column = [&](const char* column_name) { return h5::open_dataset(predictions.get(), column_name); };
  auto index = h5::read_column<int64_t>(column("index").get());
  auto correct = h5::read_column<uint8_t>(column("correct").get());
  auto logprob = h5::read_column<double>(column("target_logprob").get());
  auto context_len = h5::read_column<int32_t>(column("context_len").get());
  auto target_ids = h5::read_vlen_column(column("target_ids").get());
  auto predicted_ids = h5::read_vlen_column(column("predicted_ids").get());
  auto target_len = h5::read_column<int32_t>(column("target_len").get());
  auto done = h5::read_column<uint8_t>(column("done").get());
  // Files written before row checksums have none: read as they are.
  const bool checksummed = h5::has_link(predictions.get(), integrity::kRowChecksum);
  std::vector<int64_t> checksum;
  if (checksummed) checksum = h5::read_column<int64_t>(column(integrity::kRowChecksum).get());
  const size_t n = index.size();
  BLOOM_CHECK(correct.size() == n && logprob.size() == n && context_len.size() == n &&
                  target_ids.size() == n && predicted_ids.size() == n && target_len.size() == n &&
                  done.size() == n && (!checksummed || checksum.size() == n),
              "results file '{}' is damaged: the prediction datasets of run '{}' have different "
              "lengths", path_, name);
  std::vector<PassageResult> results(n);
  for (size_t i = 0; i < n; ++i) {
    results[i].index = index[i];
    results[i].correct = correct[i] != 0;
    results[i].target_logprob = logprob[i];
    results[i].context_len = context_len[i];
    results[i].target_ids = std::move(target_ids[i]);
    results[i].predicted_ids = std::move(predicted_ids[i]);
    if (!checksummed || done[i] == 0) continue;
    BLOOM_CHECK(checksum[i] == integrity::row_checksum(static_cast<int64_t>(i), results[i]) &&
                    target_len[i] == static_cast<int32_t>(results[i].target_ids.size()),
                "results file '{}' is damaged: row {} of run '{}' does not match its checksum",
                path_, i, name);
  }
  return results;
}

std::vector<BatchTiming> ResultsFile::read_timings(const std::string& name) const {
  return read_timings(name, /*keep_common_rows=*/false);
}

std::vector<BatchTiming> ResultsFile::read_timings(const std::string& name, bool keep_common_rows) const {
  Handle run = open_run(file_, path_, name);
  Handle group = h5::open_group(run.get(), "timings");
  std::vector<BatchTiming> timings;
  bool first = true;
  auto read = [&](const char* column_name, auto member) {
    using T = std::remove_reference_t<decltype(BatchTiming{}.*member)>;
    Handle dset = h5::open_dataset(group.get(), column_name);
    std::vector<T> values = h5::read_column<T>(dset.get());
    if (first) timings.resize(values.size());
    first = false;
    if (keep_common_rows && values.size() > timings.size()) values.resize(timings.size());
    if (keep_common_rows && values.size() < timings.size()) timings.resize(values.size());
    BLOOM_CHECK(values.size() == timings.size(), "run '{}' in '{}': timing datasets have different lengths",
                name, path_);
    for (size_t i = 0; i < values.size(); ++i) timings[i].*member = values[i];
  };
  read("batch", &BatchTiming::batch);
  read("rank", &BatchTiming::rank);
  read("dp_rank", &BatchTiming::dp_rank);
  read("tp_rank", &BatchTiming::tp_rank);
  read("n_sequences", &BatchTiming::n_sequences);
  read("n_tokens", &BatchTiming::n_tokens);
  read("forward_seconds", &BatchTiming::forward_seconds);
  read("comm_seconds", &BatchTiming::comm_seconds);
  read("wait_seconds", &BatchTiming::wait_seconds);
  read("start_seconds", &BatchTiming::start_seconds);
  return timings;
}

RunAttributes ResultsFile::read_run_attributes(const std::string& name) const {
  Handle run = open_run(file_, path_, name);
  integrity::check_attributes(run.get(), fmt::format("run '{}'", name), path_, /*required=*/false);
  return run_attributes::read(run.get(), schema_version_);
}

}  // namespace bloom::io

// ResultsFile::verify: every part of a results file read once and checked (see results_file.h).
// Reading is what checks HDF5's Fletcher32 chunk checksums; on top of them: the attribute
// checksum of the root and of every run, the checksum of every finished row (read_predictions),
// and what the schema promises (one length per run, done flags 0/1, a complete run fully done
// with finite summaries). What the rows must hold for a
// given job (passage order, tokens) is the resume check's (runner/resume.h).
#include <cmath>
#include <vector>

#include "io/hdf5_util.h"
#include "io/results_file.h"
#include "io/results_integrity.h"

namespace bloom::io {
namespace {

using h5::Handle;

herr_t collect_link(hid_t /*group*/, const char* name, const H5L_info_t* /*info*/, void* out) {
  static_cast<std::vector<std::string>*>(out)->emplace_back(name);
  return 0;
}

// Every dataset of `group` read whole in its own type: each chunk's checksum is checked.
void read_every_dataset(hid_t group, const std::string& what, const std::string& path) {
  std::vector<std::string> names;
  BLOOM_H5_CHECK(H5Literate(group, H5_INDEX_NAME, H5_ITER_INC, nullptr, collect_link, &names) >= 0,
                 "results file '{}' is damaged: cannot list {}", path, what);
  for (const std::string& name : names) {
    Handle dset = h5::open_dataset(group, name);
    Handle type(H5Dget_type(dset.get()), H5Tclose);
    BLOOM_H5_CHECK(type.valid(), "results file '{}' is damaged: {}/{} has no type", path, what, name);
    if (H5Tget_class(type.get()) == H5T_VLEN) continue;  // read through read_predictions
    const size_t size = H5Tget_size(type.get());
    const hsize_t rows = h5::column_rows(dset.get());
    BLOOM_CHECK(size > 0 && size <= 16 && rows < (hsize_t{1} << 40),
                "results file '{}' is damaged: {}/{} has {} rows of {} bytes", path, what, name,
                rows, size);
    std::vector<unsigned char> bytes(static_cast<size_t>(rows) * size);
    if (rows > 0) h5::read_all(dset.get(), type.get(), bytes.data());
  }
}

}  // namespace

VerifySummary ResultsFile::verify(const std::string& path, bool require_checksums) {
  const ResultsFile f(path, Unverified{});  // not HDF5, not ours: those messages as they are
  // A file of the previous schema has no checksums: continuing it is refused as such.
  if (require_checksums) check_continuable(path, f.schema_version_);
  try {
    return f.verify_contents(require_checksums);
  } catch (const Error& e) {
    // Past the open, whatever cannot be read (a chunk's checksum, a broken structure) is damage.
    const std::string& m = e.message();
    if (m.find("' is damaged: ") != std::string::npos || m.find("cannot be verified") != std::string::npos)
      throw;
    BLOOM_FAIL("results file '{}' is damaged: {}", path, m);
  }
}

VerifySummary ResultsFile::verify_contents(bool require_checksums) const {
  const ResultsFile& f = *this;
  const std::string& path = path_;
  VerifySummary s;
  s.checksummed = integrity::check_attributes(f.file_, "the root group", path, require_checksums);
  const ResultsFileInfo info = f.read_file_info();
  Handle runs = h5::open_group(f.file_, "runs");
  for (const std::string& name : f.run_names()) {
    const std::string what = fmt::format("run '{}'", name);
    Handle run = h5::open_group(runs.get(), name);
    s.checksummed = integrity::check_attributes(run.get(), what, path, require_checksums) && s.checksummed;
    const RunAttributes a = f.read_run_attributes(name);
    Handle predictions = h5::open_group(run.get(), "predictions");
    const bool rows_checksummed = h5::has_link(predictions.get(), integrity::kRowChecksum);
    BLOOM_CHECK(rows_checksummed || !require_checksums,
                "results file '{}' cannot be verified: {} has no row checksums (files written "
                "before checksums were added have none)", path, what);
    s.checksummed = s.checksummed && rows_checksummed;
    read_every_dataset(predictions.get(), what + " predictions", path);
    const std::vector<PassageResult> rows = f.read_predictions(name);  // row checksums
    const std::vector<uint8_t> done = f.done_rows(name);
    BLOOM_CHECK(static_cast<int64_t>(rows.size()) == a.n_examples,
                "results file '{}' is damaged: {} has {} rows but n_examples = {}", path, what,
                rows.size(), a.n_examples);
    int64_t n_done = 0;
    for (size_t i = 0; i < rows.size(); ++i) {
      BLOOM_CHECK(done[i] <= 1, "results file '{}' is damaged: row {} of {} has done = {}", path,
                  i, what, done[i]);
      n_done += done[i];
    }
    if (a.complete) {
      BLOOM_CHECK(n_done == a.n_examples && std::isfinite(a.accuracy) && !std::isnan(a.token_perplexity) &&
                      !std::isnan(a.passage_perplexity),
                  "results file '{}' is damaged: {} is marked complete but {} of {} rows are done, "
                  "accuracy {}, perplexity {}", path, what, n_done, a.n_examples, a.accuracy,
                  a.token_perplexity);
      ++s.n_complete_runs;
    }
    Handle timings = h5::open_group(run.get(), "timings");
    read_every_dataset(timings.get(), what + " timings", path);
    ++s.n_runs;
    s.n_rows += a.n_examples;
    s.n_done_rows += n_done;
  }
  (void)info;  // read for its checks
  return s;
}

}  // namespace bloom::io

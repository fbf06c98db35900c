// ResultsFile: the "bloom-eval/2" HDF5 layout (io/RESULTS.md) on top of io/hdf5_util; opening
// (lock, verification, partial file) and writing here, reading in results_read.cpp, verify() in
// results_verify.cpp. Files use the HDF5 1.8 format (readable by HDF5 >= 1.8, h5py, pandas via
// h5py) with link creation order tracked on /runs so runs list in job order. Crash safety: every
// write call ends with H5Fflush; prediction data (and its checksums) is written before its
// `done` flags; a timings append torn by a crash (columns of different lengths) is trimmed when
// the run is reopened for resume.
#include "io/results_file.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <exception>
#include <filesystem>
#include <limits>

#include "io/hdf5_util.h"
#include "io/results_integrity.h"
#include "io/results_layout.h"
#include "io/results_storage.h"
#include "io/run_attributes.h"

namespace bloom::io {
namespace {

using h5::Handle;

std::string utc_now() {
  std::time_t now = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&now, &utc);
  char text[32];
  std::strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%SZ", &utc);
  return text;
}

Handle file_access_properties() {
  Handle fapl(H5Pcreate(H5P_FILE_ACCESS), H5Pclose);
  H5Pset_libver_bounds(fapl.get(), H5F_LIBVER_V18, H5F_LIBVER_V18);
#if H5_VERSION_GE(1, 10, 7)
  // Keep HDF5's file locking, but don't fail on file systems without it (some Lustre/NFS mounts).
  H5Pset_file_locking(fapl.get(), true, true);
#endif
  return fapl;
}

hid_t create_file(const std::string& path, bool truncate, const std::string& runner_version,
                  const std::string& job_spec) {
  Handle fapl = file_access_properties();
  Handle file(H5Fcreate(path.c_str(), truncate ? H5F_ACC_TRUNC : H5F_ACC_EXCL, H5P_DEFAULT, fapl.get()),
              H5Fclose);
  BLOOM_H5_CHECK(file.valid(), "cannot create results file '{}'", path);
  h5::write_attribute(file.get(), "schema", std::string(kResultsSchema));
  h5::write_attribute(file.get(), "runner_version", runner_version);
  h5::write_attribute(file.get(), "job_spec", job_spec);
  h5::write_attribute(file.get(), "created", utc_now());
  h5::write_attribute(file.get(), "complete", uint8_t{0});
  integrity::seal_attributes(file.get());
  h5::create_group(file.get(), "runs", /*track_order=*/true);
  return file.release();
}

// Opens an existing results file; sets `schema_version` (2, or 1 for a bloom-eval/1 file, which
// only a read-only open accepts).
hid_t open_file(const std::string& path, bool writable, int* schema_version) {
  htri_t is_hdf5 = H5Fis_hdf5(path.c_str());
  BLOOM_H5_CHECK(is_hdf5 >= 0, "cannot read results file '{}'", path);
  BLOOM_CHECK(is_hdf5 > 0, "'{}' is not an HDF5 file, so not a bloom-eval results file ({})", path,
              kResultsSchema);
  Handle fapl = file_access_properties();
  Handle file(H5Fopen(path.c_str(), writable ? H5F_ACC_RDWR : H5F_ACC_RDONLY, fapl.get()), H5Fclose);
  BLOOM_H5_CHECK(file.valid(), "cannot open results file '{}'{}", path, writable ? " for writing" : "");
  BLOOM_CHECK(h5::has_attribute(file.get(), "schema"),
              "'{}' is an HDF5 file but not a bloom-eval results file: it has no root attribute 'schema'",
              path);
  std::string schema = h5::read_string_attribute(file.get(), "schema");
  if (writable) ResultsFile::check_continuable(path, schema == kResultsSchema ? 2 : 1);
  BLOOM_CHECK(schema == kResultsSchema || schema == kResultsSchemaV1,
              "results file '{}' has schema '{}', this runner reads {} and {} and writes {}", path,
              schema, kResultsSchema, kResultsSchemaV1, kResultsSchema);
  *schema_version = schema == kResultsSchema ? 2 : 1;
  BLOOM_CHECK(h5::has_link(file.get(), "runs"), "results file '{}' has no '/runs' group", path);
  return file.release();
}

}  // namespace

void ResultsFile::check_continuable(const std::string& path, int schema_version) {
  BLOOM_CHECK(schema_version != 1,
              "results file '{}' was written by an older runner (schema {}): it can be read (runner "
              "report) but not continued; start afresh with output.overwrite or another output.path",
              path, kResultsSchemaV1);
}

namespace {

void check_writable(OpenMode mode, const std::string& path, const char* what) {
  BLOOM_CHECK(mode != OpenMode::ReadOnly, "results file '{}' was opened read-only: cannot {}", path, what);
}

void flush_file(hid_t file, const std::string& path) {
  BLOOM_H5_CHECK(H5Fflush(file, H5F_SCOPE_GLOBAL) >= 0,
                 "cannot flush results file '{}' (full disk? file-size limit?); it keeps every "
                 "batch flushed before: once fixed, rerun with output.resume: true", path);
}

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

// A crash inside append_timings can leave columns of different lengths: keep the common rows.
void trim_torn_timings(hid_t run) {
  Handle timings = h5::open_group(run, "timings");
  std::vector<Handle> columns;
  hsize_t common = std::numeric_limits<hsize_t>::max();
  for (const Column& column : kTimingColumns) {
    columns.push_back(h5::open_dataset(timings.get(), column.name));
    common = std::min(common, h5::column_rows(columns.back().get()));
  }
  for (const Handle& column : columns) {
    if (h5::column_rows(column.get()) != common) h5::resize_rows(column.get(), common);
  }
}

// Before HDF5 tries: say plainly when the directory is missing, not a directory or read-only.
void check_directory_for(const std::string& path) {
  namespace fs = std::filesystem;
  fs::path dir = fs::path(path).parent_path();
  if (dir.empty()) dir = ".";
  std::error_code ec;
  BLOOM_CHECK(fs::exists(dir, ec), "cannot create results file '{}': directory '{}' does not exist",
              path, dir.string());
  BLOOM_CHECK(fs::is_directory(dir, ec), "cannot create results file '{}': '{}' is not a directory",
              path, dir.string());
  BLOOM_CHECK(access(dir.c_str(), W_OK) == 0,
              "cannot create results file '{}': directory '{}' is not writable", path, dir.string());
}

}  // namespace

void ResultsFile::check_openable(const std::string& path, OpenMode mode) {
  BLOOM_CHECK(!path.empty(), "results file path is empty");
  std::error_code ec;
  const bool exists = std::filesystem::exists(path, ec);
  switch (mode) {
    case OpenMode::CreateNew:
      BLOOM_CHECK(!exists,
                  "results file '{}' already exists: set output.resume to continue it or "
                  "output.overwrite to replace it",
                  path);
      check_directory_for(path);
      break;
    case OpenMode::Overwrite:
      check_directory_for(path);
      break;
    case OpenMode::Resume:
      if (!exists) check_directory_for(path);
      break;
    case OpenMode::ReadOnly:
      BLOOM_CHECK(exists, "results file '{}' does not exist", path);
      break;
  }
}

namespace {

// HDF5 and a damaged file: a child process reads it first (integrity::run_isolated). Its time
// limit: a minute, and a second for each 20 MB (verification reads the whole file).
double verify_timeout(const std::string& path) {
  std::error_code ec;
  const uintmax_t size = std::filesystem::file_size(path, ec);
  return 60.0 + (ec ? 0.0 : static_cast<double>(size) / 20e6);
}

void verify_isolated(const std::string& path, bool require_checksums) {
  // Reading a results file takes a few times its size; a damaged one may ask for far more.
  std::error_code ec;
  const uintmax_t size = std::filesystem::file_size(path, ec);
  const uint64_t memory = (uint64_t{2} << 30) + 16 * static_cast<uint64_t>(ec ? 0 : size);
  integrity::run_isolated(path, [&] { ResultsFile::verify(path, require_checksums); },
                          verify_timeout(path), memory);
}

void init_hdf5() {
  // When closing a file fails (a full disk), HDF5 1.10 leaves a dangling file object behind and
  // its atexit clean-up (H5_term_library) then crashes the process after the error was reported.
  // Every handle here is closed by RAII, so that clean-up is not needed: keep HDF5 from
  // installing it (possible only before its first use; later calls change nothing).
  static const bool no_atexit_cleanup = (H5dont_atexit(), true);
  (void)no_atexit_cleanup;
  h5::quiet_errors();
}

}  // namespace

ResultsFile::ResultsFile(const std::string& path, Unverified) : path_(path), mode_(OpenMode::ReadOnly) {
  init_hdf5();
  check_openable(path, mode_);
  open_path_ = path;
  open_existing(/*writable=*/false);
}

void ResultsFile::open_existing(bool writable) {
  file_ = open_file(open_path_, writable, &schema_version_);
  try {
    integrity::check_attributes(file_, "the root group", path_, /*required=*/false);
  } catch (...) {
    H5Fclose(file_);
    file_ = -1;
    throw;
  }
}

ResultsFile::ResultsFile(const std::string& path, OpenMode mode, const std::string& runner_version,
                         const std::string& job_spec_text, WriterLock lock)
    : path_(path), mode_(mode), open_path_(path), uncaught_at_open_(std::uncaught_exceptions()) {
  init_hdf5();
  check_openable(path, mode);
  if (mode == OpenMode::ReadOnly) {
    verify_isolated(path, /*require_checksums=*/false);
    open_existing(/*writable=*/false);
    return;
  }
  // The lock before anything else touches the file or its partial file.
  if (lock.held()) {
    BLOOM_CHECK(lock.results_path() == path, "the lock given for '{}' is the lock of '{}'", path,
                lock.results_path());
    lock_ = std::move(lock);
  } else {
    lock_ = WriterLock::acquire(path);
  }
  // A partial file left behind is by construction one without a finished batch: start afresh.
  const std::string partial = storage::staging_path(path);
  std::error_code ec;
  std::filesystem::remove(partial, ec);
  const bool exists = std::filesystem::exists(path, ec);
  BLOOM_CHECK(!(exists && mode == OpenMode::CreateNew),
              "results file '{}' already exists: set output.resume to continue it or "
              "output.overwrite to replace it", path);
  if (mode == OpenMode::Resume && exists) {
    verify_isolated(path, /*require_checksums=*/true);
    open_existing(/*writable=*/true);
#if H5_VERSION_GE(1, 10, 2)
    {
      // A flush cut short (full disk, file-size limit) can leave objects past the end of
      // allocation that the superblock records (EOF > EOA): every later write then fails
      // ("actual len exceeds EOA"). Move the EOA past the end of the file and a margin, as
      // `h5clear --increment` does; a healthy file (EOA == EOF) is left alone.
      haddr_t eoa = 0;
      hsize_t eof = 0;
      if (H5Fget_eoa(file_, &eoa) >= 0 && H5Fget_filesize(file_, &eof) >= 0 && eof > eoa)
        H5Fincrement_filesize(file_, hsize_t{1} << 20);
    }
#endif
    // The file now describes the job that resumes it; `created` keeps the first start.
    try {
      h5::write_attribute(file_, "runner_version", runner_version);
      h5::write_attribute(file_, "job_spec", job_spec_text);
      h5::write_attribute(file_, "complete", uint8_t{0});
      integrity::seal_attributes(file_);
    } catch (...) {
      H5Fclose(file_);
      throw;
    }
  } else {
    // New (or replacing) file: written as the partial file, renamed into place by publish().
    open_path_ = partial;
    published_ = false;
    file_ = create_file(open_path_, /*truncate=*/false, runner_version, job_spec_text);
  }
  try {
    flush_file(file_, path_);
  } catch (...) {
    H5Fclose(file_);
    if (!published_) std::filesystem::remove(open_path_, ec);
    throw;
  }
}

ResultsFile::~ResultsFile() {
  if (file_ >= 0) H5Fclose(file_);  // flushes; a failure here has no one left to tell
  H5Eclear2(H5E_DEFAULT);
  if (mode_ == OpenMode::ReadOnly) return;
  std::error_code ec;
  if (!published_) {
    // A writer that ends without an error publishes what it has (a signal stop before the first
    // batch: a resumable file); one unwound by an error leaves nothing that blocks the next try.
    if (std::uncaught_exceptions() > uncaught_at_open_) {
      std::filesystem::remove(open_path_, ec);
    } else if (std::rename(open_path_.c_str(), path_.c_str()) == 0) {
      open_path_ = path_;
    } else {
      std::filesystem::remove(open_path_, ec);
    }
  }
  if (reserved_bytes_ > 0) storage::release_reservation(open_path_);
  lock_.release();
}

void ResultsFile::publish() {
  if (published_) return;
  BLOOM_CHECK(std::rename(open_path_.c_str(), path_.c_str()) == 0,
              "cannot rename '{}' to results file '{}': {}", open_path_, path_, std::strerror(errno));
  open_path_ = path_;
  published_ = true;
}

void ResultsFile::check_space(const std::string& path, const std::vector<int64_t>& rows_per_run,
                              int64_t ranks) {
  storage::check_space(path, storage::estimate_bytes(rows_per_run, ranks));
}

void ResultsFile::reserve_space(const std::vector<int64_t>& rows_per_run, int64_t ranks) {
  check_writable(mode_, path_, "reserve space");
  reserved_bytes_ = storage::estimate_bytes(rows_per_run, ranks);
  storage::reserve(open_path_, path_, reserved_bytes_);
}

void ResultsFile::flush() {
  flush_file(file_, path_);
  // HDF5 truncates the file to its allocation when that shrinks, and a truncate gives back the
  // blocks reserved past the end: take them again at once, before another job can.
  if (reserved_bytes_ > 0) storage::renew(open_path_, reserved_bytes_);
}

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
    trim_torn_timings(run.get());
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
  if (!rows.empty()) publish();  // a finished batch: the file is worth resuming from now on
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

void check_run_name(const std::string& name) {
  BLOOM_CHECK(!name.empty() && name != "." && name != ".." && name.find('/') == std::string::npos,
              "run name '{}' cannot name an HDF5 group (it must be non-empty, without '/')", name);
}

h5::Handle open_run(hid_t file, const std::string& path, const std::string& name) {
  check_run_name(name);
  Handle runs = h5::open_group(file, "runs");
  BLOOM_CHECK(h5::has_link(runs.get(), name), "results file '{}' has no run '{}'", path, name);
  return h5::open_group(runs.get(), name);
}

std::string hdf5_library_version() {
  unsigned major = 0, minor = 0, release = 0;
  H5get_libversion(&major, &minor, &release);
  return fmt::format("{}.{}.{}", major, minor, release);
}

}  // namespace bloom::io

// ResultsFile: the "bloom-eval/2" HDF5 layout (io/RESULTS.md) on top of io/hdf5_util; opening
// (lock, verification, partial file, space) here, writing runs in results_write.cpp, reading in
// results_read.cpp, verify() in results_verify.cpp. Files use the HDF5 1.8 format (readable by HDF5 >= 1.8, h5py, pandas via
// h5py) with link creation order tracked on /runs so runs list in job order. Crash safety: every
// write call ends with H5Fflush; prediction data (and its checksums) is written before its
// `done` flags; a resumed file is rebuilt from its verified finished rows, never written into
// (a timings append torn by a crash is trimmed to its common rows then).
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

#include "core/env.h"
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

// Opens an existing results file, read-only (a resumed file is rebuilt, never written into);
// sets `schema_version` (2, or 1 for a bloom-eval/1 file).
hid_t open_file(const std::string& path, int* schema_version) {
  htri_t is_hdf5 = H5Fis_hdf5(path.c_str());
  BLOOM_H5_CHECK(is_hdf5 >= 0, "cannot read results file '{}'", path);
  BLOOM_CHECK(is_hdf5 > 0, "'{}' is not an HDF5 file, so not a bloom-eval results file ({})", path,
              kResultsSchema);
  Handle fapl = file_access_properties();
  Handle file(H5Fopen(path.c_str(), H5F_ACC_RDONLY, fapl.get()), H5Fclose);
  BLOOM_H5_CHECK(file.valid(), "cannot open results file '{}'", path);
  BLOOM_CHECK(h5::has_attribute(file.get(), "schema"),
              "'{}' is an HDF5 file but not a bloom-eval results file: it has no root attribute 'schema'",
              path);
  std::string schema = h5::read_string_attribute(file.get(), "schema");
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


void flush_file(hid_t file, const std::string& path) {
  BLOOM_H5_CHECK(H5Fflush(file, H5F_SCOPE_GLOBAL) >= 0,
                 "cannot flush results file '{}' (full disk? file-size limit?); it keeps every "
                 "batch flushed before: once fixed, rerun with output.resume: true", path);
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
// limit: BLOOM_VERIFY_TIMEOUT_S (default 30 s), and a second for each 20 MB (verification reads
// the whole file; an intact results file of a sweep reads in well under a second).
double verify_timeout(const std::string& path) {
  std::error_code ec;
  const uintmax_t size = std::filesystem::file_size(path, ec);
  return env_seconds({"BLOOM_VERIFY_TIMEOUT_S"}, 30.0) + (ec ? 0.0 : static_cast<double>(size) / 20e6);
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
  open_existing();
}

void ResultsFile::open_existing() {
  file_ = open_file(open_path_, &schema_version_);
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
    open_existing();
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
  // A partial file left behind is by construction one without a finished batch (or a rebuild
  // cut short, the file it copied still in place): start afresh.
  const std::string partial = storage::staging_path(path);
  std::error_code ec;
  std::filesystem::remove(partial, ec);
  const bool exists = std::filesystem::exists(path, ec);
  BLOOM_CHECK(!(exists && mode == OpenMode::CreateNew),
              "results file '{}' already exists: set output.resume to continue it or "
              "output.overwrite to replace it", path);
  const bool rebuild = mode == OpenMode::Resume && exists;
  if (rebuild) verify_isolated(path, /*require_checksums=*/true);
  // New (or replacing) file: written as the partial file, renamed into place by publish(). A
  // resumed file is rebuilt the same way rather than written into: a writer killed mid-flush
  // leaves HDF5's own bookkeeping (free space, heap collections, the end of allocation) in a
  // state its next writes can land on finished rows with (seen: a kept row whose target ids a
  // later batch overwrote). Its verified contents are copied, then it is replaced in one rename.
  open_path_ = partial;
  published_ = false;
  file_ = create_file(open_path_, /*truncate=*/false, runner_version, job_spec_text);
  try {
    if (rebuild) copy_contents(path);  // flushed before it replaces the file
    flush_file(file_, path_);
    if (rebuild) publish();
  } catch (...) {
    H5Fclose(file_);
    file_ = -1;
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

void check_writable(OpenMode mode, const std::string& path, const char* what) {
  BLOOM_CHECK(mode != OpenMode::ReadOnly, "results file '{}' was opened read-only: cannot {}", path, what);
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

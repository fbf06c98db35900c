// Staging names and disk reservations of results files (see results_storage.h).
#include "io/results_storage.h"

#include <fcntl.h>
#include <linux/falloc.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "core/check.h"

namespace bloom::io::storage {
namespace {

std::string megabytes(uint64_t bytes) { return fmt::format("{:.1f} MB", static_cast<double>(bytes) / 1e6); }

uint64_t free_bytes(const std::string& file) {
  struct statvfs s{};
  if (statvfs(file.c_str(), &s) != 0) return UINT64_MAX;
  return static_cast<uint64_t>(s.f_bavail) * s.f_frsize;
}

std::string folder_of(const std::string& path) {
  const std::string dir = std::filesystem::path(path).parent_path().string();
  return dir.empty() ? "." : dir;
}

void check_file_size_limit(const std::string& results_path, uint64_t bytes) {
  struct rlimit limit{};
  if (getrlimit(RLIMIT_FSIZE, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY) {
    BLOOM_CHECK(static_cast<uint64_t>(limit.rlim_cur) >= bytes,
                "results file '{}' needs up to {} but the file-size limit (ulimit -f) is {}: "
                "raise the limit or write elsewhere (nothing was evaluated)", results_path,
                megabytes(bytes), megabytes(static_cast<uint64_t>(limit.rlim_cur)));
  }
}

}  // namespace

std::string staging_path(const std::string& path) { return path + ".partial"; }

uint64_t estimate_bytes(const std::vector<int64_t>& rows_per_run, int64_t ranks) {
  // Measured with tiny-bloom on LAMBADA (1.10.8, 1.8 format): ~130 bytes per prediction row
  // (fixed columns, sequence references, their two global-heap objects) and 80 bytes per timing
  // row, timings allocated in chunks of 256 rows. Rows are counted at 4x, targets of many tokens
  // included; every resume adds attributes of a few KB (the margin).
  constexpr uint64_t kFile = 512 << 10, kRun = 128 << 10, kRow = 512, kTimingChunk = 256 * 80;
  uint64_t bytes = kFile;
  for (int64_t rows : rows_per_run) {
    const uint64_t timing_rows = static_cast<uint64_t>(std::max<int64_t>(rows, 1)) *
                                 static_cast<uint64_t>(std::max<int64_t>(ranks, 1));
    bytes += kRun + static_cast<uint64_t>(std::max<int64_t>(rows, 0)) * kRow +
             (timing_rows + 255) / 256 * kTimingChunk;
  }
  return bytes;
}

void check_space(const std::string& results_path, uint64_t bytes) {
  check_file_size_limit(results_path, bytes);
  std::error_code ec;
  const uint64_t existing = std::filesystem::exists(results_path, ec)
                                ? static_cast<uint64_t>(std::filesystem::file_size(results_path, ec))
                                : 0;
  const uint64_t avail = free_bytes(folder_of(results_path));
  BLOOM_CHECK(avail == UINT64_MAX || avail + existing >= bytes,
              "results file '{}' needs up to {} of disk space but '{}' has {} free (No space left "
              "on device): free space or write elsewhere (nothing was evaluated)", results_path,
              megabytes(bytes), folder_of(results_path), megabytes(avail));
}

void reserve(const std::string& file, const std::string& results_path, uint64_t bytes) {
  check_file_size_limit(results_path, bytes);
  const int fd = open(file.c_str(), O_WRONLY | O_CLOEXEC);
  BLOOM_CHECK(fd >= 0, "cannot open results file '{}' to reserve space: {}", results_path,
              std::strerror(errno));
  const int rc = fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, static_cast<off_t>(bytes));
  const int err = rc == 0 ? 0 : errno;
  close(fd);
  if (err == 0) return;
  const std::string dir = folder_of(results_path);
  BLOOM_CHECK(err == EOPNOTSUPP || err == ENOSYS,
              "results file '{}' needs up to {} of disk space, which cannot be reserved: {} "
              "({} free in '{}'): free space or write elsewhere (nothing was evaluated)",
              results_path, megabytes(bytes), std::strerror(err), megabytes(free_bytes(file)), dir);
  // No fallocate here (some network file systems): at least the space must be free now.
  const uint64_t avail = free_bytes(file);
  BLOOM_CHECK(avail >= bytes,
              "results file '{}' needs up to {} of disk space but '{}' has {} free: free space "
              "or write elsewhere (nothing was evaluated)", results_path, megabytes(bytes), dir,
              megabytes(avail));
}

bool renew(const std::string& file, uint64_t bytes) {
  const int fd = open(file.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const bool ok = fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, static_cast<off_t>(bytes)) == 0;
  close(fd);
  return ok;
}

void release_reservation(const std::string& file) {
  const int fd = open(file.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return;
  struct stat st{};
  if (fstat(fd, &st) == 0) {
    // Blocks past the end were reserved by us (KEEP_SIZE). A truncate to the file's own size
    // frees them (ext4, xfs, tmpfs); a hole punched past the end does on some others.
    const off_t end = st.st_size;
    if (ftruncate(fd, end) != 0 || (fstat(fd, &st) == 0 && st.st_blocks * 512 > end + (1 << 20))) {
      const off_t allocated = static_cast<off_t>(st.st_blocks) * 512;
      if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, end, allocated + (1 << 20)) != 0) {
        // Nothing more to do: the blocks stay reserved until the file is next truncated.
      }
    }
  }
  close(fd);
}

}  // namespace bloom::io::storage

// WriterLock (see results_lock.h): flock on "<results>.lock" with the holder written inside.
#include "io/results_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>

#include <spdlog/spdlog.h>

#include "core/check.h"

namespace bloom::io {
namespace {

std::string holder_text() {
  char host[256] = "?";
  gethostname(host, sizeof(host) - 1);
  std::time_t now = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&now, &utc);
  char when[32];
  std::strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &utc);
  const char* job = std::getenv("SLURM_JOB_ID");
  return fmt::format("process {} on host {}{}, since {}", getpid(), host,
                     job && *job ? fmt::format(" (Slurm job {})", job) : "", when);
}

std::string read_holder(int fd) {
  char buf[512];
  const ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
  std::string text(buf, n > 0 ? static_cast<size_t>(n) : 0);
  while (!text.empty() && (text.back() == '\n' || text.back() == '\0')) text.pop_back();
  return text.empty() ? "a process that has not written its name yet" : text;
}

bool same_file(int fd, const std::string& path) {
  struct stat a{}, b{};
  return fstat(fd, &a) == 0 && stat(path.c_str(), &b) == 0 && a.st_dev == b.st_dev &&
         a.st_ino == b.st_ino;
}

}  // namespace

std::string WriterLock::lock_path_for(const std::string& results_path) { return results_path + ".lock"; }

WriterLock WriterLock::acquire(const std::string& results_path) {
  const std::string lock_path = lock_path_for(results_path);
  // A holder that releases removes the lock file; one that opened the old file just before then
  // holds a lock on a file nobody sees. So: lock, then check the name still leads to that file.
  for (int attempt = 0; attempt < 100; ++attempt) {
    const int fd = open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    BLOOM_CHECK(fd >= 0, "cannot create the lock file '{}' of results file '{}': {}", lock_path,
                results_path, std::strerror(errno));
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
      const int err = errno;
      if (err == EWOULDBLOCK) {
        const std::string holder = read_holder(fd);
        close(fd);
        BLOOM_FAIL("results file '{}' is being written by another job: {} (it holds '{}'). Wait "
                   "for it to end, or choose another output.path", results_path, holder, lock_path);
      }
      close(fd);
      BLOOM_CHECK(err == ENOSYS || err == ENOLCK || err == EOPNOTSUPP,
                  "cannot lock '{}' for results file '{}': {}", lock_path, results_path,
                  std::strerror(err));
      unlink(lock_path.c_str());
      spdlog::warn("the file system of '{}' does not support file locks ({}): nothing stops a "
                   "second job from writing the same results file", results_path, std::strerror(err));
      return WriterLock();
    }
    if (!same_file(fd, lock_path)) {
      close(fd);
      continue;
    }
    const std::string text = holder_text() + "\n";
    if (ftruncate(fd, 0) != 0 || pwrite(fd, text.data(), text.size(), 0) < 0) {
      // The lock is what matters; the name only makes the refusal message kinder.
    }
    WriterLock lock;
    lock.fd_ = fd;
    lock.results_path_ = results_path;
    return lock;
  }
  BLOOM_FAIL("cannot lock '{}' for results file '{}': its lock file keeps being replaced",
             lock_path, results_path);
}

WriterLock::~WriterLock() { release(); }

WriterLock::WriterLock(WriterLock&& other) noexcept
    : fd_(other.fd_), results_path_(std::move(other.results_path_)) {
  other.fd_ = -1;
}

WriterLock& WriterLock::operator=(WriterLock&& other) noexcept {
  if (this != &other) {
    release();
    fd_ = other.fd_;
    results_path_ = std::move(other.results_path_);
    other.fd_ = -1;
  }
  return *this;
}

void WriterLock::release() {
  if (fd_ < 0) return;
  const std::string lock_path = lock_path_for(results_path_);
  if (same_file(fd_, lock_path)) unlink(lock_path.c_str());  // while still holding it
  close(fd_);
  fd_ = -1;
}

}  // namespace bloom::io

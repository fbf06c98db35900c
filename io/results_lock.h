// The single-writer lock of a results file: an exclusive flock(2) on "<results>.lock", taken
// before the results file is read, created or replaced, and held for the writer's whole life.
// A second writer is refused at once (no waiting) with the holder the lock file names (process,
// host, Slurm job, start time). The lock file is removed when the lock is released; one left by a
// killed writer holds no lock (flock dies with its process) and is simply taken over.
// Why a separate file and not the results file itself: the writer replaces the results file
// (a new file is written under another name and renamed into place, see results_file.h), and
// HDF5 takes a lock of its own on the file it opens.
#pragma once

#include <string>

namespace bloom::io {

class WriterLock {
 public:
  WriterLock() = default;  ///< holds nothing
  /// Takes the lock of `results_path`; throws bloom::Error naming the holder when another
  /// process has it. On a file system without flock (some Lustre/NFS mounts) it warns once and
  /// returns a lock that holds nothing, as HDF5 does with its own lock there.
  static WriterLock acquire(const std::string& results_path);
  ~WriterLock();  ///< releases; never throws
  WriterLock(WriterLock&& other) noexcept;
  WriterLock& operator=(WriterLock&& other) noexcept;
  WriterLock(const WriterLock&) = delete;
  WriterLock& operator=(const WriterLock&) = delete;

  bool held() const { return fd_ >= 0; }
  /// The results file this lock is for (empty for a lock that holds nothing).
  const std::string& results_path() const { return results_path_; }
  /// Removes the lock file and releases the lock (idempotent).
  void release();

  /// "<results_path>.lock".
  static std::string lock_path_for(const std::string& results_path);

 private:
  int fd_ = -1;
  std::string results_path_;
};

}  // namespace bloom::io

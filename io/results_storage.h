// Where a results file lives on disk while it is written (internal to bloom_io):
//   - staging: a new file is written as "<path>.partial" and renamed to <path> once it holds a
//     finished batch (or its writer ends without an error), so a file at <path> always holds
//     something worth resuming; a writer that fails before that removes the partial file, and
//     one killed before that leaves a partial file the next writer (holding the lock) removes.
//     `output.overwrite` therefore keeps the old file until the new one has a result.
//   - space: the writer reserves the disk blocks the whole job will need up front
//     (fallocate(FALLOC_FL_KEEP_SIZE): the file's size stays HDF5's), so a disk that is full, or
//     a file-size limit too small, is refused before any passage is evaluated, and a disk that
//     fills up during the run (other jobs) cannot cut a flush short. HDF5 truncates the file when
//     its allocation shrinks, which gives the reservation back: the writer renews it after every
//     flush. What is left beyond the file's end is given back when the writer closes.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace bloom::io::storage {

/// "<path>.partial".
std::string staging_path(const std::string& path);

/// Bytes a results file needs at most for runs of these row counts written by `ranks` ranks
/// (predictions, timings of batches of one passage at worst, attributes, HDF5's metadata).
uint64_t estimate_bytes(const std::vector<int64_t>& rows_per_run, int64_t ranks);

/// Throws when a results file at `results_path` of `bytes` would pass the file-size limit, or
/// is more than its file system has free (an existing file at the path counts as free space).
void check_space(const std::string& results_path, uint64_t bytes);

/// Reserves `bytes` of disk blocks for `file` (the results file `results_path` or its partial
/// file). Throws naming the results file, the bytes needed and the free space (or the file-size
/// limit) when they are not there. File systems without fallocate: checks the free space only.
void reserve(const std::string& file, const std::string& results_path, uint64_t bytes);

/// Reserves again what a truncate of `file` gave back; never throws (false: not all of it).
bool renew(const std::string& file, uint64_t bytes);

/// Gives back blocks reserved beyond the end of `file`; never throws.
void release_reservation(const std::string& file);

}  // namespace bloom::io::storage

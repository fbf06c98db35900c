// What makes damage in a results file visible before anything is read from it (internal to
// bloom_io, like io/hdf5_util.h; the layout is in io/RESULTS.md, "Integrity"):
//   - HDF5's Fletcher32 filter on every chunked dataset (io/hdf5_util.cpp): a damaged chunk
//     fails to read;
//   - a CRC-32 per prediction row (column `checksum`) over the row's values, the variable-length
//     ids included (those live in HDF5's global heap, which has no checksum of its own);
//   - a CRC-32 of every group's attributes (attribute `attributes_crc32`), rewritten by every
//     write of an attribute (seal_attributes);
//   - run_isolated: the first read of an existing file runs in a child process with a time
//     limit, because HDF5 1.10 can crash or loop forever on some damaged structures (its global
//     heap); a crash or a timeout there is a clear "damaged" error here.
// The CRC is zlib's CRC-32 (Python: zlib.crc32), so any reader can recompute both checksums.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

#include "io/hdf5_util.h"
#include "io/results_file.h"

namespace bloom::io::integrity {

/// The name of the attribute checksum, on the root group and on every run group.
inline constexpr const char* kAttributesChecksum = "attributes_crc32";
/// The name of the per-row checksum column in /runs/<name>/predictions.
inline constexpr const char* kRowChecksum = "checksum";

/// zlib's CRC-32 of n bytes, continuing from `crc` (0 to start).
uint32_t crc32(const void* data, size_t n, uint32_t crc = 0);

/// CRC-32 of one prediction row: row (int64), index (int64), correct (uint8), target_logprob
/// (float64), context_len (int32), target_len (int32), target_ids, predicted_ids (int32 each),
/// all little-endian, in that order.
uint32_t row_checksum(int64_t row, const PassageResult& r);

/// CRC-32 over every attribute of `obj` but the checksum itself, in name order: the name, a 0
/// byte, then 's' + the UTF-8 bytes + a 0 byte (strings), 'i' + int64 (integers) or 'f' +
/// float64 (floats), little-endian. Attributes of other types are not part of the schema.
uint32_t attributes_checksum(hid_t obj);
/// Writes `obj`'s attribute checksum (after the last attribute write of a call).
void seal_attributes(hid_t obj);
/// Throws naming `what` and `path` when `obj`'s attributes do not match their checksum. Without
/// a checksum: returns false, or throws when `required`.
bool check_attributes(hid_t obj, const std::string& what, const std::string& path, bool required);

/// Runs `body` in a child process (fork) with at most `memory_limit` bytes of address space (0:
/// no limit) and waits up to `timeout_seconds`. A bloom::Error in the child is rethrown here
/// with its message; a crash, any other exception or the timeout throws "'<path>' is damaged:
/// ...". Used for reads of files HDF5 might not survive.
void run_isolated(const std::string& path, const std::function<void()>& body, double timeout_seconds,
                  uint64_t memory_limit = 0);
/// False in AddressSanitizer builds, whose shadow memory needs terabytes of address space: there
/// run_isolated sets no memory limit.
bool memory_limit_applies();

}  // namespace bloom::io::integrity

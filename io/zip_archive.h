// ZipArchive: the central directory of a zip file (ZIP64 included) over a read-only mapping, so
// that stored (uncompressed) entries are read in place. torch.save writes its checkpoints as
// such archives: every tensor storage is one stored entry, 64-byte aligned.
//
// Why our own reader: reading an entry in place needs its data offset (local header + name +
// extra field), which libzip and minizip do not expose, and the GPU machine's image has neither
// (nor libinih, see ini_file.h); OpenSSL and zlib are all it offers. The part of the format a
// reader needs is small (APPNOTE 6.3: end-of-central-directory record, ZIP64 locator and record,
// central-directory headers with their ZIP64 extra field, local headers), so it is read here and
// fuzzed (tests/fuzz/fuzz_torch_file.cpp). Compressed and encrypted entries are listed but not
// read; multi-disk archives are refused.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "io/mapped_file.h"

namespace bloom::io {

struct ZipEntry {
  std::string name;
  uint16_t method = 0;  // 0: stored, 8: deflated, ...
  uint16_t flags = 0;   // bit 0: encrypted
  uint64_t size = 0;    // uncompressed bytes
  uint64_t compressed_size = 0;
  uint64_t data_offset = 0;  // first byte of the entry's data in the file

  bool stored() const { return method == 0 && (flags & 1) == 0; }
};

class ZipArchive {
 public:
  /// Maps `path` and reads its central directory and every local header. Throws, naming the
  /// file (and the entry), on anything that is not a well-formed single-disk archive whose
  /// entries lie inside the file.
  static ZipArchive open(const std::string& path);

  const std::string& path() const { return map_.path(); }
  uint64_t file_size() const { return map_.size(); }
  const std::vector<ZipEntry>& entries() const { return entries_; }
  /// nullptr when there is no entry of that name.
  const ZipEntry* find(const std::string& name) const;
  /// The bytes of a stored entry inside the mapping (entry.size of them). Throws, naming the
  /// file and the entry, for a compressed or encrypted entry.
  const uint8_t* stored_data(const ZipEntry& e) const;

 private:
  void read_directory();

  MappedFile map_;
  std::vector<ZipEntry> entries_;
  std::unordered_map<std::string, size_t> index_;
};

/// True when the file starts with a zip local-header signature ("PK\3\4").
bool looks_like_zip(const uint8_t* data, uint64_t size);

}  // namespace bloom::io

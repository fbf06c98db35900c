// Zip central-directory reader (see zip_archive.h). Record layouts, little-endian, from PKWARE's
// APPNOTE.TXT 6.3 (offsets in bytes):
//   end of central directory (EOCD), 22 + comment: sig 0x06054b50, 8 entries u16, 12 cd size u32,
//     16 cd offset u32, 20 comment length u16 (0xffff / 0xffffffff: see the ZIP64 record)
//   ZIP64 EOCD locator, 20, right before the EOCD: sig 0x07064b50, 8 ZIP64 EOCD offset u64
//   ZIP64 EOCD record, 56+: sig 0x06064b50, 32 entries u64, 40 cd size u64, 48 cd offset u64
//   central-directory header, 46 + name + extra + comment: sig 0x02014b50, 8 flags, 10 method,
//     20 compressed u32, 24 size u32, 28 name length, 30 extra length, 32 comment length,
//     34 disk u16, 42 local header offset u32; ZIP64 extra field (id 1) holds, in this order,
//     the size, compressed size and offset whose 32-bit field is 0xffffffff
//   local header, 30 + name + extra: sig 0x04034b50, 26 name length, 28 extra length; data next
#include "io/zip_archive.h"

#include <algorithm>
#include <cstring>

#include "core/check.h"

namespace bloom::io {

namespace {

constexpr uint32_t kEocdSig = 0x06054b50;
constexpr uint32_t kZip64LocatorSig = 0x07064b50;
constexpr uint32_t kZip64EocdSig = 0x06064b50;
constexpr uint32_t kCentralSig = 0x02014b50;
constexpr uint32_t kLocalSig = 0x04034b50;
constexpr uint64_t kEocdSize = 22, kLocatorSize = 20, kZip64EocdSize = 56;
constexpr uint64_t kCentralSize = 46, kLocalSize = 30;
constexpr uint32_t kU32Max = 0xffffffffu;

uint16_t u16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }
uint32_t u32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8) |
         (static_cast<uint32_t>(p[2]) << 16) | (static_cast<uint32_t>(p[3]) << 24);
}
uint64_t u64(const uint8_t* p) { return u32(p) | (static_cast<uint64_t>(u32(p + 4)) << 32); }

// True when [off, off + n) lies inside a file of `size` bytes (no overflow).
bool inside(uint64_t off, uint64_t n, uint64_t size) { return off <= size && n <= size - off; }

struct Directory {
  uint64_t count = 0, size = 0, offset = 0;
};

// Finds the EOCD (the last one whose comment ends at or before the end of the file) and, where
// it says so or a locator is present, the ZIP64 record.
Directory find_directory(const std::string& path, const uint8_t* d, uint64_t size) {
  BLOOM_CHECK(size >= kEocdSize,
              "{}: {} bytes is too short for a zip archive (a torch.save file is one): "
              "truncated?", path, size);
  const uint64_t lowest = size > kEocdSize + 0xffff ? size - kEocdSize - 0xffff : 0;
  uint64_t eocd = size - kEocdSize + 1;
  for (uint64_t p = size - kEocdSize + 1; p-- > lowest;) {
    if (u32(d + p) == kEocdSig && p + kEocdSize + u16(d + p + 20) <= size) {
      eocd = p;
      break;
    }
  }
  BLOOM_CHECK(eocd <= size - kEocdSize,
              "{}: no zip end-of-central-directory record in the last {} bytes: the file is "
              "truncated (interrupted download or copy) or not a torch.save zip archive",
              path, size - lowest);
  const uint8_t* e = d + eocd;
  BLOOM_CHECK(u16(e + 4) == 0 && u16(e + 6) == 0, "{}: multi-disk zip archives are not supported",
              path);
  Directory dir{u16(e + 10), u32(e + 12), u32(e + 16)};
  const bool has_locator = eocd >= kLocatorSize && u32(d + eocd - kLocatorSize) == kZip64LocatorSig;
  const bool needs_zip64 = dir.count == 0xffff || dir.size == kU32Max || dir.offset == kU32Max;
  if (has_locator || needs_zip64) {
    BLOOM_CHECK(has_locator,
                "{}: the end-of-central-directory record points to ZIP64 values but there is "
                "no ZIP64 locator before it (corrupt or truncated archive)", path);
    const uint64_t rec = u64(d + eocd - kLocatorSize + 8);
    BLOOM_CHECK(inside(rec, kZip64EocdSize, eocd - kLocatorSize) && u32(d + rec) == kZip64EocdSig,
                "{}: the ZIP64 locator points to offset {}, where there is no ZIP64 "
                "end-of-central-directory record (corrupt archive)", path, rec);
    dir = Directory{u64(d + rec + 32), u64(d + rec + 40), u64(d + rec + 48)};
    BLOOM_CHECK(inside(dir.offset, dir.size, rec),
                "{}: the central directory ({} bytes at offset {}) does not lie before the ZIP64 "
                "record at {} (corrupt or truncated archive)", path, dir.size, dir.offset, rec);
  } else {
    BLOOM_CHECK(inside(dir.offset, dir.size, eocd),
                "{}: the central directory ({} bytes at offset {}) does not lie before the "
                "end-of-central-directory record at {} (corrupt or truncated archive)",
                path, dir.size, dir.offset, eocd);
  }
  // Every entry takes at least kCentralSize bytes of the directory.
  BLOOM_CHECK(dir.count <= dir.size / kCentralSize,
              "{}: the central directory claims {} entries in {} bytes (corrupt archive)", path,
              dir.count, dir.size);
  return dir;
}

// Applies the ZIP64 extra field (id 1) of a central-directory header to the 32-bit fields that
// hold 0xffffffff.
void apply_zip64_extra(const std::string& where, const uint8_t* extra, uint64_t n, ZipEntry& z,
                       uint64_t& local) {
  const bool want[3] = {z.size == kU32Max, z.compressed_size == kU32Max, local == kU32Max};
  uint64_t* field[3] = {&z.size, &z.compressed_size, &local};
  for (uint64_t p = 0; p + 4 <= n;) {
    const uint16_t id = u16(extra + p), len = u16(extra + p + 2);
    BLOOM_CHECK(p + 4 + len <= n, "{}: extra field runs past its header (corrupt archive)", where);
    if (id == 1) {
      uint64_t q = p + 4;
      for (int i = 0; i < 3; ++i) {
        if (!want[i]) continue;
        BLOOM_CHECK(q + 8 <= p + 4 + len, "{}: ZIP64 extra field too short (corrupt archive)",
                    where);
        *field[i] = u64(extra + q);
        q += 8;
      }
      return;
    }
    p += 4 + len;
  }
  BLOOM_CHECK(!want[0] && !want[1] && !want[2],
              "{}: 32-bit size or offset is 0xffffffff but there is no ZIP64 extra field "
              "(corrupt archive)", where);
}

}  // namespace

bool looks_like_zip(const uint8_t* data, uint64_t size) {
  return size >= 4 && (u32(data) == kLocalSig || u32(data) == kEocdSig);
}

ZipArchive ZipArchive::open(const std::string& path) {
  ZipArchive z;
  z.map_ = MappedFile::open(path);
  z.read_directory();
  return z;
}

void ZipArchive::read_directory() {
  const std::string& file = path();
  const uint8_t* d = map_.data();
  const uint64_t size = map_.size();
  const Directory dir = find_directory(file, d, size);
  uint64_t p = dir.offset;
  const uint64_t end = dir.offset + dir.size;
  for (uint64_t i = 0; i < dir.count; ++i) {
    BLOOM_CHECK(p + kCentralSize <= end && u32(d + p) == kCentralSig,
                "{}: central-directory entry {} of {} (offset {}) has no valid header (corrupt "
                "archive)", file, i, dir.count, p);
    const uint8_t* h = d + p;
    const uint64_t name_len = u16(h + 28), extra_len = u16(h + 30), comment_len = u16(h + 32);
    BLOOM_CHECK(p + kCentralSize + name_len + extra_len + comment_len <= end,
                "{}: central-directory entry {} runs past the directory (corrupt archive)", file, i);
    ZipEntry z;
    z.name.assign(reinterpret_cast<const char*>(h + kCentralSize), name_len);
    z.flags = u16(h + 8);
    z.method = u16(h + 10);
    z.compressed_size = u32(h + 20);
    z.size = u32(h + 24);
    uint64_t local = u32(h + 42);
    const std::string where = fmt::format("{}: entry {}", file, z.name);
    BLOOM_CHECK(u16(h + 34) == 0 || u16(h + 34) == 0xffff,
                "{}: on disk {}: multi-disk zip archives are not supported", where, u16(h + 34));
    apply_zip64_extra(where, h + kCentralSize + name_len, extra_len, z, local);
    BLOOM_CHECK(inside(local, kLocalSize, size) && u32(d + local) == kLocalSig,
                "{}: no local header at offset {} (corrupt or truncated archive)", where, local);
    const uint64_t local_name = u16(d + local + 26), local_extra = u16(d + local + 28);
    z.data_offset = local + kLocalSize + local_name + local_extra;
    BLOOM_CHECK(local_name == name_len &&
                    inside(local + kLocalSize, local_name, size) &&
                    std::memcmp(d + local + kLocalSize, z.name.data(), name_len) == 0,
                "{}: the local header at offset {} names another entry (corrupt archive)", where,
                local);
    BLOOM_CHECK(inside(z.data_offset, z.compressed_size, size),
                "{}: its {} bytes at offset {} run past the end of the {}-byte file (truncated "
                "file?)", where, z.compressed_size, z.data_offset, size);
    BLOOM_CHECK(z.method != 0 || z.size == z.compressed_size,
                "{}: stored entry with size {} but compressed size {} (corrupt archive)", where,
                z.size, z.compressed_size);
    BLOOM_CHECK(index_.emplace(z.name, entries_.size()).second,
                "{}: the archive holds two entries of this name (corrupt archive)", where);
    entries_.push_back(std::move(z));
    p += kCentralSize + name_len + extra_len + comment_len;
  }
}

const ZipEntry* ZipArchive::find(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &entries_[it->second];
}

const uint8_t* ZipArchive::stored_data(const ZipEntry& e) const {
  BLOOM_CHECK((e.flags & 1) == 0, "{}: entry {} is encrypted", path(), e.name);
  BLOOM_CHECK(e.method == 0,
              "{}: entry {} is compressed (zip method {}): only stored entries are read in place, "
              "as torch.save writes them (was the file re-zipped?)", path(), e.name, e.method);
  return map_.data() + e.data_offset;
}

}  // namespace bloom::io

// torch.save zip files read in place (see torch_file.h).
#include "io/torch_file.h"

#include <cstring>
#include <fstream>
#include <limits>

#include "core/check.h"
#include "io/safetensors.h"  // shape_to_string
#include "io/torch_pickle.h"

namespace bloom::io {

namespace {

// A data.pkl above this is not a state dict's (bloom-176b's is ~100 KB).
constexpr uint64_t kMaxPickleBytes = 64ull << 20;
constexpr int64_t kMaxElems = int64_t{1} << 60;

// The storage types torch uses and their element sizes; float ones map to our DType.
struct StorageType {
  const char* name;
  size_t elem_size;
  bool is_float;
  DType dtype;
};
const StorageType kStorageTypes[] = {
    {"FloatStorage", 4, true, DType::F32},   {"HalfStorage", 2, true, DType::F16},
    {"BFloat16Storage", 2, true, DType::BF16}, {"DoubleStorage", 8, false, DType::F32},
    {"LongStorage", 8, false, DType::F32},   {"IntStorage", 4, false, DType::F32},
    {"ShortStorage", 2, false, DType::F32},  {"CharStorage", 1, false, DType::F32},
    {"ByteStorage", 1, false, DType::F32},   {"BoolStorage", 1, false, DType::F32}};

const StorageType& storage_type(const std::string& path, const std::string& name) {
  for (const StorageType& t : kStorageTypes)
    if (name == t.name) return t;
  BLOOM_FAIL("{}: unknown storage type {}", path, name);
}

// The legacy (pre-1.6) torch.save format starts with a pickled magic number instead of a zip.
bool is_legacy_torch_file(const std::string& path) {
  static const uint8_t kMagic[] = {0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46,
                                   0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19};
  std::ifstream in(path, std::ios::binary);
  uint8_t head[sizeof kMagic] = {};
  in.read(reinterpret_cast<char*>(head), sizeof head);
  return in.gcount() == sizeof head && std::memcmp(head, kMagic, sizeof head) == 0;
}

// The archive's folder: the one `<dir>/data.pkl` entry.
std::string archive_prefix(const ZipArchive& zip) {
  std::string prefix;
  int found = 0;
  for (const ZipEntry& e : zip.entries()) {
    const size_t slash = e.name.find('/');
    if (slash != std::string::npos && e.name.compare(slash, std::string::npos, "/data.pkl") == 0) {
      prefix = e.name.substr(0, slash + 1);
      ++found;
    }
  }
  BLOOM_CHECK(found == 1,
              "{}: {} <folder>/data.pkl entries in the archive: a torch.save file has exactly "
              "one", zip.path(), found);
  return prefix;
}

// Elements a shape spans, with overflow checks.
int64_t checked_numel(const std::string& where, const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) {
    BLOOM_CHECK(d >= 0 && (d == 0 || n <= kMaxElems / d), "{}: invalid shape {}", where,
                shape_to_string(shape));
    n *= d;
  }
  return n;
}

// Row-major strides are what can be read in place; a dim of size 1 may have any stride.
bool is_contiguous(const std::vector<int64_t>& shape, const std::vector<int64_t>& stride) {
  int64_t expect = 1;
  for (size_t i = shape.size(); i-- > 0;) {
    if (shape[i] != 1 && stride[i] != expect) return false;
    expect *= shape[i];
  }
  return true;
}

}  // namespace

int64_t TorchTensor::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

TorchFile TorchFile::open(const std::string& path) {
  BLOOM_CHECK(!is_legacy_torch_file(path),
              "{}: written in torch.save's legacy format (torch < 1.6), which cannot be read in "
              "place: load it with torch and save it again with a current torch", path);
  TorchFile f;
  f.zip_ = ZipArchive::open(path);
  const std::string prefix = archive_prefix(f.zip_);
  if (const ZipEntry* order = f.zip_.find(prefix + "byteorder")) {
    const std::string v(reinterpret_cast<const char*>(f.zip_.stored_data(*order)),
                        static_cast<size_t>(order->size));
    BLOOM_CHECK(v == "little", "{}: byteorder is '{}': only little-endian files are read", path, v);
  }
  const ZipEntry& pkl = *f.zip_.find(prefix + "data.pkl");
  BLOOM_CHECK(pkl.size <= kMaxPickleBytes, "{}: {} is {} bytes, too large for a state dict", path,
              pkl.name, pkl.size);
  const std::vector<PickledTensor> pickled = read_state_dict_pickle(
      f.zip_.stored_data(pkl), static_cast<size_t>(pkl.size), path + ": " + pkl.name);

  for (const PickledTensor& p : pickled) {
    const std::string where = fmt::format("{}: tensor {}", path, p.name);
    const StorageType& type = storage_type(path, p.storage_type);
    const std::string entry_name = prefix + "data/" + p.storage_key;
    const ZipEntry* entry = f.zip_.find(entry_name);
    BLOOM_CHECK(entry != nullptr, "{}: its storage {} is not in the archive (corrupt file)", where,
                entry_name);
    BLOOM_CHECK(entry->stored(),
                "{}: its storage {} is compressed (zip method {}): only stored entries, as "
                "torch.save writes them, are read in place", where, entry_name, entry->method);
    BLOOM_CHECK(p.storage_numel <= kMaxElems / static_cast<int64_t>(type.elem_size) &&
                    entry->size >= static_cast<uint64_t>(p.storage_numel) * type.elem_size,
                "{}: its storage {} is {} bytes, shorter than the {} bytes ({} x {}) the pickle "
                "gives it (truncated or corrupt file)", where, entry_name, entry->size,
                static_cast<uint64_t>(p.storage_numel) * type.elem_size, p.storage_numel,
                p.storage_type);
    const int64_t numel = checked_numel(where, p.shape);
    for (int64_t s : p.stride)
      BLOOM_CHECK(s >= 0, "{}: negative stride in {}", where, shape_to_string(p.stride));
    BLOOM_CHECK(is_contiguous(p.shape, p.stride),
                "{}: shape {} with stride {} is not contiguous, so it cannot be read in place "
                "(save tensor.contiguous() instead)", where, shape_to_string(p.shape),
                shape_to_string(p.stride));
    BLOOM_CHECK(p.offset >= 0 && p.offset <= p.storage_numel && numel <= p.storage_numel - p.offset,
                "{}: shape {} at storage offset {} needs elements [{}, {}) of storage {}, which "
                "holds {}: the storage is shorter than its tensor (corrupt file)", where,
                shape_to_string(p.shape), p.offset, p.offset, p.offset + numel, entry_name,
                p.storage_numel);
    TorchTensor t;
    t.name = p.name;
    t.storage_type = p.storage_type;
    t.is_float = type.is_float;
    t.dtype = type.dtype;
    t.shape = p.shape;
    const uint64_t skip = static_cast<uint64_t>(p.offset) * type.elem_size;
    t.data = f.zip_.stored_data(*entry) + skip;
    t.file_offset = entry->data_offset + skip;
    f.index_.emplace(t.name, f.tensors_.size());
    f.tensors_.push_back(std::move(t));
  }
  return f;
}

const TorchTensor* TorchFile::find(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

}  // namespace bloom::io

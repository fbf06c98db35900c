// safetensors reader (mmap, validated header) and streaming writer; see safetensors.h for the
// file layout. Conversions go through core/tensor.h's host helpers, one call per block of
// elements, never per element.
#include "io/safetensors.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <future>
#include <limits>
#include <nlohmann/json.hpp>
#include <unordered_set>

#include "core/check.h"

namespace bloom::io {

namespace {

using OrderedJson = nlohmann::ordered_json;

// Header sizes above this are not a model checkpoint (the reference implementation's limit).
constexpr uint64_t kMaxHeaderBytes = 100ull << 20;
// Bytes per writer chunk.
constexpr size_t kWriteChunkBytes = 16u << 20;

// Every dtype of the safetensors format and its element size in bytes.
size_t safetensors_elem_size(const std::string& d) {
  static const std::unordered_map<std::string, size_t> sizes = {
      {"BOOL", 1}, {"U8", 1},  {"I8", 1},  {"F8_E5M2", 1}, {"F8_E4M3", 1},
      {"I16", 2},  {"U16", 2}, {"F16", 2}, {"BF16", 2},    {"I32", 4},
      {"U32", 4},  {"F32", 4}, {"F64", 8}, {"I64", 8},     {"U64", 8}};
  auto it = sizes.find(d);
  return it == sizes.end() ? 0 : it->second;
}

bool is_float(DType t) { return t == DType::F32 || t == DType::F16 || t == DType::BF16; }

// I64 ids (test references) -> I32, checking the range.
void convert_i64_to_i32(const std::string& path, const std::string& name, const uint8_t* src,
                        int64_t n, int32_t* dst) {
  for (int64_t i = 0; i < n; ++i) {
    int64_t v;
    std::memcpy(&v, src + 8 * i, 8);
    BLOOM_CHECK(
        v >= std::numeric_limits<int32_t>::min() && v <= std::numeric_limits<int32_t>::max(),
        "{}: tensor {}: value {} does not fit in I32", path, name, v);
    dst[i] = static_cast<int32_t>(v);
  }
}

// Parses one header entry's "shape" or "data_offsets" array of non-negative integers.
std::vector<int64_t> parse_dims(const OrderedJson& j, const std::string& where, const char* key) {
  auto it = j.find(key);
  BLOOM_CHECK(it != j.end() && it->is_array(), "{}: missing or non-array \"{}\"", where, key);
  std::vector<int64_t> out;
  for (const auto& v : *it) {
    BLOOM_CHECK(v.is_number_unsigned() || (v.is_number_integer() && v.get<int64_t>() >= 0),
                "{}: \"{}\" holds {}, not a non-negative integer", where, key, v.dump());
    uint64_t u = v.get<uint64_t>();
    BLOOM_CHECK(u <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max()),
                "{}: \"{}\" value {} is too large", where, key, u);
    out.push_back(static_cast<int64_t>(u));
  }
  return out;
}

}  // namespace

int64_t SafetensorsEntry::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

bool dtype_from_safetensors(const std::string& name, DType* out) {
  if (name == "F32")
    *out = DType::F32;
  else if (name == "F16")
    *out = DType::F16;
  else if (name == "BF16")
    *out = DType::BF16;
  else if (name == "I32")
    *out = DType::I32;
  else
    return false;
  return true;
}

const char* safetensors_dtype_name(DType t) {
  switch (t) {
    case DType::F32: return "F32";
    case DType::F16: return "F16";
    case DType::BF16: return "BF16";
    case DType::I32: return "I32";
    case DType::F8E4M3: return "F8_E4M3";
  }
  return "?";
}

std::string shape_to_string(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

// ---- reader -----------------------------------------------------------------------------------

SafetensorsFile SafetensorsFile::open(const std::string& path) {
  SafetensorsFile f;
  f.map_ = MappedFile::open(path);
  const uint64_t file_size = f.map_.size();
  BLOOM_CHECK(file_size >= 8,
              "{}: file is {} bytes, too short for a safetensors header (truncated?)", path,
              file_size);
  const uint8_t* base = f.map_.data();
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | base[i];  // little-endian
  BLOOM_CHECK(header_len <= file_size - 8,
              "{}: header length {} runs past the end of the {}-byte file (truncated, or not a "
              "safetensors file)",
              path, header_len, file_size);
  BLOOM_CHECK(header_len <= kMaxHeaderBytes, "{}: header length {} is implausibly large", path,
              header_len);
  f.data_ = base + 8 + header_len;
  f.parse_header(reinterpret_cast<const char*>(base + 8), header_len, file_size - 8 - header_len);
  return f;  // on a throw above, f's destructor unmaps
}

void SafetensorsFile::parse_header(const char* json, size_t len, uint64_t data_size) {
  OrderedJson header;
  try {
    header = OrderedJson::parse(json, json + len);
  } catch (const nlohmann::json::exception& e) {
    BLOOM_FAIL("{}: header is not valid JSON: {}", path(), e.what());
  }
  BLOOM_CHECK(header.is_object(), "{}: header is not a JSON object", path());

  for (const auto& [name, j] : header.items()) {
    if (name == "__metadata__") continue;
    const std::string where = fmt::format("{}: tensor {}", path(), name);
    BLOOM_CHECK(j.is_object(), "{}: header entry is not an object", where);
    auto dt = j.find("dtype");
    BLOOM_CHECK(dt != j.end() && dt->is_string(), "{}: missing or non-string \"dtype\"", where);
    SafetensorsEntry e;
    e.name = name;
    e.dtype = dt->get<std::string>();
    e.elem_size = safetensors_elem_size(e.dtype);
    BLOOM_CHECK(e.elem_size > 0, "{}: unknown dtype \"{}\"", where, e.dtype);
    e.shape = parse_dims(j, where, "shape");
    std::vector<int64_t> offsets = parse_dims(j, where, "data_offsets");
    BLOOM_CHECK(offsets.size() == 2, "{}: \"data_offsets\" has {} values, expected 2", where,
                offsets.size());
    e.begin = static_cast<uint64_t>(offsets[0]);
    e.end = static_cast<uint64_t>(offsets[1]);
    BLOOM_CHECK(e.begin <= e.end, "{}: data_offsets [{}, {}] end before they begin", where, e.begin,
                e.end);
    BLOOM_CHECK(e.end <= data_size,
                "{}: data_offsets [{}, {}] run past the end of the {}-byte data section "
                "(truncated file?)",
                where, e.begin, e.end, data_size);
    // Shape product without overflow (every dim is at most the data size here).
    uint64_t bytes = e.elem_size;
    for (int64_t d : e.shape) {
      BLOOM_CHECK(d == 0 || bytes <= data_size / static_cast<uint64_t>(d) + 1,
                  "{}: shape {} is larger than the file", where, shape_to_string(e.shape));
      bytes *= static_cast<uint64_t>(d);
    }
    BLOOM_CHECK(bytes == e.end - e.begin,
                "{}: shape {} x {} ({} bytes each) needs {} bytes but data_offsets [{}, {}] "
                "span {}",
                where, shape_to_string(e.shape), e.dtype, e.elem_size, bytes, e.begin, e.end,
                e.end - e.begin);
    index_.emplace(e.name, entries_.size());
    entries_.push_back(std::move(e));
  }

  // No two non-empty tensors may share bytes.
  std::vector<const SafetensorsEntry*> by_offset;
  for (const auto& e : entries_)
    if (e.end > e.begin) by_offset.push_back(&e);
  std::sort(
      by_offset.begin(), by_offset.end(),
      [](const SafetensorsEntry* a, const SafetensorsEntry* b) { return a->begin < b->begin; });
  for (size_t i = 1; i < by_offset.size(); ++i) {
    const SafetensorsEntry& a = *by_offset[i - 1];
    const SafetensorsEntry& b = *by_offset[i];
    BLOOM_CHECK(b.begin >= a.end,
                "{}: tensor {} (bytes [{}, {})) overlaps tensor {} (bytes [{}, {}))", path(), b.name,
                b.begin, b.end, a.name, a.begin, a.end);
  }
}

const SafetensorsEntry* SafetensorsFile::find(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &entries_[it->second];
}

const SafetensorsEntry& SafetensorsFile::at(const std::string& name) const {
  const SafetensorsEntry* e = find(name);
  BLOOM_CHECK(e != nullptr, "{}: no tensor named {}", path(), name);
  return *e;
}

void SafetensorsFile::read_elements(const SafetensorsEntry& e, int64_t elem0, int64_t n,
                                    DType dst_dtype, void* dst) const {
  // (Messages are formatted only on failure: this runs once per row in column reads.)
  BLOOM_CHECK(elem0 >= 0 && n >= 0 && elem0 <= e.numel() && n <= e.numel() - elem0,
              "{}: tensor {}: elements [{}, {}) are outside its {} elements", path(), e.name, elem0,
              elem0 + n, e.numel());
  if (n == 0) return;
  const uint8_t* src = bytes(e) + static_cast<size_t>(elem0) * e.elem_size;

  if (e.dtype == "I64" && dst_dtype == DType::I32) {
    convert_i64_to_i32(path(), e.name, src, n, static_cast<int32_t*>(dst));
    return;
  }
  DType src_dtype;
  const bool known = dtype_from_safetensors(e.dtype, &src_dtype);
  BLOOM_CHECK(known && (src_dtype == dst_dtype || (is_float(src_dtype) && is_float(dst_dtype))),
              "{}: tensor {}: cannot read dtype {} as {} (supported: F32/F16/BF16 to "
              "fp32/fp16/bf16, I32/I64 to i32)",
              path(), e.name, e.dtype, dtype_name(dst_dtype));
  read_mapped(src, src_dtype, n, dst_dtype, dst);
}

// ---- writer -----------------------------------------------------------------------------------

int64_t TensorToWrite::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

uint64_t TensorToWrite::nbytes() const {
  return static_cast<uint64_t>(numel()) * dtype_size(dtype);
}

namespace {

// Owns the FILE* of the temporary file; removes the file unless committed.
class TempFile {
 public:
  explicit TempFile(std::string path) : path_(std::move(path)) {
    f_ = std::fopen(path_.c_str(), "wb");
    BLOOM_CHECK(f_ != nullptr, "{}: cannot create: {}", path_, std::strerror(errno));
  }
  ~TempFile() {
    if (f_) std::fclose(f_);
    if (!committed_) std::remove(path_.c_str());
  }
  void write(const void* p, size_t n) {
    BLOOM_CHECK(std::fwrite(p, 1, n, f_) == n, "{}: write failed: {}", path_, std::strerror(errno));
  }
  void commit(const std::string& final_path) {
    int rc = std::fclose(f_);
    f_ = nullptr;
    BLOOM_CHECK(rc == 0, "{}: close failed: {}", path_, std::strerror(errno));
    BLOOM_CHECK(std::rename(path_.c_str(), final_path.c_str()) == 0, "{}: cannot rename to {}: {}",
                path_, final_path, std::strerror(errno));
    committed_ = true;
  }

 private:
  std::string path_;
  std::FILE* f_ = nullptr;
  bool committed_ = false;
};

}  // namespace

void write_safetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                       const std::vector<std::pair<std::string, std::string>>& metadata) {
  OrderedJson header = OrderedJson::object();
  if (!metadata.empty()) {
    OrderedJson meta = OrderedJson::object();
    for (const auto& [k, v] : metadata) meta[k] = v;
    header["__metadata__"] = meta;
  }
  std::unordered_set<std::string> names;
  uint64_t offset = 0;
  for (const TensorToWrite& t : tensors) {
    BLOOM_CHECK(!t.name.empty() && t.name != "__metadata__", "{}: invalid tensor name '{}'", path,
                t.name);
    BLOOM_CHECK(names.insert(t.name).second, "{}: tensor {} given twice", path, t.name);
    for (int64_t d : t.shape)
      BLOOM_CHECK(d >= 0, "{}: tensor {} has a negative dim in shape {}", path, t.name,
                  shape_to_string(t.shape));
    BLOOM_CHECK(t.numel() == 0 || (t.data != nullptr) != static_cast<bool>(t.fill),
                "{}: tensor {} needs exactly one of data and fill", path, t.name);
    const uint64_t n = t.nbytes();
    header[t.name] = {{"dtype", safetensors_dtype_name(t.dtype)},
                      {"shape", t.shape},
                      {"data_offsets", {offset, offset + n}}};
    offset += n;
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');

  TempFile out(path + ".tmp");
  std::vector<uint8_t> len_bytes(8);
  std::vector<uint8_t> chunks[2];
  // Double buffering: the disk write of one chunk overlaps filling the next. Writes stay in
  // order because each waits for the previous one (and rethrows its error). Declared after the
  // buffers so that, on an exception, its destructor waits for the write before they are freed.
  std::future<void> pending;
  auto submit = [&](const void* p, size_t n) {
    if (pending.valid()) pending.get();
    pending = std::async(std::launch::async, [&out, p, n] { out.write(p, n); });
  };
  for (int i = 0; i < 8; ++i) len_bytes[i] = static_cast<uint8_t>(uint64_t(text.size()) >> (8 * i));
  submit(len_bytes.data(), 8);
  submit(text.data(), text.size());

  int cur = 0;
  for (const TensorToWrite& t : tensors) {
    if (t.data) {
      submit(t.data, t.nbytes());
      continue;
    }
    const size_t es = dtype_size(t.dtype);
    const int64_t chunk_elems = static_cast<int64_t>(kWriteChunkBytes / es);
    for (int64_t i = 0; i < t.numel(); i += chunk_elems) {
      const int64_t m = std::min(chunk_elems, t.numel() - i);
      chunks[cur].resize(kWriteChunkBytes);
      t.fill(i, m, chunks[cur].data());  // the other buffer may still be in flight
      submit(chunks[cur].data(), static_cast<size_t>(m) * es);
      cur ^= 1;
    }
  }
  if (pending.valid()) pending.get();
  out.commit(path);
}

}  // namespace bloom::io

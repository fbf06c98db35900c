// Checkpoint: named tensors over safetensors files, torch.save files or raw files, with whole,
// row-block, column-block and box reads. See checkpoint.h for the formats.
#include "io/checkpoint.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "core/check.h"

namespace bloom::io {

namespace fs = std::filesystem;

namespace {

constexpr const char* kSafetensorsFile = "model.safetensors";
constexpr const char* kSafetensorsIndex = "model.safetensors.index.json";
constexpr const char* kBinFile = "pytorch_model.bin";
constexpr const char* kBinIndex = "pytorch_model.bin.index.json";

// shard file -> tensor names stored in it, from an index's weight_map.
std::map<std::string, std::vector<std::string>> read_index(const std::string& path) {
  std::ifstream in(path);
  BLOOM_CHECK(in.good(), "{}: cannot open", path);
  nlohmann::json j;
  try {
    in >> j;
  } catch (const nlohmann::json::exception& e) {
    BLOOM_FAIL("{}: not valid JSON: {}", path, e.what());
  }
  auto wm = j.is_object() ? j.find("weight_map") : j.end();
  BLOOM_CHECK(j.is_object() && wm != j.end() && wm->is_object() && !wm->empty(),
              "{}: no \"weight_map\" object (tensor name -> shard file)", path);
  std::map<std::string, std::vector<std::string>> shards;
  for (const auto& [name, file] : wm->items()) {
    BLOOM_CHECK(file.is_string(), "{}: weight_map entry for tensor {} is not a file name", path,
                name);
    const std::string f = file.get<std::string>();
    BLOOM_CHECK(!f.empty() && f.find('/') == std::string::npos && f != "." && f != "..",
                "{}: weight_map names shard '{}' for tensor {}: expected a file name in the same "
                "folder",
                path, f, name);
    shards[f].push_back(name);
  }
  return shards;
}

bool exists(const std::string& dir, const char* name) { return fs::exists(fs::path(dir) / name); }

const std::vector<TorchTensor>& all_of(const TorchFile& f) { return f.tensors(); }
const std::vector<SafetensorsEntry>& all_of(const SafetensorsFile& f) { return f.entries(); }

// Passes every tensor of `f` to add_one, or only the ones an index says it holds (`only`), each
// of which must be there.
template <typename File, typename Add>
void add_tensors(const File& f, const std::vector<std::string>* only, const std::string& index,
                 Add add_one) {
  if (!only) {
    for (const auto& t : all_of(f)) add_one(t);
    return;
  }
  for (const std::string& name : *only) {
    const auto* t = f.find(name);
    BLOOM_CHECK(t != nullptr, "{}: says tensor {} is in {}, which has no such tensor", index, name,
                f.path());
    add_one(*t);
  }
}

// Writes the tile [nj rows of `pitch` elements, nc used] transposed: element (a, c) goes to
// out[c * out_stride + a] (elements of T). The tile is a small contiguous scratch block: read
// straight from the mapping, rows a power-of-two apart would alias in the L1 cache.
#if defined(__SSE2__)
// The 8 x 8 block of 16-bit elements at src (rows `pitch` bytes apart) as its 8 columns: three
// rounds of unpacks, the classic SSE2 transpose.
void transpose8x8(const uint8_t* src, int64_t pitch, __m128i col[8]) {
  __m128i r[8], u[8];
  for (int k = 0; k < 8; ++k) r[k] = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + k * pitch));
  for (int k = 0; k < 4; ++k) {
    u[2 * k] = _mm_unpacklo_epi16(r[2 * k], r[2 * k + 1]);
    u[2 * k + 1] = _mm_unpackhi_epi16(r[2 * k], r[2 * k + 1]);
  }
  const __m128i v[8] = {_mm_unpacklo_epi32(u[0], u[2]), _mm_unpackhi_epi32(u[0], u[2]),
                        _mm_unpacklo_epi32(u[1], u[3]), _mm_unpackhi_epi32(u[1], u[3]),
                        _mm_unpacklo_epi32(u[4], u[6]), _mm_unpackhi_epi32(u[4], u[6]),
                        _mm_unpacklo_epi32(u[5], u[7]), _mm_unpackhi_epi32(u[5], u[7])};
  for (int k = 0; k < 4; ++k) {
    col[2 * k] = _mm_unpacklo_epi64(v[k], v[k + 4]);
    col[2 * k + 1] = _mm_unpackhi_epi64(v[k], v[k + 4]);
  }
}
#endif

// (memcpy of sizeof(T): plain loads and stores, no alignment or type-punning assumptions.)
template <typename T>
void transpose_tile(const void* tile, int64_t nj, int64_t nc, int64_t pitch, int64_t out_stride,
                    uint8_t* out) {
  const uint8_t* t = static_cast<const uint8_t*>(tile);
  int64_t c_done = 0;
#if defined(__SSE2__)
  // 16-bit elements, 32 x 8 at a time: each destination row gets 64 contiguous bytes (a whole
  // cache line) in one go; the GPU path (fp16 in, fp16 out) spends its host time here.
  if (sizeof(T) == 2 && nj % 32 == 0) {
    c_done = nc / 8 * 8;
    for (int64_t c0 = 0; c0 < c_done; c0 += 8) {
      for (int64_t a0 = 0; a0 < nj; a0 += 32) {
        __m128i col[4][8];
        for (int b = 0; b < 4; ++b) transpose8x8(t + ((a0 + 8 * b) * pitch + c0) * 2, pitch * 2, col[b]);
        for (int k = 0; k < 8; ++k) {
          __m128i* o = reinterpret_cast<__m128i*>(out + ((c0 + k) * out_stride + a0) * 2);
          for (int b = 0; b < 4; ++b) _mm_storeu_si128(o + b, col[b][k]);
        }
      }
    }
  }
#endif
  for (int64_t c = c_done; c < nc; ++c) {
    uint8_t* o = out + static_cast<size_t>(c * out_stride) * sizeof(T);
    for (int64_t a = 0; a < nj; ++a)
      std::memcpy(o + static_cast<size_t>(a) * sizeof(T),
                  t + static_cast<size_t>(a * pitch + c) * sizeof(T), sizeof(T));
  }
}

}  // namespace

const char* checkpoint_format_name(CheckpointFormat f) {
  switch (f) {
    case CheckpointFormat::Safetensors: return "safetensors";
    case CheckpointFormat::Bin: return "bin";
    case CheckpointFormat::Raw: return "raw";
  }
  return "?";
}

int64_t TensorInfo::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

// ---- opening ----------------------------------------------------------------------------------

bool Checkpoint::has_safetensors(const std::string& dir) {
  return exists(dir, kSafetensorsFile) || exists(dir, kSafetensorsIndex);
}

bool Checkpoint::has_bin(const std::string& dir) {
  return exists(dir, kBinFile) || exists(dir, kBinIndex);
}

Checkpoint Checkpoint::open(const std::string& dir, const std::string& strip_prefix) {
  BLOOM_CHECK(fs::is_directory(dir), "checkpoint folder {} does not exist", dir);
  if (has_safetensors(dir)) return open_safetensors(dir, strip_prefix);
  if (has_bin(dir)) return open_bin(dir, strip_prefix);
  BLOOM_FAIL("{}: no {} or {} (safetensors), nor {} or {} (PyTorch)", dir, kSafetensorsFile,
             kSafetensorsIndex, kBinFile, kBinIndex);
}

Checkpoint Checkpoint::open_safetensors(const std::string& dir, const std::string& strip_prefix) {
  return open_indexed(dir, strip_prefix, CheckpointFormat::Safetensors);
}

Checkpoint Checkpoint::open_bin(const std::string& dir, const std::string& strip_prefix) {
  return open_indexed(dir, strip_prefix, CheckpointFormat::Bin);
}

// A single file if present (HF prefers it too), else the index and every shard it names; only
// the tensors the index names are taken from a shard.
Checkpoint Checkpoint::open_indexed(const std::string& dir, const std::string& strip_prefix,
                                    CheckpointFormat format) {
  BLOOM_CHECK(fs::is_directory(dir), "checkpoint folder {} does not exist", dir);
  Checkpoint ck;
  ck.dir_ = dir;
  ck.prefix_ = strip_prefix;
  ck.format_ = format;
  const bool torch = format == CheckpointFormat::Bin;
  ck.read_files(torch ? kBinFile : kSafetensorsFile, torch ? kBinIndex : kSafetensorsIndex, torch);
  return ck;
}

void Checkpoint::read_files(const std::string& single, const std::string& index_file, bool torch) {
  const fs::path one = fs::path(dir_) / single;
  const fs::path index = fs::path(dir_) / index_file;
  auto open_file = [&](const std::string& path, const std::vector<std::string>* only) {
    file_paths_.push_back(path);
    if (torch) {
      torch_files_.push_back(TorchFile::open(path));
      add_tensors(torch_files_.back(), only, index.string(), [&](const TorchTensor& t) {
        BLOOM_CHECK(t.is_float, "{}: tensor {} is stored as {}; BLOOM weights must be F32, F16 "
                    "or BF16", path, t.name, t.storage_type);
        add({"", t.name, path, t.file_offset, t.dtype, t.shape}, t.data);
      });
      return;
    }
    safetensors_.push_back(SafetensorsFile::open(path));
    const SafetensorsFile& f = safetensors_.back();
    add_tensors(f, only, index.string(), [&](const SafetensorsEntry& e) {
      DType t;
      BLOOM_CHECK(dtype_from_safetensors(e.dtype, &t) && t != DType::I32,
                  "{}: tensor {} has dtype {}; BLOOM weights must be F32, F16 or BF16", path,
                  e.name, e.dtype);
      add({"", e.name, path, f.file_offset(e), t, e.shape}, f.bytes(e));
    });
  };

  if (fs::exists(one)) {
    searched_ = one.string();
    open_file(one.string(), nullptr);
    return;
  }
  BLOOM_CHECK(fs::exists(index), "{}: no {} or {}", dir_, single, index_file);
  const auto shards = read_index(index.string());
  searched_ = index.string() + " and its shards";
  const char* sep = " ";
  for (const auto& [file, names] : shards) {
    const fs::path shard = fs::path(dir_) / file;
    searched_ += sep + file;
    sep = ", ";
    BLOOM_CHECK(fs::exists(shard), "{}: shard {} (holding tensor {}) does not exist",
                index.string(), shard.string(), names.front());
    open_file(shard.string(), &names);
  }
}

Checkpoint Checkpoint::open_raw(const std::string& dir, const std::vector<RawTensorSpec>& files) {
  Checkpoint ck;
  ck.dir_ = dir;
  ck.format_ = CheckpointFormat::Raw;
  ck.searched_ = dir;
  ck.raw_files_.reserve(files.size());
  for (const RawTensorSpec& s : files) {
    BLOOM_CHECK(fs::exists(s.path), "{}: missing ({})", s.path, s.why);
    ck.raw_files_.push_back(MappedFile::open(s.path));
    const MappedFile& m = ck.raw_files_.back();
    TensorInfo info{"", s.name, s.path, 0, s.dtype, s.shape};
    BLOOM_CHECK(m.size() == info.nbytes(),
                "{}: {} bytes, expected {} ({} x {} bytes of {}) ({})", s.path, m.size(),
                info.nbytes(), shape_to_string(s.shape), dtype_size(s.dtype), dtype_name(s.dtype),
                s.why);
    ck.file_paths_.push_back(s.path);
    ck.add(std::move(info), m.data());
  }
  return ck;
}

void Checkpoint::add(TensorInfo info, const uint8_t* data) {
  const std::string& stored = info.stored_name;
  const bool prefixed = !prefix_.empty() && stored.compare(0, prefix_.size(), prefix_) == 0;
  info.name = prefixed ? stored.substr(prefix_.size()) : stored;
  auto [it, fresh] = index_.emplace(info.name, entries_.size());
  if (!fresh) {
    const TensorInfo& other = entries_[it->second].info;
    BLOOM_FAIL("{}: tensor {} is also in {} as {}{}", info.file, stored, other.file,
               other.stored_name,
               prefix_.empty() ? ""
                               : fmt::format(" (the name with and without `{}` must not both "
                                             "appear)", prefix_));
  }
  entries_.push_back({std::move(info), data});
}

std::vector<std::string> Checkpoint::names() const {
  std::vector<std::string> out;
  for (const auto& [name, i] : index_) out.push_back(name);
  std::sort(out.begin(), out.end());
  return out;
}

// ---- lookup -----------------------------------------------------------------------------------

bool Checkpoint::has(const std::string& name) const {
  if (index_.count(name)) return true;
  return !prefix_.empty() && name.compare(0, prefix_.size(), prefix_) == 0 &&
         index_.count(name.substr(prefix_.size()));
}

const Checkpoint::Entry& Checkpoint::locate(const std::string& name) const {
  auto it = index_.find(name);
  if (it == index_.end() && !prefix_.empty() && name.compare(0, prefix_.size(), prefix_) == 0)
    it = index_.find(name.substr(prefix_.size()));
  BLOOM_CHECK(it != index_.end(), "tensor {}{} not found in {}", name,
              prefix_.empty() ? "" : fmt::format(" (with or without `{}`)", prefix_), searched_);
  return entries_[it->second];
}

TensorInfo Checkpoint::info(const std::string& name) const { return locate(name).info; }

bool Checkpoint::same_values(const std::string& a, const std::string& b) const {
  const Entry& x = locate(a);
  const Entry& y = locate(b);
  if (x.info.dtype != y.info.dtype || x.info.shape != y.info.shape) return false;
  return x.data == y.data || std::memcmp(x.data, y.data, x.info.nbytes()) == 0;
}

void Checkpoint::check_shape(const std::string& name, const std::vector<int64_t>& expect,
                             const std::string& why) const {
  const TensorInfo& i = locate(name).info;
  BLOOM_CHECK(i.shape == expect, "{}: tensor {} has shape {}, expected {}{}", i.file,
              i.stored_name, shape_to_string(i.shape), shape_to_string(expect),
              why.empty() ? "" : " (" + why + ")");
}

// ---- reads ------------------------------------------------------------------------------------

void Checkpoint::read(const std::string& name, DType dst_dtype, void* dst,
                      const std::vector<int64_t>& expect_shape, const std::string& why) const {
  if (!expect_shape.empty()) check_shape(name, expect_shape, why);
  const Entry& e = locate(name);
  read_mapped(e.data, e.info.dtype, e.info.numel(), dst_dtype, dst);
}

void Checkpoint::read_rows(const std::string& name, int64_t row0, int64_t n_rows, DType dst_dtype,
                           void* dst) const {
  const TensorInfo& i = locate(name).info;
  BLOOM_CHECK(!i.shape.empty(), "{}: tensor {} is a scalar: it has no rows", i.file,
              i.stored_name);
  std::vector<int64_t> start(i.shape.size(), 0), count = i.shape;
  start[0] = row0;
  count[0] = n_rows;
  read_box(name, start, count, dst_dtype, dst);
}

void Checkpoint::read_cols(const std::string& name, int64_t col0, int64_t n_cols, DType dst_dtype,
                           void* dst) const {
  const TensorInfo& i = locate(name).info;
  BLOOM_CHECK(i.shape.size() == 2, "{}: tensor {} has shape {}: read_cols needs a 2-D tensor",
              i.file, i.stored_name, shape_to_string(i.shape));
  read_box(name, {0, col0}, {i.shape[0], n_cols}, dst_dtype, dst);
}

void Checkpoint::read_box(const std::string& name, const std::vector<int64_t>& start,
                          const std::vector<int64_t>& count, DType dst_dtype, void* dst) const {
  std::vector<int64_t> stride(count.size(), 1);  // row-major [count...]
  for (size_t d = count.size(); d-- > 1;) stride[d - 1] = stride[d] * count[d];
  read_box_strided(name, start, count, stride, dst_dtype, dst);
}

void Checkpoint::read_box_strided(const std::string& name, const std::vector<int64_t>& start,
                                  const std::vector<int64_t>& count,
                                  const std::vector<int64_t>& dst_stride, DType dst_dtype,
                                  void* dst) const {
  const Entry& e = locate(name);
  const std::vector<int64_t>& shape = e.info.shape;
  const size_t r = shape.size();
  BLOOM_CHECK(start.size() == r && count.size() == r && dst_stride.size() == r,
              "{}: tensor {} has {} dims, a read asked for {}", e.info.file, e.info.stored_name, r,
              start.size());
  for (size_t d = 0; d < r; ++d)
    BLOOM_CHECK(start[d] >= 0 && count[d] >= 0 && start[d] <= shape[d] &&
                    count[d] <= shape[d] - start[d],
                "{}: tensor {} has shape {}: [{}, {}) of dim {} is out of range", e.info.file,
                e.info.stored_name, shape_to_string(shape), start[d], start[d] + count[d], d);
  for (int64_t c : count)
    if (c == 0) return;
  std::vector<int64_t> src_stride(r, 1);  // elements of the stored tensor
  for (size_t d = r; d-- > 1;) src_stride[d - 1] = src_stride[d] * shape[d];
  // Merge dim d into d-1 wherever both sides see them as one longer dim: the source dim is whole
  // and the destination lays it out right after the one before.
  std::vector<int64_t> st, cn, ss, ds;
  for (size_t d = 0; d < r; ++d) {
    if (!cn.empty() && start[d] == 0 && count[d] == shape[d] &&
        ds.back() == dst_stride[d] * count[d] && ss.back() == src_stride[d] * shape[d]) {
      st.back() *= shape[d];
      cn.back() *= count[d];
      ss.back() = src_stride[d];
      ds.back() = dst_stride[d];
      continue;
    }
    st.push_back(start[d]);
    cn.push_back(count[d]);
    ss.push_back(src_stride[d]);
    ds.push_back(dst_stride[d]);
  }
  if (st.empty()) {  // a scalar
    st = cn = {1};
    st[0] = 0;
    ss = ds = {1};
  }
  const size_t m = st.size(), last = m - 1;
  const size_t src_es = dtype_size(e.info.dtype), dst_es = dtype_size(dst_dtype);
  uint8_t* out = static_cast<uint8_t*>(dst);
  // The destination dim with stride 1 when the last one's is not: the box is read in square
  // tiles of (that dim x last dim) and written transposed.
  size_t j = m;
  if (ds[last] != 1)
    for (size_t d = 0; d < last; ++d)
      if (ds[d] == 1) j = d;
  constexpr int64_t kTile = 64;
  std::vector<uint32_t> tile(j < m ? static_cast<size_t>(kTile * kTile) : 0);  // 4-byte aligned
  std::vector<int64_t> idx(m, 0);  // over every dim but `last` (and `j`, walked in tiles)
  for (;;) {
    int64_t src = 0, dpos = 0;
    for (size_t d = 0; d < m; ++d) {
      src += (st[d] + idx[d]) * ss[d];
      dpos += idx[d] * ds[d];
    }
    if (j == m && ds[last] == 1) {
      read_mapped(e.data + static_cast<size_t>(src) * src_es, e.info.dtype, cn[last], dst_dtype,
                  out + static_cast<size_t>(dpos) * dst_es);
    } else if (j == m) {  // no unit-stride dim: element by element through one row
      std::vector<uint8_t> row(static_cast<size_t>(cn[last]) * dst_es);
      read_mapped(e.data + static_cast<size_t>(src) * src_es, e.info.dtype, cn[last], dst_dtype,
                  row.data());
      for (int64_t c = 0; c < cn[last]; ++c)
        std::memcpy(out + static_cast<size_t>(dpos + c * ds[last]) * dst_es,
                    row.data() + static_cast<size_t>(c) * dst_es, dst_es);
    } else {
      const int64_t nj = std::min(kTile, cn[j] - idx[j]);
      for (int64_t c0 = 0; c0 < cn[last]; c0 += kTile) {
        const int64_t nc = std::min(kTile, cn[last] - c0);
        uint8_t* o = out + static_cast<size_t>(dpos + c0 * ds[last]) * dst_es;
        if (e.info.dtype == dst_dtype && dst_es == 2 && nj % 32 == 0) {  // straight from the mapping
          transpose_tile<uint16_t>(e.data + static_cast<size_t>(src + c0) * src_es, nj, nc, ss[j],
                                   ds[last], o);
          continue;
        }
        for (int64_t a = 0; a < nj; ++a)  // tile rows: runs of the source's last dim
          read_mapped(e.data + static_cast<size_t>(src + a * ss[j] + c0) * src_es, e.info.dtype,
                      nc, dst_dtype,
                      reinterpret_cast<uint8_t*>(tile.data()) + static_cast<size_t>(a * kTile) * dst_es);
        if (dst_es == 2)
          transpose_tile<uint16_t>(tile.data(), nj, nc, kTile, ds[last], o);
        else
          transpose_tile<uint32_t>(tile.data(), nj, nc, kTile, ds[last], o);
      }
    }
    // Next index: `j` advances a tile at a time, `last` is done in one go.
    size_t d = last;
    for (;;) {
      if (d == 0) return;
      --d;
      idx[d] += d == j ? kTile : 1;
      if (idx[d] < cn[d]) break;
      idx[d] = 0;
    }
  }
}

}  // namespace bloom::io

// Checkpoint: a BLOOM checkpoint folder (single file or HF shards) behind canonical tensor names,
// with whole, row-block and column-block reads. See checkpoint.h for the name map and layouts.
#include "io/checkpoint.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "core/check.h"

namespace bloom::io {

namespace fs = std::filesystem;

namespace {

constexpr const char* kPrefix = "transformer.";
constexpr const char* kSingleFile = "model.safetensors";
constexpr const char* kIndexFile = "model.safetensors.index.json";

std::string strip_prefix(const std::string& name) {
  const std::string prefix = kPrefix;
  return name.compare(0, prefix.size(), prefix) == 0 ? name.substr(prefix.size()) : name;
}

// shard file -> tensor names stored in it, from model.safetensors.index.json.
std::map<std::string, std::vector<std::string>> read_index(const std::string& path) {
  std::ifstream in(path);
  BLOOM_CHECK(in.good(), "{}: cannot open", path);
  nlohmann::json j;
  try {
    in >> j;
  } catch (const nlohmann::json::exception& e) {
    BLOOM_FAIL("{}: not valid JSON: {}", path, e.what());
  }
  auto wm = j.find("weight_map");
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

}  // namespace

bool param_is_per_layer(Param p) {
  switch (p) {
    case Param::WordEmbeddings:
    case Param::EmbLnWeight:
    case Param::EmbLnBias:
    case Param::LnFWeight:
    case Param::LnFBias: return false;
    default: return true;
  }
}

std::string param_name(Param p, int layer) {
  const bool per_layer = param_is_per_layer(p);
  BLOOM_CHECK(per_layer ? layer >= 0 : layer == -1,
              "param_name: parameter {} {} a layer index, got {}", static_cast<int>(p),
              per_layer ? "needs" : "takes no", layer);
  const std::string h = per_layer ? fmt::format("h.{}.", layer) : std::string();
  switch (p) {
    case Param::WordEmbeddings: return "word_embeddings.weight";
    case Param::EmbLnWeight: return "word_embeddings_layernorm.weight";
    case Param::EmbLnBias: return "word_embeddings_layernorm.bias";
    case Param::Ln1Weight: return h + "input_layernorm.weight";
    case Param::Ln1Bias: return h + "input_layernorm.bias";
    case Param::QkvWeight: return h + "self_attention.query_key_value.weight";
    case Param::QkvBias: return h + "self_attention.query_key_value.bias";
    case Param::DenseWeight: return h + "self_attention.dense.weight";
    case Param::DenseBias: return h + "self_attention.dense.bias";
    case Param::Ln2Weight: return h + "post_attention_layernorm.weight";
    case Param::Ln2Bias: return h + "post_attention_layernorm.bias";
    case Param::FcWeight: return h + "mlp.dense_h_to_4h.weight";
    case Param::FcBias: return h + "mlp.dense_h_to_4h.bias";
    case Param::ProjWeight: return h + "mlp.dense_4h_to_h.weight";
    case Param::ProjBias: return h + "mlp.dense_4h_to_h.bias";
    case Param::LnFWeight: return "ln_f.weight";
    case Param::LnFBias: return "ln_f.bias";
  }
  BLOOM_FAIL("param_name: unknown parameter {}", static_cast<int>(p));
}

int64_t TensorInfo::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

// ---- opening ----------------------------------------------------------------------------------

Checkpoint Checkpoint::open(const std::string& dir) {
  Checkpoint ck;
  ck.dir_ = dir;
  BLOOM_CHECK(fs::is_directory(dir), "checkpoint folder {} does not exist", dir);
  const fs::path single = fs::path(dir) / kSingleFile;
  const fs::path index = fs::path(dir) / kIndexFile;

  if (fs::exists(single)) {  // HF prefers the single file too
    ck.searched_ = single.string();
    ck.files_.push_back(SafetensorsFile::open(single.string()));
    for (const auto& e : ck.files_[0].entries()) ck.add_tensor(0, e.name);
  } else if (fs::exists(index)) {
    const auto shards = read_index(index.string());
    ck.searched_ = index.string() + " and its shards";
    const char* sep = " ";
    for (const auto& [file, names] : shards) {
      const fs::path shard = fs::path(dir) / file;
      ck.searched_ += sep + file;
      sep = ", ";
      BLOOM_CHECK(fs::exists(shard), "{}: shard {} (holding tensor {}) does not exist",
                  index.string(), shard.string(), names.front());
      ck.files_.push_back(SafetensorsFile::open(shard.string()));
      const SafetensorsFile& f = ck.files_.back();
      for (const std::string& name : names) {
        BLOOM_CHECK(f.find(name) != nullptr,
                    "{}: says tensor {} is in {}, which has no such tensor", index.string(), name,
                    f.path());
        ck.add_tensor(ck.files_.size() - 1, name);
      }
    }
  } else {
    const bool has_bin = fs::exists(fs::path(dir) / "pytorch_model.bin") ||
                         fs::exists(fs::path(dir) / "pytorch_model.bin.index.json");
    BLOOM_FAIL("{}: no {} or {}{}", dir, kSingleFile, kIndexFile,
               has_bin ? " (only PyTorch .bin weights: re-save them as safetensors, e.g. "
                         "save_pretrained(dir, safe_serialization=True))"
                       : "");
  }
  return ck;
}

void Checkpoint::add_tensor(size_t file, const std::string& stored_name) {
  const SafetensorsFile& f = files_[file];
  const SafetensorsEntry* e = f.find(stored_name);
  const size_t entry = static_cast<size_t>(e - f.entries().data());
  DType t;
  BLOOM_CHECK(dtype_from_safetensors(e->dtype, &t) && t != DType::I32,
              "{}: tensor {} has dtype {}; BLOOM weights must be F32, F16 or BF16", f.path(),
              stored_name, e->dtype);
  const std::string name = strip_prefix(stored_name);
  auto [it, inserted] = index_.emplace(name, Location{file, entry});
  if (!inserted) {
    const auto& other = files_[it->second.file];
    BLOOM_FAIL(
        "{}: tensor {} is also in {} as {} (the name with and without `{}` must not both "
        "appear)",
        f.path(), stored_name, other.path(), other.entries()[it->second.entry].name, kPrefix);
  }
}

std::vector<std::string> Checkpoint::files() const {
  std::vector<std::string> out;
  for (const auto& f : files_) out.push_back(f.path());
  return out;
}

std::vector<std::string> Checkpoint::names() const {
  std::vector<std::string> out;
  for (const auto& [name, loc] : index_) out.push_back(name);
  std::sort(out.begin(), out.end());
  return out;
}

// ---- lookup -----------------------------------------------------------------------------------

bool Checkpoint::has(const std::string& name) const { return index_.count(strip_prefix(name)) > 0; }

const Checkpoint::Location& Checkpoint::locate(const std::string& name) const {
  const std::string canonical = strip_prefix(name);
  auto it = index_.find(canonical);
  BLOOM_CHECK(it != index_.end(), "tensor {} (with or without `{}`) not found in {}", canonical,
              kPrefix, searched_);
  return it->second;
}

const SafetensorsEntry& Checkpoint::entry(const Location& loc) const {
  return files_[loc.file].entries()[loc.entry];
}

TensorInfo Checkpoint::info(const std::string& name) const {
  const Location& loc = locate(name);
  const SafetensorsEntry& e = entry(loc);
  TensorInfo ti;
  ti.name = strip_prefix(name);
  ti.file = files_[loc.file].path();
  dtype_from_safetensors(e.dtype, &ti.dtype);
  ti.shape = e.shape;
  return ti;
}

void Checkpoint::check_shape(const std::string& name, const std::vector<int64_t>& expect,
                             const std::string& why) const {
  const Location& loc = locate(name);
  const SafetensorsEntry& e = entry(loc);
  BLOOM_CHECK(e.shape == expect, "{}: tensor {} has shape {}, expected {}{}",
              files_[loc.file].path(), e.name, shape_to_string(e.shape), shape_to_string(expect),
              why.empty() ? "" : " (" + why + ")");
}

// ---- reads ------------------------------------------------------------------------------------

void Checkpoint::read(const std::string& name, DType dst_dtype, void* dst,
                      const std::vector<int64_t>& expect_shape, const std::string& why) const {
  if (!expect_shape.empty()) check_shape(name, expect_shape, why);
  const Location& loc = locate(name);
  const SafetensorsEntry& e = entry(loc);
  files_[loc.file].read_elements(e, 0, e.numel(), dst_dtype, dst);
}

void Checkpoint::read_rows(const std::string& name, int64_t row0, int64_t n_rows, DType dst_dtype,
                           void* dst) const {
  const Location& loc = locate(name);
  const SafetensorsEntry& e = entry(loc);
  const SafetensorsFile& f = files_[loc.file];
  BLOOM_CHECK(!e.shape.empty(), "{}: tensor {} is a scalar: it has no rows", f.path(), e.name);
  BLOOM_CHECK(row0 >= 0 && n_rows >= 0 && row0 <= e.shape[0] && n_rows <= e.shape[0] - row0,
              "{}: tensor {} has shape {}: rows [{}, {}) are out of range", f.path(), e.name,
              shape_to_string(e.shape), row0, row0 + n_rows);
  const int64_t row_elems = e.shape[0] == 0 ? 0 : e.numel() / e.shape[0];
  f.read_elements(e, row0 * row_elems, n_rows * row_elems, dst_dtype, dst);
}

void Checkpoint::read_cols(const std::string& name, int64_t col0, int64_t n_cols, DType dst_dtype,
                           void* dst) const {
  const Location& loc = locate(name);
  const SafetensorsEntry& e = entry(loc);
  const SafetensorsFile& f = files_[loc.file];
  BLOOM_CHECK(e.shape.size() == 2, "{}: tensor {} has shape {}: read_cols needs a 2-D tensor",
              f.path(), e.name, shape_to_string(e.shape));
  const int64_t rows = e.shape[0];
  const int64_t cols = e.shape[1];
  BLOOM_CHECK(col0 >= 0 && n_cols >= 0 && col0 <= cols && n_cols <= cols - col0,
              "{}: tensor {} has shape {}: columns [{}, {}) are out of range", f.path(), e.name,
              shape_to_string(e.shape), col0, col0 + n_cols);
  if (n_cols == cols) {  // the whole tensor: one block
    f.read_elements(e, 0, e.numel(), dst_dtype, dst);
    return;
  }
  uint8_t* out = static_cast<uint8_t*>(dst);
  const size_t out_row_bytes = static_cast<size_t>(n_cols) * dtype_size(dst_dtype);
  for (int64_t r = 0; r < rows; ++r)
    f.read_elements(e, r * cols + col0, n_cols, dst_dtype, out + r * out_row_bytes);
}

}  // namespace bloom::io

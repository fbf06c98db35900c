// config.json / config.ini -> BloomConfig, model.path -> ModelLocation, and the TP plan.
// config.json: the key spellings of HF's BloomConfig and of the original bigscience files
// (n_embed, num_attention_heads, num_hidden_layers; dtype or torch_dtype).
// config.ini: what FasterTransformer's huggingface_bloom_convert.py writes in [gpt]: num_layer,
// head_num, size_per_head, inter_size (= 4 x hidden), vocab_size, tensor_para_size,
// weight_data_type (fp32 | fp16; bf16 read too), layernorm_eps, model_variant (bloom-pre |
// bloom-post: the residual source).
#include "engine/bloom_config.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <regex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/check.h"
#include "engine/bloom_params.h"
#include "io/checkpoint.h"
#include "io/ini_file.h"

namespace bloom {

namespace fs = std::filesystem;

namespace {

int64_t get_int(const nlohmann::json& j, const std::string& path,
                std::initializer_list<const char*> keys) {
  for (const char* k : keys) {
    if (!j.contains(k)) continue;
    BLOOM_CHECK(j[k].is_number_integer(), "{}: key '{}' must be an integer, got {}", path, k,
                j[k].dump());
    return j[k].get<int64_t>();
  }
  BLOOM_FAIL("{}: missing key '{}'", path, *keys.begin());
}

bool get_bool(const nlohmann::json& j, const std::string& path, const char* key, bool dflt) {
  if (!j.contains(key)) return dflt;
  BLOOM_CHECK(j[key].is_boolean(), "{}: key '{}' must be true or false, got {}", path, key,
              j[key].dump());
  return j[key].get<bool>();
}

// The sizes every config must get right, whichever file they came from.
void check_sizes(const BloomConfig& c, const std::string& path, const char* names) {
  BLOOM_CHECK(c.hidden > 0 && c.n_head > 0 && c.n_layer > 0 && c.vocab > 0,
              "{}: {} must be positive", path, names);
  BLOOM_CHECK(c.hidden % c.n_head == 0, "{}: hidden size {} is not a multiple of the {} heads",
              path, c.hidden, c.n_head);
  BLOOM_CHECK(c.eps > 0.0f, "{}: the layer-norm epsilon must be > 0", path);
}

const std::regex kFtFolder(R"(\d+-gpu)");

// The `<N>-gpu` folders inside `dir` that hold a config.ini.
std::vector<std::string> ft_folders(const std::string& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    if (e.is_directory() && std::regex_match(name, kFtFolder) &&
        fs::exists(e.path() / "config.ini"))
      out.push_back(name);
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

int64_t BloomConfig::body_params() const { return count_params(*this, ParamSet::Body); }
int64_t BloomConfig::total_params() const { return count_params(*this, ParamSet::All); }

BloomConfig BloomConfig::from_file(const std::string& path) {
  std::ifstream in(path);
  BLOOM_CHECK(in.good(), "cannot open model config '{}' (is model.path a HF BLOOM folder?)", path);
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(in);
  } catch (const std::exception& e) {
    BLOOM_FAIL("{}: not valid JSON: {}", path, e.what());
  }
  BLOOM_CHECK(j.is_object(), "{}: expected a JSON object", path);
  if (j.contains("model_type")) {
    BLOOM_CHECK(j["model_type"] == "bloom", "{}: model_type is {}, only bloom is supported", path,
                j["model_type"].dump());
  }
  BloomConfig c;
  c.source = path;
  c.hidden = get_int(j, path, {"hidden_size", "n_embed"});
  c.n_head = get_int(j, path, {"n_head", "num_attention_heads"});
  c.n_layer = get_int(j, path, {"n_layer", "num_hidden_layers"});
  c.vocab = get_int(j, path, {"vocab_size"});
  if (j.contains("layer_norm_epsilon")) {
    BLOOM_CHECK(j["layer_norm_epsilon"].is_number(), "{}: layer_norm_epsilon must be a number", path);
    c.eps = j["layer_norm_epsilon"].get<float>();
  }
  c.residual_post_layernorm = get_bool(j, path, "apply_residual_connection_post_layernorm", false);
  c.tie_word_embeddings = get_bool(j, path, "tie_word_embeddings", true);
  if (j.contains("pad_token_id") && j["pad_token_id"].is_number_integer())
    c.pad_id = j["pad_token_id"].get<int32_t>();
  for (const char* k : {"dtype", "torch_dtype"})
    if (c.stored_dtype.empty() && j.contains(k) && j[k].is_string()) c.stored_dtype = j[k];
  if (j.contains("slow_but_exact") && j["slow_but_exact"].is_boolean() &&
      j["slow_but_exact"].get<bool>() && j.value("pretraining_tp", 1) > 1) {
    BLOOM_FAIL("{}: slow_but_exact with pretraining_tp > 1 is not supported", path);
  }
  check_sizes(c, path, "hidden_size, n_head, n_layer and vocab_size");
  return c;
}

BloomConfig BloomConfig::from_ft_ini(const std::string& path) {
  const io::IniFile ini = io::IniFile::read(path);
  const char* s = "gpt";
  BLOOM_CHECK(ini.has_section(s),
              "{}: no [gpt] section (FasterTransformer's converter writes BLOOM's settings there)",
              path);
  BloomConfig c;
  c.source = path;
  c.n_layer = ini.get_int(s, "num_layer");
  c.n_head = ini.get_int(s, "head_num");
  c.hidden = c.n_head * ini.get_int(s, "size_per_head");
  c.vocab = ini.get_int(s, "vocab_size");
  if (ini.find(s, "layernorm_eps")) c.eps = static_cast<float>(ini.get_double(s, "layernorm_eps"));
  const std::string variant = ini.find(s, "model_variant") ? ini.get(s, "model_variant") : "bloom-pre";
  BLOOM_CHECK(variant == "bloom-pre" || variant == "bloom-post",
              "{}: [gpt] model_variant is '{}': not a BLOOM folder (expected bloom-pre or "
              "bloom-post)", ini.where(s, "model_variant"), variant);
  c.residual_post_layernorm = variant == "bloom-post";
  const std::string wdt = ini.get(s, "weight_data_type");
  if (wdt == "fp32") {
    c.ft_dtype = DType::F32;
  } else if (wdt == "fp16") {
    c.ft_dtype = DType::F16;
  } else if (wdt == "bf16") {
    c.ft_dtype = DType::BF16;
  } else {
    BLOOM_FAIL("{}: [gpt] weight_data_type '{}' is not one of fp32, fp16, bf16 (the files have no "
               "header, so their dtype must be known)", ini.where(s, "weight_data_type"), wdt);
  }
  c.stored_dtype = wdt;
  c.ft_tensor_para_size = ini.get_int(s, "tensor_para_size");
  check_sizes(c, path, "num_layer, head_num, size_per_head and vocab_size");
  const int64_t inter = ini.get_int(s, "inter_size");
  BLOOM_CHECK(inter == 4 * c.hidden, "{}: [gpt] inter_size is {}, but BLOOM's MLP is 4 x hidden = {}",
              ini.where(s, "inter_size"), inter, 4 * c.hidden);
  const int64_t tp = c.ft_tensor_para_size;
  BLOOM_CHECK(tp >= 1 && c.n_head % tp == 0,
              "{}: [gpt] tensor_para_size {} does not divide head_num {}",
              ini.where(s, "tensor_para_size"), tp, c.n_head);
  return c;
}

ModelFormat parse_model_format(const std::string& s) {
  if (s == "auto") return ModelFormat::Auto;
  if (s == "safetensors") return ModelFormat::Safetensors;
  if (s == "bin") return ModelFormat::Bin;
  if (s == "ft") return ModelFormat::Ft;
  BLOOM_FAIL("model.format must be one of auto, safetensors, bin, ft, got '{}'", s);
}

const char* model_format_name(ModelFormat f) {
  switch (f) {
    case ModelFormat::Auto: return "auto";
    case ModelFormat::Safetensors: return "safetensors";
    case ModelFormat::Bin: return "bin";
    case ModelFormat::Ft: return "ft";
  }
  return "?";
}

ModelLocation locate_model(const std::string& path, ModelFormat format) {
  BLOOM_CHECK(fs::is_directory(path), "model.path '{}' is not a folder", path);
  const bool st = io::Checkpoint::has_safetensors(path), bin = io::Checkpoint::has_bin(path);
  const std::string json = (fs::path(path) / "config.json").string();
  if (format == ModelFormat::Safetensors || (format == ModelFormat::Auto && st)) {
    BLOOM_CHECK(st, "{}: model.format is safetensors but there is no model.safetensors or "
                "model.safetensors.index.json", path);
    return {ModelFormat::Safetensors, path, json};
  }
  if (format == ModelFormat::Bin || (format == ModelFormat::Auto && bin)) {
    BLOOM_CHECK(bin, "{}: model.format is bin but there is no pytorch_model.bin or "
                "pytorch_model.bin.index.json", path);
    return {ModelFormat::Bin, path, json};
  }
  const std::string ini = (fs::path(path) / "config.ini").string();
  if (fs::exists(ini)) return {ModelFormat::Ft, path, ini};
  const std::vector<std::string> inner = ft_folders(path);
  if (inner.size() == 1) {
    const std::string dir = (fs::path(path) / inner[0]).string();
    return {ModelFormat::Ft, dir, (fs::path(dir) / "config.ini").string()};
  }
  if (inner.size() > 1) {
    std::string list;
    for (const std::string& n : inner) list += (list.empty() ? "" : ", ") + n;
    BLOOM_FAIL("{}: holds {} FasterTransformer folders ({}): set model.path to the one to read",
               path, inner.size(), list);
  }
  BLOOM_CHECK(format == ModelFormat::Auto,
              "{}: model.format is ft but there is no config.ini here, nor one <N>-gpu folder "
              "holding one (FasterTransformer's converter writes <out>/<N>-gpu/config.ini)", path);
  BLOOM_FAIL("{}: no model.safetensors or model.safetensors.index.json (safetensors), no "
             "pytorch_model.bin or pytorch_model.bin.index.json (PyTorch), and no config.ini or "
             "<N>-gpu/config.ini (FasterTransformer)", path);
}

BloomConfig read_model_config(const ModelLocation& loc) {
  return loc.format == ModelFormat::Ft ? BloomConfig::from_ft_ini(loc.config)
                                       : BloomConfig::from_file(loc.config);
}

TpPlan TpPlan::make(const BloomConfig& c, int rank, int size) {
  BLOOM_CHECK(size >= 1 && rank >= 0 && rank < size, "tp rank {} of {}", rank, size);
  if (c.n_head % size != 0) {
    std::vector<std::string> fit;
    for (int64_t t = 1; t <= c.n_head; ++t)
      if (c.n_head % t == 0) fit.push_back(std::to_string(t));
    std::string list;
    for (size_t i = 0; i < fit.size(); ++i) list += (i ? ", " : "") + fit[i];
    BLOOM_FAIL("parallelism.tp = {} does not divide the model's {} attention heads; tp must be "
               "one of {}", size, c.n_head, list);
  }
  TpPlan p;
  p.rank = rank;
  p.size = size;
  p.n_head_local = c.n_head / size;
  p.head_offset = rank * p.n_head_local;
  p.ffn_local = 4 * c.hidden / size;
  p.ffn_offset = rank * p.ffn_local;
  const int64_t per = (c.vocab + size - 1) / size;
  p.vocab_offset = std::min<int64_t>(rank * per, c.vocab);
  p.vocab_local = std::min<int64_t>(per, c.vocab - p.vocab_offset);
  BLOOM_CHECK(p.vocab_local > 0, "vocab {} too small for tp {}", c.vocab, size);
  return p;
}

}  // namespace bloom

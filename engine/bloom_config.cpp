// config.json -> BloomConfig. Accepts the key spellings of HF's BloomConfig and of the original
// bigscience files (n_embed, num_attention_heads, num_hidden_layers).
#include "engine/bloom_config.h"

#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/check.h"

namespace bloom {

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

}  // namespace

int64_t BloomConfig::body_params() const {
  const int64_t H = hidden;
  const int64_t per_layer = (3 * H * H + 3 * H) + (H * H + H) + (4 * H * H + 4 * H) +
                            (4 * H * H + H) + 4 * H;  // qkv, dense, h->4h, 4h->h, two norms
  return n_layer * per_layer + 2 * H /* ln_f */;
}

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
  c.hidden = get_int(j, path, {"hidden_size", "n_embed"});
  c.n_head = get_int(j, path, {"n_head", "num_attention_heads"});
  c.n_layer = get_int(j, path, {"n_layer", "num_hidden_layers"});
  c.vocab = get_int(j, path, {"vocab_size"});
  if (j.contains("layer_norm_epsilon")) {
    BLOOM_CHECK(j["layer_norm_epsilon"].is_number(), "{}: layer_norm_epsilon must be a number", path);
    c.eps = j["layer_norm_epsilon"].get<float>();
  }
  if (j.contains("apply_residual_connection_post_layernorm"))
    c.residual_post_layernorm = j["apply_residual_connection_post_layernorm"].get<bool>();
  if (j.contains("pad_token_id") && j["pad_token_id"].is_number_integer())
    c.pad_id = j["pad_token_id"].get<int32_t>();
  if (j.contains("slow_but_exact") && j["slow_but_exact"].is_boolean() &&
      j["slow_but_exact"].get<bool>() && j.value("pretraining_tp", 1) > 1) {
    BLOOM_FAIL("{}: slow_but_exact with pretraining_tp > 1 is not supported", path);
  }
  BLOOM_CHECK(c.hidden > 0 && c.n_head > 0 && c.n_layer > 0 && c.vocab > 0,
              "{}: hidden_size, n_head, n_layer and vocab_size must be positive", path);
  BLOOM_CHECK(c.hidden % c.n_head == 0, "{}: hidden_size {} is not a multiple of n_head {}", path,
              c.hidden, c.n_head);
  BLOOM_CHECK(c.eps > 0.0f, "{}: layer_norm_epsilon must be > 0", path);
  return c;
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

// make_model: random BLOOM checkpoints in HF's own layout (see make_model.h).
//
// Values: element i of tensor T is f(SplitMix64(key(seed, T) + i)), where f maps the 64 random
// bits to an approximate standard normal (Irwin-Hall sum of four 16-bit uniforms, rescaled to unit
// variance: bounded at +-3.46 sigma, plenty for random weights, and ~10x cheaper than Box-Muller).
// Matrices ~ N(0, 0.02), layer-norm weights ~ 1 + N(0, 0.1), biases ~ N(0, 0.02).
// Tensors are generated in chunks by all threads and streamed to disk, so memory stays small
// whatever the model size. Files carry HF's `transformer.` prefix and HF's shard naming.
#include "runner/tools/make_model.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <thread>

#include "core/check.h"
#include "core/tensor.h"
#include "engine/bloom_params.h"
#include "io/safetensors.h"

namespace bloom {

namespace fs = std::filesystem;

namespace {

struct ModelShape {
  int n_layer, hidden, n_head, vocab;
};

struct Preset {
  const char* name;
  ModelShape shape;
};

// The released BLOOM family (HF configs) plus a tiny one matching tests/data/tiny-bloom.
const Preset kPresets[] = {
    {"tiny", {3, 96, 6, 3000}},
    {"bloom-560m", {24, 1024, 16, 250880}},
    {"bloom-1b1", {24, 1536, 16, 250880}},
    {"bloom-1b7", {24, 2048, 16, 250880}},
    {"bloom-3b", {30, 2560, 32, 250880}},
    {"bloom-7b1", {30, 4096, 32, 250880}},
    {"bloom", {70, 14336, 112, 250880}},
};

constexpr uint64_t kGolden = 0x9e3779b97f4a7c15ull;
constexpr int64_t kGenBlock = 1 << 14;  // floats generated per conversion block (64 KiB)

// SplitMix64's output function: a bijective 64-bit mixer.
inline uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

uint64_t fnv1a(const std::string& s) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ull;
  return h;
}

struct Normal {
  float mean;
  float std;
};

struct ParamSpec {
  std::string name;  // canonical (no prefix)
  std::vector<int64_t> shape;
  Normal init;
  uint64_t key;  // random stream of this tensor
};

// Elements [elem0, elem0 + n) of the stream `key`, as floats.
void generate(uint64_t key, Normal init, int64_t elem0, int64_t n, float* out) {
  // Four 16-bit uniforms sum to mean 131070 and std 65536 / sqrt(3).
  const float scale = init.std * static_cast<float>(std::sqrt(3.0) / 65536.0);
  uint64_t z = key + static_cast<uint64_t>(elem0) * kGolden;
  for (int64_t i = 0; i < n; ++i) {
    z += kGolden;
    const uint64_t r = mix64(z);
    const int32_t s = static_cast<int32_t>((r & 0xffff) + ((r >> 16) & 0xffff) +
                                           ((r >> 32) & 0xffff) + (r >> 48));
    out[i] = init.mean + scale * static_cast<float>(s - 131070);
  }
}

// Fills dst (n elements of dtype) with elements [elem0, elem0 + n) of `p`, using `threads` threads.
void fill_parallel(const ParamSpec& p, DType dtype, int threads, int64_t elem0, int64_t n,
                   void* dst) {
  const size_t es = dtype_size(dtype);
  auto work = [&](int64_t begin, int64_t end) {
    std::vector<float> block(dtype == DType::F32 ? 0 : kGenBlock);
    for (int64_t i = begin; i < end; i += kGenBlock) {
      const int64_t m = std::min(kGenBlock, end - i);
      uint8_t* out = static_cast<uint8_t*>(dst) + static_cast<size_t>(i) * es;
      if (dtype == DType::F32) {
        generate(p.key, p.init, elem0 + i, m, reinterpret_cast<float*>(out));
      } else {
        generate(p.key, p.init, elem0 + i, m, block.data());
        convert_host(block.data(), DType::F32, out, dtype, static_cast<size_t>(m));
      }
    }
  };
  const int64_t per_thread = (n + threads - 1) / threads;
  if (threads <= 1 || n < 4 * kGenBlock) {
    work(0, n);
    return;
  }
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    const int64_t begin = std::min(n, t * per_thread);
    const int64_t end = std::min(n, begin + per_thread);
    if (begin < end) pool.emplace_back(work, begin, end);
  }
  for (auto& th : pool) th.join();
}

ModelShape resolve_shape(const MakeModelOptions& o) {
  const Preset* preset = nullptr;
  for (const Preset& p : kPresets)
    if (o.like == p.name) preset = &p;
  if (!preset) {
    std::string names;
    for (const Preset& p : kPresets) names += std::string(names.empty() ? "" : ", ") + p.name;
    BLOOM_FAIL("make-model: unknown preset '{}' (known: {})", o.like, names);
  }
  ModelShape s = preset->shape;
  if (o.n_layer) s.n_layer = o.n_layer;
  if (o.hidden) s.hidden = o.hidden;
  if (o.n_head) s.n_head = o.n_head;
  if (o.vocab) s.vocab = o.vocab;
  BLOOM_CHECK(s.n_layer > 0 && s.hidden > 0 && s.n_head > 0,
              "make-model: n_layer {}, hidden {}, n_head {} must be positive", s.n_layer, s.hidden,
              s.n_head);
  BLOOM_CHECK(s.hidden % s.n_head == 0, "make-model: hidden {} is not a multiple of n_head {}",
              s.hidden, s.n_head);
  BLOOM_CHECK(s.vocab >= 4, "make-model: vocab {} must hold the 4 special tokens", s.vocab);
  return s;
}

// All parameters in HF's state_dict order, from the parameter table.
std::vector<ParamSpec> param_specs(const ModelShape& s, uint64_t seed) {
  BloomConfig c;
  c.n_layer = s.n_layer;
  c.hidden = s.hidden;
  c.n_head = s.n_head;
  c.vocab = s.vocab;
  std::vector<ParamSpec> specs;
  for (const ParamRef& p : bloom_params(c)) {
    const Normal init = p.desc->init == Init::LnWeight ? Normal{1.0f, 0.1f}   // 1 + N(0, .1)
                                                       : Normal{0.0f, 0.02f};  // N(0, .02)
    std::string name = hf_name(p);
    const uint64_t key = mix64(mix64(seed) ^ fnv1a(name));
    specs.push_back({std::move(name), full_shape(p, c), init, key});
  }
  return specs;
}

int64_t numel_of(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

// HF's greedy split: start a new shard when the next tensor would overflow this one; a tensor
// bigger than the limit gets a shard of its own. Returns [first, last) index ranges.
std::vector<std::pair<size_t, size_t>> plan_shards(const std::vector<ParamSpec>& specs,
                                                   size_t elem_size, int64_t max_bytes) {
  std::vector<std::pair<size_t, size_t>> shards;
  size_t first = 0;
  int64_t bytes = 0;
  for (size_t i = 0; i < specs.size(); ++i) {
    const int64_t b = numel_of(specs[i].shape) * static_cast<int64_t>(elem_size);
    if (i > first && bytes + b > max_bytes) {
      shards.push_back({first, i});
      first = i;
      bytes = 0;
    }
    bytes += b;
  }
  shards.push_back({first, specs.size()});
  return shards;
}

const char* hf_dtype_name(DType t) {
  switch (t) {
    case DType::F32: return "float32";
    case DType::F16: return "float16";
    case DType::BF16: return "bfloat16";
    default: BLOOM_FAIL("make-model: dtype {} is not a weight dtype", dtype_name(t));
  }
}

void write_json(const std::string& path, const nlohmann::ordered_json& j) {
  std::ofstream out(path);
  out << j.dump(2) << "\n";
  BLOOM_CHECK(out.good(), "{}: write failed", path);
}

nlohmann::ordered_json config_json(const ModelShape& s, DType dtype, const MakeModelOptions& o) {
  nlohmann::ordered_json c;
  c["apply_residual_connection_post_layernorm"] = false;
  c["architectures"] = {"BloomForCausalLM"};
  c["attention_dropout"] = 0.0;
  c["bos_token_id"] = 1;
  c["dtype"] = hf_dtype_name(dtype);
  c["eos_token_id"] = 2;
  c["hidden_dropout"] = 0.0;
  c["hidden_size"] = s.hidden;
  c["initializer_range"] = 0.02;
  c["layer_norm_epsilon"] = 1e-5;
  c["model_type"] = "bloom";
  c["n_head"] = s.n_head;
  c["n_layer"] = s.n_layer;
  c["pad_token_id"] = 3;
  c["pretraining_tp"] = 1;
  c["slow_but_exact"] = false;
  c["tie_word_embeddings"] = true;
  c["unk_token_id"] = 0;
  c["use_cache"] = true;
  c["vocab_size"] = s.vocab;
  c["bloom_eval_make_model"] = {{"like", o.like}, {"seed", o.seed}};  // provenance
  return c;
}

// Removes checkpoint files a previous run may have left, so the folder holds exactly one model.
void remove_stale_checkpoint(const fs::path& dir) {
  static const std::regex stale(
      R"re((model\.safetensors(\.index\.json)?|model-\d+-of-\d+\.safetensors)(\.tmp)?)re");
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (e.is_regular_file() && std::regex_match(name, stale)) {
      spdlog::info("make-model: removing stale {}", e.path().string());
      fs::remove(e.path());
    }
  }
}

}  // namespace

std::vector<std::string> make_model_presets() {
  std::vector<std::string> out;
  for (const Preset& p : kPresets) out.push_back(p.name);
  return out;
}

int64_t parse_byte_size(const std::string& s) {
  static const std::regex re(R"(\s*([0-9]+(?:\.[0-9]*)?)\s*([kKmMgGtT]i?[bB]|[bB])?\s*)");
  std::smatch m;
  BLOOM_CHECK(std::regex_match(s, m, re), "invalid size '{}' (examples: 5GB, 500MB, 2GiB, 1000)",
              s);
  const double value = std::stod(m[1].str());
  std::string unit = m[2].str();
  double mult = 1;
  if (!unit.empty() && unit != "b" && unit != "B") {
    const bool binary = unit.size() == 3;
    const int power = std::string("kmgt").find(static_cast<char>(std::tolower(unit[0]))) + 1;
    mult = std::pow(binary ? 1024.0 : 1000.0, power);
  }
  const double bytes = value * mult;
  BLOOM_CHECK(bytes >= 1 && bytes < 9e18, "size '{}' is out of range", s);
  return static_cast<int64_t>(bytes);
}

MakeModelResult make_model(const MakeModelOptions& o) {
  const auto t0 = std::chrono::steady_clock::now();
  const ModelShape shape = resolve_shape(o);
  const DType dtype = parse_dtype(o.dtype);
  hf_dtype_name(dtype);  // rejects i32
  BLOOM_CHECK(!o.out.empty(), "make-model: no output folder given");
  BLOOM_CHECK(o.max_shard_bytes > 0, "make-model: max shard size must be positive");
  BLOOM_CHECK(o.tokenizer.empty() || fs::is_regular_file(o.tokenizer),
              "make-model: tokenizer file {} does not exist", o.tokenizer);
  const int threads = o.threads > 0
                          ? o.threads
                          : std::max(1, static_cast<int>(std::thread::hardware_concurrency()));

  const fs::path out(o.out);
  fs::create_directories(out);
  remove_stale_checkpoint(out);

  const std::vector<ParamSpec> specs = param_specs(shape, o.seed);
  const size_t es = dtype_size(dtype);
  MakeModelResult result;
  for (const ParamSpec& p : specs) result.n_params += numel_of(p.shape);
  result.weight_bytes = result.n_params * static_cast<int64_t>(es);
  spdlog::info(
      "make-model: {} (n_layer {}, hidden {}, n_head {}, vocab {}), {}, {:.1f} M params, "
      "{:.3f} GB, seed {} -> {}",
      o.like, shape.n_layer, shape.hidden, shape.n_head, shape.vocab, dtype_name(dtype),
      result.n_params / 1e6, result.weight_bytes / 1e9, o.seed, out.string());

  write_json((out / "config.json").string(), config_json(shape, dtype, o));
  result.files.push_back((out / "config.json").string());

  const auto shards = plan_shards(specs, es, o.max_shard_bytes);
  std::map<std::string, std::string> weight_map;  // sorted, as HF writes it
  for (size_t s = 0; s < shards.size(); ++s) {
    const std::string file = shards.size() == 1 ? "model.safetensors"
                                                : fmt::format("model-{:05d}-of-{:05d}.safetensors",
                                                              s + 1, shards.size());
    std::vector<io::TensorToWrite> tensors;
    int64_t shard_bytes = 0;
    for (size_t i = shards[s].first; i < shards[s].second; ++i) {
      const ParamSpec& p = specs[i];
      io::TensorToWrite t;
      t.name = kHfPrefix + p.name;
      t.dtype = dtype;
      t.shape = p.shape;
      t.fill = [&p, dtype, threads](int64_t elem0, int64_t n, void* dst) {
        fill_parallel(p, dtype, threads, elem0, n, dst);
      };
      shard_bytes += static_cast<int64_t>(t.nbytes());
      weight_map[t.name] = file;
      tensors.push_back(std::move(t));
    }
    const auto ts = std::chrono::steady_clock::now();
    io::write_safetensors((out / file).string(), tensors);
    const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - ts).count();
    spdlog::info("make-model: wrote {} ({:.3f} GB, {} tensors, {:.1f} s, {:.2f} GB/s)", file,
                 shard_bytes / 1e9, tensors.size(), sec, shard_bytes / 1e9 / std::max(sec, 1e-9));
    result.files.push_back((out / file).string());
  }
  if (shards.size() > 1) {
    nlohmann::ordered_json index;
    index["metadata"] = {{"total_parameters", result.n_params},
                         {"total_size", result.weight_bytes}};
    index["weight_map"] = weight_map;
    write_json((out / "model.safetensors.index.json").string(), index);
    result.files.push_back((out / "model.safetensors.index.json").string());
  }
  if (!o.tokenizer.empty()) {
    fs::copy_file(o.tokenizer, out / "tokenizer.json", fs::copy_options::overwrite_existing);
    result.files.push_back((out / "tokenizer.json").string());
  }
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return result;
}

int make_model_main(const MakeModelOptions& o) {
  const MakeModelResult r = make_model(o);
  spdlog::info("make-model: done: {} files, {:.2f} GB in {:.1f} s ({:.2f} GB/s)", r.files.size(),
               r.weight_bytes / 1e9, r.seconds, r.weight_bytes / 1e9 / std::max(r.seconds, 1e-9));
  return 0;
}

}  // namespace bloom

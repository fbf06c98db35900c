// `runner make-model`: writes a random BLOOM checkpoint that HF transformers loads as-is
// (config.json + model.safetensors, or HF-style shards + model.safetensors.index.json), shaped
// like a released BLOOM or overridden. Used for tests and for benchmarks of sizes we have no
// weights for. Values are a pure function of (seed, tensor name, element index), so they do not
// depend on the thread count, the shard size or the dtype (fp16/bf16 are the fp32 values rounded).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace bloom {

struct MakeModelOptions {
  std::string like =
      "tiny";       // preset: tiny, bloom-560m, bloom-1b1, bloom-1b7, bloom-3b, bloom-7b1, bloom
  int n_layer = 0;  // 0: the preset's value
  int hidden = 0;   // 0: the preset's value
  int n_head = 0;   // 0: the preset's value
  int vocab = 0;    // 0: the preset's value
  std::string dtype = "fp16";  // fp32 | fp16 | bf16 (also float32, float16, bfloat16)
  std::string out;             // output folder, created if missing
  std::string tokenizer;       // optional tokenizer.json to copy in; empty: none
  uint64_t seed = 0;
  int64_t max_shard_bytes = 5'000'000'000;  // HF's default "5GB" (decimal); larger models shard
  int threads = 0;                          // 0: all hardware threads
};

/// What make_model wrote.
struct MakeModelResult {
  std::vector<std::string> files;  // config.json, the safetensors files, the index, tokenizer.json
  int64_t n_params = 0;
  int64_t weight_bytes = 0;
  double seconds = 0;
};

/// Preset names, in size order.
std::vector<std::string> make_model_presets();

/// Parses "5GB", "500MB", "1.5GiB", "64KiB", "1000" (bytes; kB/MB/GB/TB are decimal like HF's
/// max_shard_size, KiB/MiB/GiB/TiB binary). Throws bloom::Error on anything else.
int64_t parse_byte_size(const std::string& s);

/// Writes the checkpoint; throws bloom::Error on bad options or I/O failure. Removes stale
/// model*.safetensors / index files from `out` first so the folder is never a mix of two runs.
MakeModelResult make_model(const MakeModelOptions& o);

/// make_model + a summary log line; returns the process exit code (0). For the CLI subcommand.
int make_model_main(const MakeModelOptions& o);

}  // namespace bloom

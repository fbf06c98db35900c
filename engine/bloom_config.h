// BloomConfig: the model hyper-parameters, read from HF's config.json or FasterTransformer's
// config.ini; ModelLocation: what model.path names (format, folder, config file); TpPlan: what
// one tensor-parallel rank owns (heads, MLP columns, vocab rows).
// Dimension vocabulary used across engine/: T tokens (packed), B sequences, H hidden, NH heads,
// HD head dim, V vocab, L layers, R scored rows; `_local` = this TP rank's share.
#pragma once

#include <cstdint>
#include <string>

#include "core/tensor.h"

namespace bloom {

struct BloomConfig {
  int64_t hidden = 0;   // H
  int64_t n_head = 0;   // NH
  int64_t n_layer = 0;  // L
  int64_t vocab = 0;    // V (embedding rows, padded vocab included)
  float eps = 1e-5f;
  bool residual_post_layernorm = false;  // apply_residual_connection_post_layernorm
  bool tie_word_embeddings = true;       // false: lm_head.weight is a parameter of its own
  int32_t pad_id = 3;
  std::string source;        // the file read, for messages ("config.json", "config.ini")
  std::string stored_dtype;  // what it says the weights are stored as ("float16"; "" unsaid)
  // FasterTransformer folders: the weights' dtype (the files have no header) and how many rank
  // files each split tensor comes in (the converter's -tp; any tp dividing NH can read them).
  DType ft_dtype = DType::F32;
  int64_t ft_tensor_para_size = 0;

  int64_t head_dim() const { return hidden / n_head; }
  /// Parameters of the transformer body (everything but the embedding and an untied lm_head),
  /// for FLOP counts; and every stored parameter. Both counted from engine/bloom_params.h.
  int64_t body_params() const;
  int64_t total_params() const;
  /// Reads and validates config.json; errors name the file and the key.
  static BloomConfig from_file(const std::string& path);
  /// Reads and validates FT's config.ini ([gpt] section); errors name the file, line and key.
  static BloomConfig from_ft_ini(const std::string& path);
};

/// model.format: auto | safetensors | bin | ft.
enum class ModelFormat { Auto, Safetensors, Bin, Ft };
ModelFormat parse_model_format(const std::string& s);
const char* model_format_name(ModelFormat f);  // "auto", "safetensors", "bin", "ft"

/// What model.path names, resolved: never Auto.
struct ModelLocation {
  ModelFormat format = ModelFormat::Safetensors;
  std::string dir;     // the folder holding the weights (an FT folder: the N-gpu one)
  std::string config;  // config.json or config.ini inside it
};

/// Resolves model.path. auto: safetensors, else .bin (in one HF folder safetensors wins, as HF
/// does), else a FasterTransformer folder: `path` itself with config.ini, or the converter's
/// output folder holding exactly one `<N>-gpu` folder. An explicit format must be there.
ModelLocation locate_model(const std::string& path, ModelFormat format = ModelFormat::Auto);
/// Reads the located model's config file.
BloomConfig read_model_config(const ModelLocation& loc);

struct TpPlan {
  int rank = 0, size = 1;
  int64_t n_head_local = 0, head_offset = 0;  // heads [head_offset, head_offset + n_head_local)
  int64_t ffn_local = 0, ffn_offset = 0;      // columns of the 4H MLP
  int64_t vocab_local = 0, vocab_offset = 0;  // embedding / lm_head rows

  /// Checks n_head % size == 0 (error says which tp sizes fit) and splits the vocab in
  /// ceil(V / size) rows per rank (the last rank may hold fewer).
  static TpPlan make(const BloomConfig& c, int rank, int size);
};

}  // namespace bloom

// BloomConfig: the model hyper-parameters read from HF's config.json, and TpPlan: what one
// tensor-parallel rank owns (heads, MLP columns, vocab rows).
// Dimension vocabulary used across engine/: T tokens (packed), B sequences, H hidden, NH heads,
// HD head dim, V vocab, L layers, R scored rows; `_local` = this TP rank's share.
#pragma once

#include <cstdint>
#include <string>

namespace bloom {

struct BloomConfig {
  int64_t hidden = 0;   // H
  int64_t n_head = 0;   // NH
  int64_t n_layer = 0;  // L
  int64_t vocab = 0;    // V (embedding rows, padded vocab included)
  float eps = 1e-5f;
  bool residual_post_layernorm = false;  // apply_residual_connection_post_layernorm
  int32_t pad_id = 3;

  int64_t head_dim() const { return hidden / n_head; }
  /// Parameters of the transformer body (everything but the embedding), for FLOP counts.
  int64_t body_params() const;
  /// Reads and validates config.json; errors name the file and the key.
  static BloomConfig from_file(const std::string& path);
};

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

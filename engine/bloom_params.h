// The BLOOM parameter table: everything the code knows about BLOOM's parameters, written once.
// Each row says a parameter's role, its HF name, its FasterTransformer file name, its shape from
// the config (HF's [out, in] layout), how tensor parallelism splits it, how FT's converter
// stores it, how make-model fills it and where BloomWeights keeps it. Loading (all three
// formats), make-model, `runner inspect` and the parameter counts read this table; nothing else
// spells a parameter name.
//
// FT layouts (huggingface_bloom_convert.py): 2-D weights transposed to [in, out]; QKV's rows,
// HF's per-head interleave [NH, 3, HD], reordered to [H, 3, NH*HD] (bias [3, NH*HD]) and split
// on the last axis; dense and 4h->h split on axis 0, h->4h on the last axis; wte not transposed;
// no lm_head (tied). Files: model.<ft name>.bin, or model.<ft name>.<rank>.bin when split.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/bloom_config.h"
#include "engine/bloom_weights.h"

namespace bloom {

/// The prefix BloomForCausalLM puts before the transformer's names (absent in bigscience's own
/// files; lm_head.weight never has it).
inline constexpr const char* kHfPrefix = "transformer.";

/// How tensor parallelism splits a parameter (see TpPlan): which dim of the HF shape and which
/// range of it a rank owns.
enum class TpSplit {
  Replicated,   // every rank holds all of it
  VocabRows,    // rows [vocab_offset, +vocab_local): the embedding, an untied lm_head
  HeadRows,     // rows of heads [head_offset, +n_head_local) of the [NH, 3, HD] interleave: QKV
  HeadColumns,  // columns of those heads: dense (row-parallel)
  FfnRows,      // rows [ffn_offset, +ffn_local): h->4h (column-parallel)
  FfnColumns,   // columns [ffn_offset, +ffn_local): 4h->h (row-parallel)
};

enum class FtLayout { Same, Transposed, QkvReordered, Absent };
enum class FtSplit { None, LastAxis, Axis0 };  // over the folder's tensor_para_size files
enum class Init { Matrix, LnWeight, Bias };    // make-model: N(0, .02), 1 + N(0, .1), N(0, .02)
/// Embedding: the lookup; Body: what every token's FLOPs scale with (body_params); Head: an
/// untied lm_head, present only when tie_word_embeddings is false.
enum class Part { Embedding, Body, Head };

struct ParamDesc {
  const char* role;  // for messages and `runner inspect`
  bool per_layer;
  const char* hf;  // HF name; per-layer ones follow "h.{layer}."
  const char* ft;  // FT name; per-layer ones follow "layers.{layer}."; nullptr: none
  std::vector<int64_t> (*shape)(const BloomConfig& c);  // full shape, HF layout
  TpSplit split;
  FtLayout ft_layout;
  FtSplit ft_split;
  Init init;
  Part part;
  Tensor BloomWeights::*field;  // where it lives (nullptr for per-layer ones)
  Tensor BloomLayer::*layer_field;
};

/// The table, in HF's state_dict order: the global parameters before the per-layer ones come
/// first, then every layer, then the rest; lm_head.weight last (present only when untied).
const std::vector<ParamDesc>& bloom_param_table();

/// One parameter of one model: a table row and its layer (-1 for the others).
struct ParamRef {
  const ParamDesc* desc;
  int layer;
};
/// Every parameter of a model with this config, in the table's order, per layer; lm_head only
/// when tie_word_embeddings is false.
std::vector<ParamRef> bloom_params(const BloomConfig& c);

/// HF name without kHfPrefix: "h.3.self_attention.query_key_value.weight".
std::string hf_name(const ParamRef& p);
/// FT file stem: "model.layers.3.attention.query_key_value.weight.5" (rank -1: unsplit).
std::string ft_name(const ParamRef& p, int rank);
/// The full HF-layout shape and this rank's part of it.
std::vector<int64_t> full_shape(const ParamRef& p, const BloomConfig& c);
std::vector<int64_t> local_shape(const ParamRef& p, const BloomConfig& c, const TpPlan& plan);

/// The part of the HF-layout tensor a rank owns: [start, start + count) of dim `dim` (-1: all).
struct TpSlice {
  int dim = -1;
  int64_t start = 0, count = 0;
};
TpSlice tp_slice(TpSplit s, const BloomConfig& c, const TpPlan& plan);

/// FT's stored form of a parameter: the HF-layout tensor viewed as `view` (a reshape of the
/// full shape), permuted (FT dim d is view dim perm[d]), and split over the folder's files along
/// FT dim `split_axis` (-1: one file). `slice` is this rank's part in view coordinates.
struct FtForm {
  std::vector<int64_t> view;
  std::vector<int> perm;
  int split_axis = -1;
  TpSlice slice;
};
FtForm ft_form(const ParamRef& p, const BloomConfig& c, const TpPlan& plan);

/// The tensor of `w` that holds parameter p.
Tensor& param_tensor(BloomWeights& w, const ParamRef& p);

enum class ParamSet { Body, All };
/// Parameters counted from the table: the body, or everything stored (embedding and an untied
/// lm_head included).
int64_t count_params(const BloomConfig& c, ParamSet which);

}  // namespace bloom

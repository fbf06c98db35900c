// The BLOOM parameter table (see bloom_params.h) and what is derived from it.
#include "engine/bloom_params.h"

#include "core/check.h"

namespace bloom {

namespace {

using Shape = std::vector<int64_t>;
Shape vocab_h(const BloomConfig& c) { return {c.vocab, c.hidden}; }
Shape h(const BloomConfig& c) { return {c.hidden}; }
Shape h3_h(const BloomConfig& c) { return {3 * c.hidden, c.hidden}; }
Shape h3(const BloomConfig& c) { return {3 * c.hidden}; }
Shape h_h(const BloomConfig& c) { return {c.hidden, c.hidden}; }
Shape h4_h(const BloomConfig& c) { return {4 * c.hidden, c.hidden}; }
Shape h4(const BloomConfig& c) { return {4 * c.hidden}; }
Shape h_h4(const BloomConfig& c) { return {c.hidden, 4 * c.hidden}; }

using W = BloomWeights;
using L = BloomLayer;
constexpr auto kRep = TpSplit::Replicated;
constexpr auto kSame = FtLayout::Same;
constexpr auto kT = FtLayout::Transposed;
constexpr auto kNoSplit = FtSplit::None;
constexpr auto kEmb = Part::Embedding;
constexpr auto kBody = Part::Body;
constexpr auto kHead = Part::Head;

}  // namespace

const std::vector<ParamDesc>& bloom_param_table() {
  // clang-format off
  static const std::vector<ParamDesc> table = {
  //  role                   layer  HF name (after h.N.)                     FT name (after model.[layers.N.])   shape    TP split              FT layout               FT split           init            part   weights field        layer field
    {"token embedding",      false, "word_embeddings.weight",                "wte",                              vocab_h, TpSplit::VocabRows,   kSame,                  kNoSplit,          Init::Matrix,   kEmb,  &W::word_embeddings, nullptr},
    {"embedding norm gain",  false, "word_embeddings_layernorm.weight",      "pre_decoder_layernorm.weight",     h,       kRep,                 kSame,                  kNoSplit,          Init::LnWeight, kEmb,  &W::emb_ln_gamma,    nullptr},
    {"embedding norm bias",  false, "word_embeddings_layernorm.bias",        "pre_decoder_layernorm.bias",       h,       kRep,                 kSame,                  kNoSplit,          Init::Bias,     kEmb,  &W::emb_ln_beta,     nullptr},
    {"attention norm gain",  true,  "input_layernorm.weight",                "input_layernorm.weight",           h,       kRep,                 kSame,                  kNoSplit,          Init::LnWeight, kBody, nullptr,             &L::ln1_gamma},
    {"attention norm bias",  true,  "input_layernorm.bias",                  "input_layernorm.bias",             h,       kRep,                 kSame,                  kNoSplit,          Init::Bias,     kBody, nullptr,             &L::ln1_beta},
    {"QKV weight",           true,  "self_attention.query_key_value.weight", "attention.query_key_value.weight", h3_h,    TpSplit::HeadRows,    FtLayout::QkvReordered, FtSplit::LastAxis, Init::Matrix,   kBody, nullptr,             &L::qkv_w},
    {"QKV bias",             true,  "self_attention.query_key_value.bias",   "attention.query_key_value.bias",   h3,      TpSplit::HeadRows,    FtLayout::QkvReordered, FtSplit::LastAxis, Init::Bias,     kBody, nullptr,             &L::qkv_b},
    {"attention out weight", true,  "self_attention.dense.weight",           "attention.dense.weight",           h_h,     TpSplit::HeadColumns, kT,                     FtSplit::Axis0,    Init::Matrix,   kBody, nullptr,             &L::dense_w},
    {"attention out bias",   true,  "self_attention.dense.bias",             "attention.dense.bias",             h,       kRep,                 kSame,                  kNoSplit,          Init::Bias,     kBody, nullptr,             &L::dense_b},
    {"MLP norm gain",        true,  "post_attention_layernorm.weight",       "post_attention_layernorm.weight",  h,       kRep,                 kSame,                  kNoSplit,          Init::LnWeight, kBody, nullptr,             &L::ln2_gamma},
    {"MLP norm bias",        true,  "post_attention_layernorm.bias",         "post_attention_layernorm.bias",    h,       kRep,                 kSame,                  kNoSplit,          Init::Bias,     kBody, nullptr,             &L::ln2_beta},
    {"h->4h weight",         true,  "mlp.dense_h_to_4h.weight",              "mlp.dense_h_to_4h.weight",         h4_h,    TpSplit::FfnRows,     kT,                     FtSplit::LastAxis, Init::Matrix,   kBody, nullptr,             &L::fc_w},
    {"h->4h bias",           true,  "mlp.dense_h_to_4h.bias",                "mlp.dense_h_to_4h.bias",           h4,      TpSplit::FfnRows,     kSame,                  FtSplit::LastAxis, Init::Bias,     kBody, nullptr,             &L::fc_b},
    {"4h->h weight",         true,  "mlp.dense_4h_to_h.weight",              "mlp.dense_4h_to_h.weight",         h_h4,    TpSplit::FfnColumns,  kT,                     FtSplit::Axis0,    Init::Matrix,   kBody, nullptr,             &L::proj_w},
    {"4h->h bias",           true,  "mlp.dense_4h_to_h.bias",                "mlp.dense_4h_to_h.bias",           h,       kRep,                 kSame,                  kNoSplit,          Init::Bias,     kBody, nullptr,             &L::proj_b},
    {"final norm gain",      false, "ln_f.weight",                           "final_layernorm.weight",           h,       kRep,                 kSame,                  kNoSplit,          Init::LnWeight, kBody, &W::ln_f_gamma,      nullptr},
    {"final norm bias",      false, "ln_f.bias",                             "final_layernorm.bias",             h,       kRep,                 kSame,                  kNoSplit,          Init::Bias,     kBody, &W::ln_f_beta,       nullptr},
    {"untied lm_head",       false, "lm_head.weight",                        nullptr,                            vocab_h, TpSplit::VocabRows,   FtLayout::Absent,       kNoSplit,          Init::Matrix,   kHead, &W::lm_head,         nullptr},
  };
  // clang-format on
  return table;
}

std::vector<ParamRef> bloom_params(const BloomConfig& c) {
  const std::vector<ParamDesc>& table = bloom_param_table();
  std::vector<ParamRef> before, layers, after;
  for (const ParamDesc& d : table) {
    if (d.part == Part::Head && c.tie_word_embeddings) continue;
    if (d.per_layer) {
      layers.push_back({&d, 0});
    } else {
      (layers.empty() ? before : after).push_back({&d, -1});
    }
  }
  std::vector<ParamRef> out = before;
  for (int l = 0; l < static_cast<int>(c.n_layer); ++l)
    for (const ParamRef& p : layers) out.push_back({p.desc, l});
  out.insert(out.end(), after.begin(), after.end());
  return out;
}

std::string hf_name(const ParamRef& p) {
  return p.desc->per_layer ? fmt::format("h.{}.{}", p.layer, p.desc->hf) : p.desc->hf;
}

std::string ft_name(const ParamRef& p, int rank) {
  BLOOM_CHECK(p.desc->ft != nullptr, "{} has no FasterTransformer file", p.desc->role);
  std::string s = p.desc->per_layer ? fmt::format("model.layers.{}.{}", p.layer, p.desc->ft)
                                    : fmt::format("model.{}", p.desc->ft);
  return rank < 0 ? s : fmt::format("{}.{}", s, rank);
}

std::vector<int64_t> full_shape(const ParamRef& p, const BloomConfig& c) { return p.desc->shape(c); }

TpSlice tp_slice(TpSplit s, const BloomConfig& c, const TpPlan& plan) {
  const int64_t hd = c.head_dim();
  switch (s) {
    case TpSplit::Replicated: return {};
    case TpSplit::VocabRows: return {0, plan.vocab_offset, plan.vocab_local};
    case TpSplit::HeadRows: return {0, plan.head_offset * 3 * hd, plan.n_head_local * 3 * hd};
    case TpSplit::HeadColumns: return {1, plan.head_offset * hd, plan.n_head_local * hd};
    case TpSplit::FfnRows: return {0, plan.ffn_offset, plan.ffn_local};
    case TpSplit::FfnColumns: return {1, plan.ffn_offset, plan.ffn_local};
  }
  return {};
}

std::vector<int64_t> local_shape(const ParamRef& p, const BloomConfig& c, const TpPlan& plan) {
  std::vector<int64_t> s = full_shape(p, c);
  const TpSlice t = tp_slice(p.desc->split, c, plan);
  if (t.dim >= 0) s[static_cast<size_t>(t.dim)] = t.count;
  return s;
}

FtForm ft_form(const ParamRef& p, const BloomConfig& c, const TpPlan& plan) {
  const ParamDesc& d = *p.desc;
  BLOOM_CHECK(d.ft_layout != FtLayout::Absent, "{} has no FasterTransformer file", d.role);
  FtForm f;
  f.view = full_shape(p, c);
  f.slice = tp_slice(d.split, c, plan);
  const int rank = static_cast<int>(f.view.size());
  if (d.ft_layout == FtLayout::QkvReordered) {
    // HF rows [NH, 3, HD] (then H for the weight) -> FT [H,] 3, NH, HD; the split is over NH.
    const int64_t nh = c.n_head, hd = c.head_dim(), hid = c.hidden;
    f.slice = {0, plan.head_offset, plan.n_head_local};
    if (rank == 2) {
      f.view = {nh, 3, hd, hid};
      f.perm = {3, 1, 0, 2};
    } else {
      f.view = {nh, 3, hd};
      f.perm = {1, 0, 2};
    }
    f.split_axis = d.ft_split == FtSplit::None ? -1 : static_cast<int>(f.perm.size()) - 2;
    return f;
  }
  f.perm = d.ft_layout == FtLayout::Transposed ? std::vector<int>{1, 0}
                                                : (rank == 2 ? std::vector<int>{0, 1} : std::vector<int>{0});
  f.split_axis = d.ft_split == FtSplit::None      ? -1
                 : d.ft_split == FtSplit::Axis0   ? 0
                                                  : static_cast<int>(f.perm.size()) - 1;
  return f;
}

Tensor& param_tensor(BloomWeights& w, const ParamRef& p) {
  return p.desc->per_layer ? w.layers[static_cast<size_t>(p.layer)].*(p.desc->layer_field)
                           : w.*(p.desc->field);
}

int64_t count_params(const BloomConfig& c, ParamSet which) {
  int64_t n = 0;
  for (const ParamRef& p : bloom_params(c)) {
    if (which == ParamSet::Body && p.desc->part != Part::Body) continue;
    int64_t k = 1;
    for (int64_t d : full_shape(p, c)) k *= d;
    n += k;
  }
  return n;
}

}  // namespace bloom

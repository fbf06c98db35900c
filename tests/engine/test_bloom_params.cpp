// Tests for engine/bloom_params: the table against the fixtures HF wrote (every parameter there
// with the shape the config gives, nothing else there), the parameter counts against the
// published sizes of the released models, FT's file names and layouts against the converter's
// folder, and the TP slices.
#include <gtest/gtest.h>

#include <filesystem>
#include <set>
#include <string>

#include "engine/bloom_params.h"
#include "io/checkpoint.h"

namespace bloom {
namespace {

const std::string kData = std::string(BLOOM_SOURCE_DIR) + "/tests/data";

BloomConfig shape(int64_t n_layer, int64_t hidden, int64_t n_head, int64_t vocab) {
  BloomConfig c;
  c.n_layer = n_layer;
  c.hidden = hidden;
  c.n_head = n_head;
  c.vocab = vocab;
  return c;
}

TEST(BloomParams, TableMatchesHfFixturesExactly) {
  for (const char* model : {"tiny-bloom", "trained-bloom"}) {
    const std::string dir = kData + "/" + model;
    const BloomConfig c = BloomConfig::from_file(dir + "/config.json");
    const io::Checkpoint ck = io::Checkpoint::open(dir, kHfPrefix);
    std::set<std::string> names;
    for (const ParamRef& p : bloom_params(c)) {
      names.insert(hf_name(p));
      ASSERT_TRUE(ck.has(hf_name(p))) << model << " " << hf_name(p);
      EXPECT_EQ(ck.info(hf_name(p)).shape, full_shape(p, c)) << model << " " << hf_name(p);
    }
    const std::vector<std::string> stored = ck.names();
    EXPECT_EQ(std::set<std::string>(stored.begin(), stored.end()), names) << model;
    int64_t numel = 0;
    for (const std::string& n : stored) numel += ck.info(n).numel();
    EXPECT_EQ(c.total_params(), numel) << model;
  }
}

TEST(BloomParams, CountsOfReleasedModels) {
  // Parameter counts HF's model cards give for bigscience/bloom-560m, bloom-7b1 and bloom.
  EXPECT_EQ(shape(24, 1024, 16, 250880).total_params(), 559214592);
  EXPECT_EQ(shape(30, 4096, 32, 250880).total_params(), 7069016064);
  EXPECT_EQ(shape(70, 14336, 112, 250880).total_params(), 176247271424);
  EXPECT_EQ(shape(30, 4096, 32, 250880).body_params(), 6041403392);  // bench/RESULTS.md: 6.041e9
  BloomConfig untied = shape(2, 64, 4, 100);
  untied.tie_word_embeddings = false;
  EXPECT_EQ(untied.total_params() - shape(2, 64, 4, 100).total_params(), 100 * 64);
  EXPECT_EQ(untied.body_params(), shape(2, 64, 4, 100).body_params());
}

TEST(BloomParams, OrderNamesAndLmHead) {
  BloomConfig c = shape(2, 64, 4, 100);
  std::vector<std::string> names;
  for (const ParamRef& p : bloom_params(c)) names.push_back(hf_name(p));
  ASSERT_EQ(names.size(), 3u + 2 * 12 + 2);
  EXPECT_EQ(names.front(), "word_embeddings.weight");
  EXPECT_EQ(names[3], "h.0.input_layernorm.weight");
  EXPECT_EQ(names[8], "h.0.self_attention.dense.bias");
  EXPECT_EQ(names[3 + 12 + 2], "h.1.self_attention.query_key_value.weight");
  EXPECT_EQ(names.back(), "ln_f.bias");
  c.tie_word_embeddings = false;
  EXPECT_EQ(hf_name(bloom_params(c).back()), "lm_head.weight");
}

TEST(BloomParams, FtNamesAndLayoutsMatchTheConvertersFolder) {
  const std::string dir = kData + "/trained-bloom-ft/8-gpu";
  const BloomConfig c = BloomConfig::from_ft_ini(dir + "/config.ini");
  const TpPlan one = TpPlan::make(c, 0, 1);
  size_t files = 0;
  for (const ParamRef& p : bloom_params(c)) {
    const FtForm f = ft_form(p, c, one);
    std::vector<int64_t> ft_shape;
    for (int d : f.perm) ft_shape.push_back(f.view[static_cast<size_t>(d)]);
    int64_t per_file = 1;
    for (int64_t d : ft_shape) per_file *= d;
    if (f.split_axis >= 0) per_file /= c.ft_tensor_para_size;
    for (int r = f.split_axis < 0 ? -1 : 0; r < (f.split_axis < 0 ? 0 : 8); ++r, ++files) {
      const std::string file = dir + "/" + ft_name(p, r) + ".bin";
      ASSERT_TRUE(std::filesystem::exists(file)) << file;
      EXPECT_EQ(std::filesystem::file_size(file), static_cast<uintmax_t>(per_file * 2)) << file;
    }
  }
  EXPECT_EQ(files + 1, static_cast<size_t>(std::distance(std::filesystem::directory_iterator(dir),
                                                         std::filesystem::directory_iterator())));
  const ParamRef qkv = bloom_params(c)[3 + 2];
  EXPECT_EQ(ft_name(qkv, 5), "model.layers.0.attention.query_key_value.weight.5");
  EXPECT_EQ(ft_name(bloom_params(c)[0], -1), "model.wte");
  // QKV: HF rows [NH, 3, HD] x H -> FT [H, 3, NH, HD], split over NH.
  const FtForm f = ft_form(qkv, c, TpPlan::make(c, 1, 4));
  EXPECT_EQ(f.view, (std::vector<int64_t>{8, 3, 32, 256}));
  EXPECT_EQ(f.perm, (std::vector<int>{3, 1, 0, 2}));
  EXPECT_EQ(f.split_axis, 2);
  EXPECT_EQ(f.slice.dim, 0);
  EXPECT_EQ(f.slice.start, 2);  // heads [2, 4) of 8 at tp rank 1 of 4
  EXPECT_EQ(f.slice.count, 2);
}

TEST(BloomParams, LocalShapesUnderTp) {
  const BloomConfig c = shape(1, 96, 6, 3001);
  const TpPlan p = TpPlan::make(c, 1, 3);
  std::vector<std::vector<int64_t>> shapes;
  for (const ParamRef& r : bloom_params(c)) shapes.push_back(local_shape(r, c, p));
  EXPECT_EQ(shapes[0], (std::vector<int64_t>{1001, 96}));  // vocab rows
  EXPECT_EQ(shapes[5], (std::vector<int64_t>{96, 96}));    // qkv: 3 x 2 heads x 16
  EXPECT_EQ(shapes[6], (std::vector<int64_t>{96}));
  EXPECT_EQ(shapes[7], (std::vector<int64_t>{96, 32}));   // dense columns of 2 heads
  EXPECT_EQ(shapes[11], (std::vector<int64_t>{128, 96}));  // h->4h rows
  EXPECT_EQ(shapes[13], (std::vector<int64_t>{96, 128}));  // 4h->h columns
  EXPECT_EQ(shapes[14], (std::vector<int64_t>{96}));       // replicated
  const TpSlice s = tp_slice(TpSplit::HeadRows, c, p);
  EXPECT_EQ(s.start, 2 * 3 * 16);
}

}  // namespace
}  // namespace bloom

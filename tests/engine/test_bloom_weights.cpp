// Tests for engine/bloom_weights: the FasterTransformer folder that FT's own converter wrote
// (-tp 8) loads into exactly the slices the HF safetensors file gives, at tp 1, 2, 4 and 8 and
// every rank (same fp16 values in: bit-identical); an untied lm_head is loaded, a tied one is
// the embedding; tensors the config does not account for are named in a warning; a broken FT
// folder (a missing rank file, a file of the wrong size) is refused naming the file.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>

#include "core/check.h"
#include "tests/test_support.h"
#include "engine/bloom_params.h"
#include "engine/bloom_weights.h"
#include "io/safetensors.h"

namespace bloom {
namespace {

namespace fs = std::filesystem;

const std::string kData = std::string(BLOOM_SOURCE_DIR) + "/tests/data";
const std::string kTrained = kData + "/trained-bloom";
const std::string kFt = kData + "/trained-bloom-ft/8-gpu";

using ::bloom::testing::error_of;

bool same_bytes(const Tensor& a, const Tensor& b) {
  return a.numel() == b.numel() && a.dtype == b.dtype &&
         std::memcmp(a.data, b.data, a.nbytes()) == 0;
}

class WeightsFiles : public testing::TempDirTest {
 protected:
  std::string copy_of(const std::string& src, const std::string& name) {
    const fs::path d = dir_ / name;
    fs::copy(src, d, fs::copy_options::recursive);
    return d.string();
  }
};

TEST(BloomWeightsFt, EveryRankOfEveryTpEqualsSafetensors) {
  const ModelSource st = ModelSource::open(kTrained);
  const ModelSource ft = ModelSource::open(kData + "/trained-bloom-ft");  // holds 8-gpu/
  EXPECT_EQ(st.location.format, ModelFormat::Safetensors);
  EXPECT_EQ(ft.location.format, ModelFormat::Ft);
  EXPECT_EQ(ft.location.dir, kFt);
  EXPECT_TRUE(st.warnings.empty());
  EXPECT_TRUE(ft.warnings.empty()) << ft.warnings[0];
  Context ctx(Device::CPU);
  for (int tp : {1, 2, 4, 8}) {
    for (int rank = 0; rank < tp; ++rank) {
      const TpPlan plan = TpPlan::make(st.config, rank, tp);
      BloomWeights a = BloomWeights::load(st, plan, DType::F32, ctx, 2);
      BloomWeights b = BloomWeights::load(ft, plan, DType::F32, ctx, 3);
      for (const ParamRef& p : bloom_params(st.config))
        ASSERT_TRUE(same_bytes(param_tensor(a, p), param_tensor(b, p)))
            << hf_name(p) << " tp " << tp << " rank " << rank;
      EXPECT_EQ(b.lm_head.data, b.word_embeddings.data);
    }
  }
}

TEST(BloomWeightsFt, ComputeDtypesRoundTheSameValues) {
  const ModelSource st = ModelSource::open(kTrained);
  const ModelSource ft = ModelSource::open(kFt);
  Context ctx(Device::CPU);
  for (DType t : {DType::F16, DType::BF16}) {
    const TpPlan plan = TpPlan::make(st.config, 1, 2);
    BloomWeights a = BloomWeights::load(st, plan, t, ctx);
    BloomWeights b = BloomWeights::load(ft, plan, t, ctx);
    for (const ParamRef& p : bloom_params(st.config))
      ASSERT_TRUE(same_bytes(param_tensor(a, p), param_tensor(b, p))) << hf_name(p);
  }
}

TEST_F(WeightsFiles, BrokenFtFoldersNameTheFile) {
  const std::string d = copy_of(kFt, "8-gpu");
  const std::string victim = d + "/model.layers.2.mlp.dense_4h_to_h.weight.3.bin";
  fs::remove(victim);
  std::string msg = error_of([&] { ModelSource::open(d); });
  EXPECT_NE(msg.find(victim + ": missing (4h->h weight, rank file 3 of the 8 that "
                              "tensor_para_size asks for"), std::string::npos) << msg;
  fs::copy_file(kFt + "/model.layers.2.mlp.dense_4h_to_h.weight.3.bin", victim);
  fs::resize_file(d + "/model.wte.bin", 1000);
  msg = error_of([&] { ModelSource::open(d); });
  EXPECT_NE(msg.find(d + "/model.wte.bin: 1000 bytes, expected 1536000 ([3000, 256] x 2 bytes of "
                         "fp16) (token embedding, config.ini gives head_num 8"),
            std::string::npos) << msg;
  fs::copy_file(kFt + "/model.wte.bin", d + "/model.wte.bin", fs::copy_options::overwrite_existing);
  // A file no parameter names is reported, not read.
  std::ofstream(d + "/model.layers.9.input_layernorm.weight.bin") << "xx";
  const ModelSource ok = ModelSource::open(d);
  ASSERT_EQ(ok.warnings.size(), 1u);
  EXPECT_NE(ok.warnings[0].find("model.layers.9.input_layernorm.weight.bin"), std::string::npos)
      << ok.warnings[0];
}

// A safetensors copy of the trained model with extra tensors (and lm_head) added.
std::string with_tensors(const std::string& dir, bool untied_config, bool add_lm_head,
                         int extra_layers) {
  const io::SafetensorsFile src = io::SafetensorsFile::open(kTrained + "/model.safetensors");
  std::vector<std::vector<uint8_t>> keep;
  std::vector<io::TensorToWrite> out;
  for (const io::SafetensorsEntry& e : src.entries()) {
    out.push_back({e.name, DType::F16, e.shape, src.bytes(e), nullptr});
    const std::string layer0 = "transformer.h.0.";
    for (int l = 4; l < 4 + extra_layers; ++l)
      if (e.name.compare(0, layer0.size(), layer0) == 0)
        out.push_back({"transformer.h." + std::to_string(l) + "." + e.name.substr(layer0.size()),
                       DType::F16, e.shape, src.bytes(e), nullptr});
  }
  std::vector<uint16_t> head(3000 * 256);
  for (size_t i = 0; i < head.size(); ++i) head[i] = float_to_half(static_cast<float>(i % 7) - 3);
  if (add_lm_head) out.push_back({"lm_head.weight", DType::F16, {3000, 256}, head.data(), nullptr});
  fs::create_directories(dir);
  io::write_safetensors(dir + "/model.safetensors", out);
  std::ifstream in(kTrained + "/config.json");
  std::string cfg((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (untied_config) {
    const std::string t = "\"tie_word_embeddings\": true";
    cfg.replace(cfg.find(t), t.size(), "\"tie_word_embeddings\": false");
  }
  std::ofstream(dir + "/config.json") << cfg;
  return dir;
}

TEST_F(WeightsFiles, UntiedLmHeadIsLoadedEqualValuesAreTied) {
  Context ctx(Device::CPU);
  const ModelSource untied = ModelSource::open(with_tensors((dir_ / "u").string(), true, true, 0));
  EXPECT_TRUE(untied.warnings.empty());
  for (int tp : {1, 2}) {
    const TpPlan plan = TpPlan::make(untied.config, tp - 1, tp);
    const BloomWeights w = BloomWeights::load(untied, plan, DType::F32, ctx);
    ASSERT_NE(w.lm_head.data, w.word_embeddings.data);
    ASSERT_EQ(w.lm_head.dim(0), plan.vocab_local);
    const float* h = w.lm_head.data_as<float>();
    for (int64_t i = 0; i < w.lm_head.numel(); i += 997)  // the rows of this rank's slice
      ASSERT_EQ(h[i], static_cast<float>((plan.vocab_offset * 256 + i) % 7) - 3) << i;
  }
  // tie_word_embeddings true but an lm_head.weight of other values: HF transformers does not
  // tie them and scores with lm_head.weight; so do we, with a warning.
  const ModelSource other = ModelSource::open(with_tensors((dir_ / "t").string(), false, true, 0));
  ASSERT_EQ(other.warnings.size(), 1u);
  EXPECT_NE(other.warnings[0].find("lm_head.weight differs from word_embeddings.weight although "
                                   "config.json says tie_word_embeddings: true"), std::string::npos)
      << other.warnings[0];
  EXPECT_FALSE(other.config.tie_word_embeddings);
  const BloomWeights w = BloomWeights::load(other, TpPlan::make(other.config, 0, 1), DType::F32, ctx);
  EXPECT_NE(w.lm_head.data, w.word_embeddings.data);
  // The embedding saved a second time as lm_head.weight: tied, silently (as HF).
  const std::string same = with_tensors((dir_ / "s").string(), false, false, 0);
  {
    const io::SafetensorsFile f = io::SafetensorsFile::open(same + "/model.safetensors");
    std::vector<io::TensorToWrite> out;
    for (const io::SafetensorsEntry& e : f.entries())
      out.push_back({e.name, DType::F16, e.shape, f.bytes(e), nullptr});
    const io::SafetensorsEntry& emb = f.at("transformer.word_embeddings.weight");
    out.push_back({"lm_head.weight", DType::F16, emb.shape, f.bytes(emb), nullptr});
    io::write_safetensors(same + "/model2.safetensors", out);
  }
  fs::rename(same + "/model2.safetensors", same + "/model.safetensors");
  const ModelSource twice = ModelSource::open(same);
  EXPECT_TRUE(twice.warnings.empty()) << twice.warnings[0];
  const BloomWeights t = BloomWeights::load(twice, TpPlan::make(twice.config, 0, 1), DType::F32, ctx);
  EXPECT_EQ(t.lm_head.data, t.word_embeddings.data);
  // Untied without an lm_head: refused before anything is read.
  const ModelSource none = ModelSource::open(with_tensors((dir_ / "n").string(), true, false, 0));
  ASSERT_EQ(none.problems().size(), 1u);
  EXPECT_NE(none.problems()[0].find("config.json says tie_word_embeddings: false, but there is no "
                                    "lm_head.weight in"), std::string::npos) << none.problems()[0];
  EXPECT_NE(error_of([&] { BloomWeights::load(none, TpPlan::make(none.config, 0, 1), DType::F32, ctx); })
                .find("tie_word_embeddings: false"), std::string::npos);
}

TEST_F(WeightsFiles, TensorsTheConfigDoesNotAccountForAreNamed) {
  const ModelSource s = ModelSource::open(with_tensors((dir_ / "x").string(), false, false, 2));
  ASSERT_EQ(s.warnings.size(), 1u);
  EXPECT_NE(s.warnings[0].find("tensors are not used: config.json does not account for them "
                               "(n_layer 4): h.4.* (12 tensors), h.5.* (12 tensors)"),
            std::string::npos) << s.warnings[0];
  EXPECT_TRUE(s.problems().empty());
}

}  // namespace
}  // namespace bloom

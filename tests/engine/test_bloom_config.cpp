// Tests for engine/bloom_config: config.json in the key spellings of HF's BloomConfig and of the
// original bigscience files, every missing or malformed key named; FasterTransformer's
// config.ini (the converter's own file, and each key it must get right); model.path resolution
// (safetensors before .bin as HF does, FT folders and the converter's output folder); TpPlan.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <regex>
#include <string>

#include "core/check.h"
#include "tests/test_support.h"
#include "engine/bloom_config.h"

namespace bloom {
namespace {

namespace fs = std::filesystem;

const std::string kData = std::string(BLOOM_SOURCE_DIR) + "/tests/data";

class ConfigFiles : public testing::TempDirTest {
 protected:
  std::string write(const std::string& name, const std::string& text) {
    const fs::path p = dir_ / name;
    fs::create_directories(p.parent_path());
    std::ofstream(p) << text;
    return p.string();
  }
  // The trained fixture's config.ini with one line replaced (regex over the whole text).
  std::string ini_with(const std::string& pattern, const std::string& replacement) {
    std::ifstream in(kData + "/trained-bloom-ft/8-gpu/config.ini");
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    return write("ft/config.ini", std::regex_replace(text, std::regex(pattern), replacement));
  }
};

TEST(BloomConfigJson, FixturesInNewAndOldSpellings) {
  const BloomConfig t = BloomConfig::from_file(kData + "/trained-bloom/config.json");
  EXPECT_EQ(t.hidden, 256);
  EXPECT_EQ(t.n_head, 8);
  EXPECT_EQ(t.n_layer, 4);
  EXPECT_EQ(t.vocab, 3000);
  EXPECT_EQ(t.head_dim(), 32);
  EXPECT_FLOAT_EQ(t.eps, 1e-5f);
  EXPECT_TRUE(t.tie_word_embeddings);
  EXPECT_FALSE(t.residual_post_layernorm);
  EXPECT_EQ(t.pad_id, 3);
  EXPECT_EQ(t.stored_dtype, "float16");  // transformers 5 writes `dtype`
  // The fixture's README: 3,928,064 parameters.
  EXPECT_EQ(t.total_params(), 3928064);
}

TEST_F(ConfigFiles, KeySpellingsDefaultsAndErrors) {
  const BloomConfig old = BloomConfig::from_file(write("old.json", R"({"model_type": "bloom",
      "n_embed": 64, "num_attention_heads": 4, "num_hidden_layers": 2, "vocab_size": 100,
      "torch_dtype": "bfloat16", "apply_residual_connection_post_layernorm": true,
      "tie_word_embeddings": false, "pad_token_id": 7, "layer_norm_epsilon": 1e-6})"));
  EXPECT_EQ(old.hidden, 64);
  EXPECT_EQ(old.n_head, 4);
  EXPECT_EQ(old.n_layer, 2);
  EXPECT_EQ(old.stored_dtype, "bfloat16");
  EXPECT_TRUE(old.residual_post_layernorm);
  EXPECT_FALSE(old.tie_word_embeddings);
  EXPECT_EQ(old.pad_id, 7);
  EXPECT_FLOAT_EQ(old.eps, 1e-6f);
  // 2 layers x (12 H^2 + 13 H) + ln_f 2H + embedding; untied: + lm_head.
  EXPECT_EQ(old.body_params(), 2 * (12 * 64 * 64 + 13 * 64) + 2 * 64);
  EXPECT_EQ(old.total_params(), old.body_params() + 2 * 100 * 64 + 2 * 64);

  const std::string base = R"("hidden_size": 64, "n_head": 4, "n_layer": 2, "vocab_size": 100)";
  EXPECT_ERROR_HAS(BloomConfig::from_file(write("a.json", "{" + base + ", \"model_type\": \"gpt2\"}")),
               "model_type is \"gpt2\", only bloom");
  EXPECT_ERROR_HAS(BloomConfig::from_file(write("b.json", R"({"n_head": 4, "n_layer": 2, "vocab_size": 1})")),
               "b.json: missing key 'hidden_size'");
  EXPECT_ERROR_HAS(BloomConfig::from_file(write("c.json", R"({"hidden_size": "64", "n_head": 4})")),
               "c.json: key 'hidden_size' must be an integer");
  EXPECT_ERROR_HAS(BloomConfig::from_file(write("d.json", "{" + base + ", \"tie_word_embeddings\": 1}")),
               "d.json: key 'tie_word_embeddings' must be true or false");
  EXPECT_ERROR_HAS(BloomConfig::from_file(write("e.json", R"({"hidden_size": 65, "n_head": 4, "n_layer": 2, "vocab_size": 1})")),
               "not a multiple");
  EXPECT_ERROR_HAS(BloomConfig::from_file(write("f.json", R"({"hidden_size": 0, "n_head": 4, "n_layer": 2, "vocab_size": 1})")),
               "must be positive");
  EXPECT_ERROR_HAS(BloomConfig::from_file(write("g.json", "{" + base + ", \"slow_but_exact\": true, \"pretraining_tp\": 4}")),
               "slow_but_exact");
  EXPECT_ERROR_HAS(BloomConfig::from_file(write("h.json", "{" + base)), "h.json: not valid JSON");
  EXPECT_ERROR_HAS(BloomConfig::from_file((dir_ / "none.json").string()), "cannot open model config");
}

TEST(BloomConfigIni, ConvertersOwnFile) {
  const BloomConfig c = BloomConfig::from_ft_ini(kData + "/trained-bloom-ft/8-gpu/config.ini");
  const BloomConfig hf = BloomConfig::from_file(kData + "/trained-bloom/config.json");
  EXPECT_EQ(c.hidden, hf.hidden);
  EXPECT_EQ(c.n_head, hf.n_head);
  EXPECT_EQ(c.n_layer, hf.n_layer);
  EXPECT_EQ(c.vocab, hf.vocab);
  EXPECT_FLOAT_EQ(c.eps, hf.eps);
  EXPECT_EQ(c.residual_post_layernorm, hf.residual_post_layernorm);
  EXPECT_TRUE(c.tie_word_embeddings);
  EXPECT_EQ(c.ft_dtype, DType::F16);
  EXPECT_EQ(c.ft_tensor_para_size, 8);
  EXPECT_EQ(c.total_params(), hf.total_params());
}

TEST_F(ConfigFiles, IniKeysNamedWithTheirLine) {
  EXPECT_TRUE(BloomConfig::from_ft_ini(ini_with("bloom-pre", "bloom-post")).residual_post_layernorm);
  EXPECT_EQ(BloomConfig::from_ft_ini(ini_with("=fp16", "=fp32")).ft_dtype, DType::F32);
  EXPECT_EQ(BloomConfig::from_ft_ini(ini_with("=fp16", "=bf16")).ft_dtype, DType::BF16);
  EXPECT_ERROR_HAS(BloomConfig::from_ft_ini(ini_with("=fp16", "=int8")),
               "config.ini:9: [gpt] weight_data_type 'int8' is not one of fp32, fp16, bf16");
  EXPECT_ERROR_HAS(BloomConfig::from_ft_ini(ini_with("inter_size=1024", "inter_size=1000")),
               "config.ini:5: [gpt] inter_size is 1000, but BLOOM's MLP is 4 x hidden = 1024");
  EXPECT_ERROR_HAS(BloomConfig::from_ft_ini(ini_with("tensor_para_size=8", "tensor_para_size=3")),
               "tensor_para_size 3 does not divide head_num 8");
  EXPECT_ERROR_HAS(BloomConfig::from_ft_ini(ini_with("model_variant=bloom-pre", "model_variant=gpt")),
               "model_variant is 'gpt': not a BLOOM folder");
  EXPECT_ERROR_HAS(BloomConfig::from_ft_ini(ini_with("head_num=8\n", "")), "[gpt] has no key 'head_num'");
  EXPECT_ERROR_HAS(BloomConfig::from_ft_ini(ini_with("num_layer=4", "num_layer=four")),
               "[gpt] num_layer must be an integer, got 'four'");
  EXPECT_ERROR_HAS(BloomConfig::from_ft_ini(ini_with("\\[gpt\\]", "[bert]")), "no [gpt] section");
}

TEST_F(ConfigFiles, LocateModel) {
  const std::string cfg = R"({"hidden_size": 64, "n_head": 4, "n_layer": 2, "vocab_size": 100})";
  write("hf/config.json", cfg);
  write("hf/pytorch_model.bin", "");
  ModelLocation l = locate_model((dir_ / "hf").string());
  EXPECT_EQ(l.format, ModelFormat::Bin);
  EXPECT_EQ(l.config, (dir_ / "hf" / "config.json").string());
  write("hf/model.safetensors.index.json", "{}");
  EXPECT_EQ(locate_model((dir_ / "hf").string()).format, ModelFormat::Safetensors);  // as HF
  EXPECT_EQ(locate_model((dir_ / "hf").string(), ModelFormat::Bin).format, ModelFormat::Bin);
  EXPECT_ERROR_HAS(locate_model((dir_ / "hf").string(), ModelFormat::Ft), "model.format is ft but");

  // The converter's output folder holding one N-gpu folder, or that folder itself.
  write("out/8-gpu/config.ini", "[gpt]\n");
  l = locate_model((dir_ / "out").string());
  EXPECT_EQ(l.format, ModelFormat::Ft);
  EXPECT_EQ(l.dir, (dir_ / "out" / "8-gpu").string());
  EXPECT_EQ(l.config, (dir_ / "out" / "8-gpu" / "config.ini").string());
  EXPECT_EQ(locate_model((dir_ / "out" / "8-gpu").string()).dir, (dir_ / "out" / "8-gpu").string());
  EXPECT_ERROR_HAS(locate_model((dir_ / "out").string(), ModelFormat::Safetensors),
               "model.format is safetensors but there is no model.safetensors");
  write("out/2-gpu/config.ini", "[gpt]\n");
  EXPECT_ERROR_HAS(locate_model((dir_ / "out").string()), "holds 2 FasterTransformer folders (2-gpu, 8-gpu)");

  fs::create_directories(dir_ / "empty");
  EXPECT_ERROR_HAS(locate_model((dir_ / "empty").string()), "no model.safetensors or model.safetensors.index.json");
  EXPECT_ERROR_HAS(locate_model((dir_ / "nope").string()), "is not a folder");
  EXPECT_EQ(parse_model_format("ft"), ModelFormat::Ft);
  EXPECT_ERROR_HAS(parse_model_format("gguf"), "model.format must be one of auto, safetensors, bin, ft");
}

TEST(TpPlan, SplitsHeadsMlpAndVocab) {
  BloomConfig c;
  c.hidden = 96;
  c.n_head = 6;
  c.n_layer = 1;
  c.vocab = 3001;
  const TpPlan p = TpPlan::make(c, 2, 3);
  EXPECT_EQ(p.n_head_local, 2);
  EXPECT_EQ(p.head_offset, 4);
  EXPECT_EQ(p.ffn_local, 128);
  EXPECT_EQ(p.ffn_offset, 256);
  EXPECT_EQ(p.vocab_offset, 2002);  // ceil(3001 / 3) = 1001 rows per rank
  EXPECT_EQ(p.vocab_local, 999);    // the last rank holds the rest
  EXPECT_ERROR_HAS(TpPlan::make(c, 0, 4), "parallelism.tp = 4 does not divide the model's 6 attention heads; tp must be one of 1, 2, 3, 6");
  EXPECT_ERROR_HAS(TpPlan::make(c, 3, 3), "tp rank 3 of 3");
}

}  // namespace
}  // namespace bloom

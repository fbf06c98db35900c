// The BLOOM forward pass against HF transformers' own outputs (tests/data/tiny-bloom, made by
// HF 5.17 in float64): logits of six sequences, the hidden states of seq4, a left-padded batch,
// and the 256 LAMBADA passages of lambada_reference.jsonl scored through the runner's packing.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/bloom.h"
#include "core/check.h"
#include "io/checkpoint.h"
#include "io/safetensors.h"
#include "io/tokenizer.h"
#include "tests/test_support.h"

namespace bloom {
namespace {

const std::string kDir = std::string(BLOOM_SOURCE_DIR) + "/tests/data/tiny-bloom";

struct Fixture {
  explicit Fixture(Device d = Device::CPU) : ctx(d) {}
  BloomConfig config = BloomConfig::from_file(kDir + "/config.json");
  Context ctx;
  std::unique_ptr<Communicator> comm = make_local_communicator();
  BloomWeights w = BloomWeights::load(io::Checkpoint::open(kDir), config,
                                      TpPlan::make(config, 0, 1), DType::F32, ctx);
  io::SafetensorsFile ref = io::SafetensorsFile::open(kDir + "/reference.safetensors");

  std::vector<int32_t> ids(const std::string& name) const {
    const io::SafetensorsEntry& e = ref.at(name);
    EXPECT_EQ(e.dtype, "I64");
    std::vector<int32_t> out(static_cast<size_t>(e.numel()));
    const uint8_t* p = ref.bytes(e);
    for (size_t i = 0; i < out.size(); ++i) {
      int64_t v;
      std::memcpy(&v, p + 8 * i, 8);
      out[i] = static_cast<int32_t>(v);
    }
    return out;
  }
  std::vector<float> floats(const std::string& name) const {
    const io::SafetensorsEntry& e = ref.at(name);
    std::vector<float> out(static_cast<size_t>(e.numel()));
    ref.read_elements(e, 0, e.numel(), DType::F32, out.data());
    return out;
  }
};

Device g_device = Device::CPU;  // the device the tests below run on (CUDA: see the end)

Fixture& fixture() {
  static Fixture cpu(Device::CPU);
#ifdef BLOOM_WITH_CUDA
  if (g_device == Device::CUDA) {
    static Fixture gpu(Device::CUDA);
    return gpu;
  }
#endif
  return cpu;
}

PackedBatch one_sequence(const std::vector<int32_t>& ids) {
  PackedBatch b;
  b.ids = ids;
  b.cu_seqlens = {0, static_cast<int32_t>(ids.size())};
  b.max_seqlen = static_cast<int32_t>(ids.size());
  return b;
}

Workspace workspace(int64_t tokens, int64_t seqs, int64_t rows) {
  Fixture& f = fixture();
  return Workspace::make(f.config, f.w.plan, DType::F32, f.ctx.device(), {tokens, seqs, rows, 0});
}

// Logits of every token of a packed batch: [T, V].
std::vector<float> all_logits(const PackedBatch& b, const ActivationDump* dump = nullptr) {
  Fixture& f = fixture();
  Workspace ws = workspace(b.n_tokens(), b.n_seqs(), 1);
  bloom_forward(f.w, b, ws, *f.comm, f.ctx, dump);
  std::vector<float> out(static_cast<size_t>(b.n_tokens() * f.config.vocab));
  Buffer dev(out.size() * sizeof(float), f.ctx.device());
  Tensor logits = dev.tensor(DType::F32, {b.n_tokens(), f.config.vocab});
  bloom_logits(f.w, ws.h.rows(0, b.n_tokens()), logits, f.ctx);
  Tensor host(out.data(), DType::F32, Device::CPU, {b.n_tokens(), f.config.vocab});
  copy_tensor(logits, host);
  return out;
}

double max_abs_diff(const float* a, const float* b, size_t n) {
  double m = 0.0;
  for (size_t i = 0; i < n; ++i) m = std::max(m, std::fabs(static_cast<double>(a[i]) - b[i]));
  return m;
}

void check_LogitsMatchHfOnEverySequence() {
  Fixture& f = fixture();
  for (int s = 0; s < 6; ++s) {
    const std::string name = "seq" + std::to_string(s);
    const std::vector<float> ref = f.floats(name + ".logits");
    const std::vector<float> got = all_logits(one_sequence(f.ids(name + ".input_ids")));
    ASSERT_EQ(got.size(), ref.size()) << name;
    const double err = max_abs_diff(got.data(), ref.data(), ref.size());
    EXPECT_LT(err, 1e-4) << name << ": max |logit - HF| = " << err;
  }
}

void check_HiddenStatesOfSeq4MatchHf() {
  Fixture& f = fixture();
  std::vector<std::vector<float>> got(4);
  ActivationDump dump = [&](const char* step, int layer, const Tensor& t) {
    int slot = -1;
    if (std::strcmp(step, "embedding_ln") == 0) slot = 0;
    if (std::strcmp(step, "block") == 0 && layer < 2) slot = layer + 1;  // last block: after ln_f
    if (std::strcmp(step, "ln_f") == 0) slot = 3;
    if (slot < 0) return;
    got[slot].resize(static_cast<size_t>(t.numel()));
    Tensor host(got[slot].data(), DType::F32, Device::CPU, {t.numel()});
    copy_tensor(t.view({t.numel()}), host);
  };
  all_logits(one_sequence(f.ids("seq4.input_ids")), &dump);
  for (int i = 0; i < 4; ++i) {
    const std::vector<float> ref = f.floats("seq4.hidden." + std::to_string(i));
    ASSERT_EQ(got[i].size(), ref.size()) << "hidden." << i;
    const double err = max_abs_diff(got[i].data(), ref.data(), ref.size());
    EXPECT_LT(err, 1e-4) << "hidden." << i << ": max |h - HF| = " << err;
  }
}

// HF's left-padded batch: packing drops the pads, and every real row must equal HF's row.
void check_LeftPaddedBatchRowsEqualPackedRows() {
  Fixture& f = fixture();
  const std::vector<int32_t> ids = f.ids("batch.input_ids");
  const std::vector<int32_t> mask = f.ids("batch.attention_mask");
  const std::vector<float> ref = f.floats("batch.logits");
  const int64_t B = 3, S = 33, V = f.config.vocab;
  PackedBatch b;
  b.cu_seqlens = {0};
  std::vector<std::pair<int64_t, int64_t>> where;  // (batch row, position) of each packed token
  for (int64_t r = 0; r < B; ++r) {
    for (int64_t s = 0; s < S; ++s) {
      if (!mask[r * S + s]) continue;
      b.ids.push_back(ids[r * S + s]);
      where.push_back({r, s});
    }
    b.cu_seqlens.push_back(static_cast<int32_t>(b.ids.size()));
    b.max_seqlen = std::max(b.max_seqlen, b.cu_seqlens.back() - b.cu_seqlens[b.cu_seqlens.size() - 2]);
  }
  ASSERT_LT(b.ids.size(), static_cast<size_t>(B * S)) << "the fixture batch should hold pads";
  const std::vector<float> got = all_logits(b);
  double err = 0.0;
  for (size_t t = 0; t < where.size(); ++t) {
    const float* want = &ref[static_cast<size_t>((where[t].first * S + where[t].second) * V)];
    err = std::max(err, max_abs_diff(&got[t * V], want, static_cast<size_t>(V)));
  }
  EXPECT_LT(err, 1e-4) << "max |logit - HF padded batch| = " << err;
}

// The 256 reference passages, scored in packed batches of 16 the way the runner does.
void check_LambadaReferencePassages() {
  Fixture& f = fixture();
  const io::Tokenizer tok = io::Tokenizer::from_file(kDir + "/tokenizer.json");
  std::ifstream text(std::string(BLOOM_SOURCE_DIR) + "/tests/data/lambada/lambada_test.jsonl");
  std::ifstream refs(kDir + "/lambada_reference.jsonl");
  std::vector<nlohmann::json> ref;
  for (std::string line; std::getline(refs, line);) ref.push_back(nlohmann::json::parse(line));
  ASSERT_EQ(ref.size(), 256u);
  int compared_argmax = 0, skipped_argmax = 0;
  double worst_lp = 0.0;
  for (size_t b0 = 0; b0 < ref.size(); b0 += 16) {
    PackedBatch b;
    b.cu_seqlens = {0};
    std::vector<std::vector<int32_t>> targets;
    for (size_t i = b0; i < b0 + 16; ++i) {
      std::string line;
      std::getline(text, line);
      std::string t = nlohmann::json::parse(line)["text"].get<std::string>();
      while (!t.empty() && t.back() == '\n') t.pop_back();
      const size_t sp = t.rfind(' ');
      const std::vector<int32_t> c = tok.encode(t.substr(0, sp));
      const std::vector<int32_t> g = tok.encode(t.substr(sp));
      const int32_t start = static_cast<int32_t>(b.ids.size());
      b.ids.insert(b.ids.end(), c.begin(), c.end());
      b.ids.insert(b.ids.end(), g.begin(), g.end());
      for (size_t j = 0; j < g.size(); ++j) {
        b.rows.push_back(start + static_cast<int32_t>(c.size() + j) - 1);
        b.targets.push_back(g[j]);
      }
      b.cu_seqlens.push_back(static_cast<int32_t>(b.ids.size()));
      b.max_seqlen = std::max<int32_t>(b.max_seqlen, static_cast<int32_t>(c.size() + g.size()));
      targets.push_back(g);
    }
    Workspace ws = workspace(b.n_tokens(), 16, static_cast<int64_t>(b.rows.size()));
    bloom_forward(f.w, b, ws, *f.comm, f.ctx);
    const std::vector<RowScore> scores = bloom_score(f.w, b, ws, *f.comm, f.ctx);
    size_t r = 0;
    for (size_t i = 0; i < targets.size(); ++i) {
      const nlohmann::json& want = ref[b0 + i];
      double lp = 0.0;
      bool correct = true;
      std::vector<int32_t> pred;
      for (size_t j = 0; j < targets[i].size(); ++j, ++r) {
        lp += scores[r].logprob;
        pred.push_back(scores[r].argmax);
        correct = correct && scores[r].argmax == targets[i][j];
      }
      const double d = std::fabs(lp - want["target_logprob"].get<double>());
      worst_lp = std::max(worst_lp, d);
      EXPECT_LT(d, 1e-3) << "passage " << b0 + i;
      EXPECT_EQ(correct, want["correct"].get<bool>()) << "passage " << b0 + i;
      if (want["first_margin"].get<double>() > 1e-3) {
        EXPECT_EQ(pred, want["teacher_forced_argmax"].get<std::vector<int32_t>>()) << "passage " << b0 + i;
        ++compared_argmax;
      } else {
        ++skipped_argmax;
      }
    }
  }
  std::printf("lambada_reference: max |target_logprob - HF| = %.3g; predicted_ids compared on "
              "%d passages (%d below the 1e-3 margin)\n", worst_lp, compared_argmax, skipped_argmax);
  EXPECT_GT(compared_argmax, 200);
}

TEST(BloomForward, LogitsMatchHfOnEverySequence) { check_LogitsMatchHfOnEverySequence(); }
TEST(BloomForward, HiddenStatesOfSeq4MatchHf) { check_HiddenStatesOfSeq4MatchHf(); }
TEST(BloomForward, LeftPaddedBatchRowsEqualPackedRows) { check_LeftPaddedBatchRowsEqualPackedRows(); }
TEST(BloomForward, LambadaReferencePassages) { check_LambadaReferencePassages(); }

#ifdef BLOOM_WITH_CUDA
// The same comparisons with the CUDA backend in fp32 (within 1e-4 of HF).
class BloomForwardCuda : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!testing::gpu_present()) GTEST_SKIP() << "no CUDA device";
    g_device = Device::CUDA;
  }
  void TearDown() override { g_device = Device::CPU; }
};

TEST_F(BloomForwardCuda, LogitsMatchHfOnEverySequence) { check_LogitsMatchHfOnEverySequence(); }
TEST_F(BloomForwardCuda, HiddenStatesOfSeq4MatchHf) { check_HiddenStatesOfSeq4MatchHf(); }
TEST_F(BloomForwardCuda, LeftPaddedBatchRowsEqualPackedRows) { check_LeftPaddedBatchRowsEqualPackedRows(); }
TEST_F(BloomForwardCuda, LambadaReferencePassages) { check_LambadaReferencePassages(); }
#endif

}  // namespace
}  // namespace bloom

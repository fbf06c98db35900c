// Tensor parallelism on the CPU backend over MPI, against HF's reference logits: every rank of
// a TP group holds only its slices (heads, MLP columns, vocab rows; ALiBi by global head), and
// the group's log-probs and argmaxes must equal a log-softmax of HF's full logits. With 4 ranks
// the world is split into 2 groups of tp 2 (and with 3 ranks, one group of tp 3).
#include <gtest/gtest.h>
#include <mpi.h>

#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "engine/bloom.h"
#include "engine/micro_batches.h"
#include "core/comm_mpi.h"
#include "io/checkpoint.h"
#include "io/safetensors.h"

namespace bloom {
namespace {

const std::string kDir = std::string(BLOOM_SOURCE_DIR) + "/tests/data/tiny-bloom";

// Each test runs in this rank's TP group of the world: tp 2 (2 or 4 ranks: one or two groups)
// or tp 3 (3 ranks).
class TensorParallelCpu : public ::testing::Test {
 protected:
  TensorParallelCpu() {
    int world = 0, me = 0;
    MPI_Comm_size(MPI_COMM_WORLD, &world);
    MPI_Comm_rank(MPI_COMM_WORLD, &me);
    tp = world % 2 == 0 ? 2 : world;
    MPI_Comm_split(MPI_COMM_WORLD, me / tp, me % tp, &group);
    comm = make_mpi_communicator(group);
    plan = TpPlan::make(c, comm->rank(), comm->size());
  }
  ~TensorParallelCpu() override {
    comm.reset();
    MPI_Comm_free(&group);
  }
  int tp = 0;
  MPI_Comm group = MPI_COMM_NULL;
  std::unique_ptr<Communicator> comm;
  Context ctx{Device::CPU};
  const BloomConfig c = BloomConfig::from_file(kDir + "/config.json");
  TpPlan plan;
};

// Ids of the named reference sequences, packed back to back; every position scored.
PackedBatch packed(const io::SafetensorsFile& ref, std::initializer_list<const char*> names) {
  PackedBatch b;
  b.cu_seqlens = {0};
  for (const char* s : names) {
    const io::SafetensorsEntry& ids = ref.at(std::string(s) + ".input_ids");
    const int32_t start = static_cast<int32_t>(b.ids.size());
    for (int64_t i = 0; i < ids.numel(); ++i) {
      int64_t v;
      std::memcpy(&v, ref.bytes(ids) + 8 * i, 8);
      b.ids.push_back(static_cast<int32_t>(v));
    }
    for (int64_t i = 0; i + 1 < ids.numel(); ++i) {
      b.rows.push_back(start + static_cast<int32_t>(i));
      b.targets.push_back(b.ids[static_cast<size_t>(start + i + 1)]);
    }
    b.cu_seqlens.push_back(static_cast<int32_t>(b.ids.size()));
    b.max_seqlen = std::max<int32_t>(b.max_seqlen, static_cast<int32_t>(ids.numel()));
  }
  return b;
}

TEST_F(TensorParallelCpu, ScoresMatchHfLogSoftmax) {
  const BloomWeights w = BloomWeights::load(io::Checkpoint::open(kDir), c, plan, DType::F32, ctx);
  EXPECT_EQ(w.layers[0].qkv_w.dim(0), 3 * c.hidden / tp);
  EXPECT_EQ(w.layers[0].proj_w.dim(1), 4 * c.hidden / tp);

  const io::SafetensorsFile ref = io::SafetensorsFile::open(kDir + "/reference.safetensors");
  // Two sequences packed together (seq3, seq5), each position scored against its next token.
  const PackedBatch b = packed(ref, {"seq3", "seq5"});
  std::vector<const float*> ref_rows;
  std::vector<std::vector<float>> ref_logits;
  for (const char* s : {"seq3", "seq5"}) {
    const io::SafetensorsEntry& lg = ref.at(std::string(s) + ".logits");
    ref_logits.emplace_back(static_cast<size_t>(lg.numel()));
    ref.read_elements(lg, 0, lg.numel(), DType::F32, ref_logits.back().data());
    for (int64_t i = 0; i + 1 < lg.numel() / c.vocab; ++i)
      ref_rows.push_back(ref_logits.back().data() + i * c.vocab);
  }
  Workspace ws = Workspace::make(c, plan, DType::F32, Device::CPU,
                                 {b.n_tokens(), 2, static_cast<int64_t>(b.rows.size()), 64});
  bloom_forward(w, b, ws, *comm, ctx);
  const std::vector<RowScore> got = bloom_score(w, b, ws, *comm, ctx);
  double worst = 0.0;
  for (size_t r = 0; r < got.size(); ++r) {
    const float* l = ref_rows[r];
    double mx = l[0];
    int32_t arg = 0;
    for (int64_t v = 1; v < c.vocab; ++v)
      if (l[v] > mx) mx = l[v], arg = static_cast<int32_t>(v);
    double sum = 0.0;
    for (int64_t v = 0; v < c.vocab; ++v) sum += std::exp(l[v] - mx);
    const double want = l[b.targets[r]] - mx - std::log(sum);
    worst = std::max(worst, std::fabs(got[r].logprob - want));
    // argmax where HF's top-2 margin leaves no doubt
    double second = -1e30;
    for (int64_t v = 0; v < c.vocab; ++v)
      if (v != arg) second = std::max(second, static_cast<double>(l[v]));
    if (mx - second > 1e-3) EXPECT_EQ(got[r].argmax, arg) << "row " << r;
  }
  EXPECT_LT(worst, 1e-4) << "tp " << tp << ": max |logprob - HF| = " << worst;
}

// FP8 mode runs its products over each micro-batch's row count rounded up to 16
// (engine/workspace.h): the rows past a part's own are scratch. Under tp >= 2 a batch of two
// sequences is two micro-batches; the first part's padding rows must not reach the second
// part's outputs (its row-parallel partial sums wait in proj while the first part computes),
// so the packed batch must score as each sequence does alone (one micro-batch each).
TEST_F(TensorParallelCpu, Fp8PaddingRowsStayInTheirMicroBatch) {
  const BloomWeights w =
      BloomWeights::load(io::Checkpoint::open(kDir), c, plan, DType::F8E4M3, ctx);
  const io::SafetensorsFile ref = io::SafetensorsFile::open(kDir + "/reference.safetensors");

  const PackedBatch both = packed(ref, {"seq5", "seq3"});
  const std::vector<int32_t> cuts = MicroBatches::split_points(both, tp);
  ASSERT_EQ(cuts.size(), 3u) << "two micro-batches expected";
  ASSERT_NE(both.cu_seqlens[1] % kGemmRows, 0) << "the first part must need padding rows";
  const WorkspaceLimits lim{both.n_tokens(), 2, static_cast<int64_t>(both.rows.size()), 64};
  Workspace ws = Workspace::make(c, plan, DType::F8E4M3, Device::CPU, lim);
  bloom_forward(w, both, ws, *comm, ctx);
  const std::vector<RowScore> got = bloom_score(w, both, ws, *comm, ctx);

  std::vector<RowScore> alone;
  for (const char* name : {"seq5", "seq3"}) {
    const PackedBatch one = packed(ref, {name});
    bloom_forward(w, one, ws, *comm, ctx);
    for (const RowScore& r : bloom_score(w, one, ws, *comm, ctx)) alone.push_back(r);
  }
  ASSERT_EQ(got.size(), alone.size());
  for (size_t r = 0; r < got.size(); ++r) {
    EXPECT_NEAR(got[r].logprob, alone[r].logprob, 1e-5) << "row " << r;
    EXPECT_EQ(got[r].argmax, alone[r].argmax) << "row " << r;
  }
}

}  // namespace
}  // namespace bloom

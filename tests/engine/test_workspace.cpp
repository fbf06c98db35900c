// Workspace (engine/workspace.h): the linear layers' outputs and the FP8 scratch have room for
// each micro-batch to round its rows up to kGemmRows, the memory starts zeroed (padding rows
// of xq are read before anything writes them: never NaN), and with_rows grows a view only
// inside the buffer it lies in.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "engine/workspace.h"
#include "tests/test_support.h"

namespace bloom {
namespace {

const std::string kTiny = std::string(BLOOM_SOURCE_DIR) + "/tests/data/tiny-bloom";

struct Made {
  BloomConfig c = BloomConfig::from_file(kTiny + "/config.json");
  TpPlan plan = TpPlan::make(c, 0, 1);
  Workspace ws = Workspace::make(c, plan, DType::F8E4M3, Device::CPU, {37, 4, 8, 0});
};

TEST(Workspace, LinearOutputsHaveRoomForTwoRoundedMicroBatches) {
  Made m;
  const int64_t rows = 37 + kMaxMicroBatches * (kGemmRows - 1);
  EXPECT_EQ(m.ws.padded_tokens(), rows);
  for (const Tensor* t : {&m.ws.qkv, &m.ws.attn, &m.ws.proj, &m.ws.ffn}) EXPECT_EQ(t->dim(0), rows);
  EXPECT_EQ(m.ws.x.dim(0), 37);  // the residual stream is not padded
  EXPECT_EQ(m.ws.xs.numel(), rows);
  EXPECT_EQ(m.ws.xq.numel(), rows * m.plan.ffn_local);
  // The worst split: 1 + 36 tokens -> parts at rows 0 and 16, the second rounded to 48 rows.
  EXPECT_LE(round_up_rows(1) + round_up_rows(36), rows);
}

TEST(Workspace, StartsZeroed) {
  Made m;
  const auto* q = m.ws.xq.data_as<uint8_t>();
  const auto* s = m.ws.xs.data_as<float>();
  for (int64_t i = 0; i < m.ws.xq.numel(); ++i) ASSERT_EQ(q[i], 0) << "xq byte " << i;
  for (int64_t i = 0; i < m.ws.xs.numel(); ++i) ASSERT_EQ(s[i], 0.0f) << "xs " << i;
}

TEST(Workspace, WithRowsGrowsAViewInsideItsBuffer) {
  Made m;
  const Tensor part = m.ws.ffn.rows(16, 5);
  const Tensor grown = m.ws.with_rows(part, round_up_rows(5));
  EXPECT_EQ(grown.data, part.data);
  EXPECT_EQ(grown.dim(0), 16);
  EXPECT_EQ(grown.dim(1), part.dim(1));
  // attn and proj have the same width at tp 1: the view's address decides which buffer it is.
  EXPECT_EQ(m.ws.with_rows(m.ws.proj.rows(0, 3), 16).data, m.ws.proj.data);
}

TEST(Workspace, WithRowsRefusesToLeaveTheBuffer) {
  Made m;
  const int64_t rows = m.ws.padded_tokens();
  EXPECT_ERROR_HAS(m.ws.with_rows(m.ws.qkv.rows(rows - 5, 5), 16), "of a workspace buffer");
  EXPECT_ERROR_HAS(m.ws.with_rows(m.ws.qkv.rows(0, 20), 16), "of a workspace buffer");
  std::vector<float> elsewhere(16 * 96);
  const Tensor foreign(elsewhere.data(), DType::F32, Device::CPU, {1, 96});
  EXPECT_ERROR_HAS(m.ws.with_rows(foreign, 16), "not a view of a linear layer's output");
  EXPECT_ERROR_HAS(m.ws.with_rows(m.ws.x.rows(0, 1), 16), "not a view");
}

}  // namespace
}  // namespace bloom

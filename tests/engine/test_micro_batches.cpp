// MicroBatches::split_points: where a batch is cut for the tensor-parallel overlap. A wrong cut
// (not at a sequence boundary, not the one nearest the middle, a split at tp 1) fails here; the
// overlap's numerics are covered by the TP tests (tests/engine/test_tp_cpu.cpp under mpirun).
#include <gtest/gtest.h>

#include "engine/micro_batches.h"

namespace bloom {
namespace {

PackedBatch batch_of(const std::vector<int32_t>& lengths) {
  PackedBatch b;
  b.cu_seqlens.push_back(0);
  for (int32_t n : lengths) {
    for (int32_t i = 0; i < n; ++i) b.ids.push_back(5);
    b.cu_seqlens.push_back(static_cast<int32_t>(b.ids.size()));
  }
  return b;
}

TEST(MicroBatches, OnePartWithoutTensorParallelism) {
  EXPECT_EQ(MicroBatches::split_points(batch_of({4, 4, 4, 4}), 1), (std::vector<int32_t>{0, 4}));
}

TEST(MicroBatches, OnePartForASingleSequence) {
  EXPECT_EQ(MicroBatches::split_points(batch_of({40}), 2), (std::vector<int32_t>{0, 1}));
}

TEST(MicroBatches, CutAtTheBoundaryNearestTheMiddleToken) {
  // tokens 0..100; boundaries at 50 (after 1 seq), 60, 100: 50 is nearest the middle (50).
  EXPECT_EQ(MicroBatches::split_points(batch_of({50, 10, 40}), 2), (std::vector<int32_t>{0, 1, 3}));
  // boundaries at 10, 20, 70, 100 (T = 100): 70 is 20 from the middle, 20 is 30 away.
  EXPECT_EQ(MicroBatches::split_points(batch_of({10, 10, 50, 30}), 4),
            (std::vector<int32_t>{0, 3, 4}));
  // equal halves of equal sequences.
  EXPECT_EQ(MicroBatches::split_points(batch_of({7, 7, 7, 7, 7, 7}), 2),
            (std::vector<int32_t>{0, 3, 6}));
}

}  // namespace
}  // namespace bloom

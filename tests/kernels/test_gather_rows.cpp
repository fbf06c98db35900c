// gather_rows (kernels/cpu/gather_rows.cpp, kernels/cuda/gather_rows.cu) against its formula:
//   y[r, :] = x[rows[r], :]. A copy: bit-exact in every dtype.
#include "tests/kernels/op_test.h"

namespace bloom::ops::testing {
namespace {

TEST_P(OpTest, GatherRows) {
  const int64_t T = 50, R = 7;
  for (int64_t H : {96, 36, 3}) {
    const auto x = randn(T * H);
    const std::vector<int32_t> rows = {0, 49, 3, 3, 17, 48, 1};  // ends, repeats, any order
    DeviceTensor d_x = make({T, H}), d_rows = make(DType::I32, {R}), d_y = make({R, H});
    d_x.upload(x);
    d_rows.upload_i32(rows);
    d_y.poison();
    gather_rows(ctx(), d_x.t, d_rows.t, d_y.t);
    std::vector<double> want(R * H);
    for (int64_t r = 0; r < R; ++r)
      for (int64_t i = 0; i < H; ++i) want[r * H + i] = x[rows[r] * H + i];
    expect_close(d_y.download(), want, 0.0, tag() + " gather_rows H=" + std::to_string(H));
  }
}

TEST_P(OpTest, GatherNoRows) {
  DeviceTensor d_x = make({4, 8}), d_rows = make(DType::I32, {0}), d_y = make({0, 8});
  d_x.upload(randn(32));
  EXPECT_NO_THROW(gather_rows(ctx(), d_x.t, d_rows.t, d_y.t));
}

}  // namespace
}  // namespace bloom::ops::testing

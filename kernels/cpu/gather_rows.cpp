// y[r, :] = x[rows[r], :]. x [T, H] fp32, rows [R] i32 (each in [0, T)), y [R, H].
#include <cstring>

#include "core/check.h"
#include "kernels/cpu/ops_cpu.h"

namespace bloom::ops::cpu {

void gather_rows(Context&, const Tensor& x, const Tensor& rows, Tensor& y) {
  const int64_t H = x.dim(-1), T = x.numel() / H, R = rows.numel();
  BLOOM_CHECK(y.numel() == R * H, "gather_rows: x {} rows {} y {}", x.shape_str(),
              rows.shape_str(), y.shape_str());
  const int32_t* idx = rows.data_as<int32_t>();
  for (int64_t r = 0; r < R; ++r) {
    BLOOM_CHECK(idx[r] >= 0 && idx[r] < T, "gather_rows: row {} out of [0, {})", idx[r], T);
    std::memcpy(y.data_as<float>() + r * H, x.data_as<float>() + idx[r] * H, H * sizeof(float));
  }
}

}  // namespace bloom::ops::cpu

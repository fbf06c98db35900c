// y[r, :] = x[rows[r], :]. x [T, H] fp32, rows [R] i32 (each in [0, T): the contract in
// kernels/dispatch.cpp checked them), y [R, H].
#include <cstring>

#include "kernels/cpu/ops_cpu.h"

namespace bloom::ops::cpu {

void gather_rows(Context&, const Tensor& x, const Tensor& rows, Tensor& y) {
  const int64_t H = x.dim(-1), R = rows.numel();
  const int32_t* idx = rows.data_as<int32_t>();
  for (int64_t r = 0; r < R; ++r) {
    std::memcpy(y.data_as<float>() + r * H, x.data_as<float>() + idx[r] * H, H * sizeof(float));
  }
}

}  // namespace bloom::ops::cpu

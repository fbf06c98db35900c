// Per-row FP8 quantization (reference): x [T, K] fp32 -> q [T, K] e4m3, scale [T] f32, with the
// host conversion of core/fp8.h (round to nearest even, saturating), the same bytes the CUDA
// kernel writes.
#include "core/fp8.h"
#include "kernels/cpu/ops_cpu.h"

namespace bloom::ops::cpu {

void quantize_fp8(Context&, const Tensor& x, Fp8Matrix& out) {
  const int64_t K = x.dim(-1), T = x.numel() / K;
  quantize_rows_e4m3(x.data_as<float>(), T, K, out.q.data_as<uint8_t>(), out.scale.data_as<float>());
}

}  // namespace bloom::ops::cpu

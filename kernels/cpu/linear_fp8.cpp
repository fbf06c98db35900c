// FP8 linear (reference): both operands dequantized to fp32 (value = e4m3 x row scale: exact in
// fp32) and multiplied by cpu::linear (OpenBLAS sgemm, bias, GELU). The GPU sums e4m3 products
// and scales afterwards; the two agree to fp32 rounding, since scaling commutes with the sum.
// The dequantized copies live in per-thread buffers that grow to the largest call and stay.
#include <vector>

#include "core/fp8.h"
#include "kernels/cpu/ops_cpu.h"

namespace bloom::ops::cpu {

namespace {
Tensor dequantize(const Fp8Matrix& m, std::vector<float>& buf) {
  const int64_t cols = m.q.dim(-1), rows = m.q.numel() / cols;
  buf.resize(static_cast<size_t>(rows * cols));
  const uint8_t* q = m.q.data_as<uint8_t>();
  const float* s = m.scale.data_as<float>();
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < cols; ++j) buf[r * cols + j] = e4m3_to_float(q[r * cols + j]) * s[r];
  return Tensor(buf.data(), DType::F32, Device::CPU, {rows, cols});
}
}  // namespace

void linear_fp8(Context& ctx, const Fp8Matrix& x, const Fp8Matrix& w, const Tensor& bias,
                Activation act, Tensor& y) {
  thread_local std::vector<float> xbuf, wbuf;
  const Tensor xf = dequantize(x, xbuf), wf = dequantize(w, wbuf);
  cpu::linear(ctx, xf, wf, bias, act, y);
}

}  // namespace bloom::ops::cpu

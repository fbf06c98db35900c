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
  static const std::vector<float> lut = [] {  // all 256 codes: a table beats bit arithmetic
    std::vector<float> t(256);
    for (int b = 0; b < 256; ++b) t[b] = e4m3_to_float(static_cast<uint8_t>(b));
    return t;
  }();
  const int64_t cols = m.q.dim(-1), rows = m.q.numel() / cols;
  buf.resize(static_cast<size_t>(rows * cols));
  const uint8_t* q = m.q.data_as<uint8_t>();
  const float* s = m.scale.data_as<float>();
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < cols; ++j) buf[r * cols + j] = lut[q[r * cols + j]] * s[r];
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

// FP8 E4M3 (the OCP "e4m3fn" format: torch.float8_e4m3fn, CUDA's __nv_fp8_e4m3) on the host,
// and the per-row dynamic scaling the FP8 evaluation mode uses (model.dtype: fp8).
//   e4m3: 1 sign, 4 exponent (bias 7), 3 mantissa bits; no infinity; 0x7f/0xff are NaN; largest
//   finite 448, smallest normal 2^-6, subnormals m x 2^-9.
//   float_to_e4m3 rounds to nearest even and saturates to +-448 (CUDA's __NV_SATFINITE), so the
//   CPU reference and the GPU quantize a value to the same byte.
// Row scaling: for a row r of a [rows, cols] matrix, amax = max |x[r, :]|,
//   scale[r] = amax / 448 and q[r, j] = e4m3(x[r, j] * (448 / amax))   (amax 0: scale 1, q = 0),
// so x[r, j] ~= e4m3_to_float(q[r, j]) * scale[r]. Weights use it per output channel (rows of
// PyTorch's [out, in] layout), activations per token.
#pragma once

#include <cstdint>

namespace bloom {

constexpr float kE4M3Max = 448.0f;

float e4m3_to_float(uint8_t v);
uint8_t float_to_e4m3(float f);

/// The factors of the row scaling above: x * inv rounds to e4m3, scale maps it back.
struct RowScale {
  float inv = 1.0f;    // 448 / amax
  float scale = 1.0f;  // amax / 448
};
RowScale row_scale(float amax);

/// q [rows, cols] e4m3 bytes and scale [rows] from x [rows, cols] fp32 (row-major).
void quantize_rows_e4m3(const float* x, int64_t rows, int64_t cols, uint8_t* q, float* scale);

}  // namespace bloom

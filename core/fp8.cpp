// Host FP8 E4M3 conversions and row scaling (see fp8.h). Plain bit arithmetic: no dependence on
// the C library's rounding mode except nearbyint's default round-half-to-even.
#include "core/fp8.h"

#include <cmath>
#include <cstring>

namespace bloom {

float e4m3_to_float(uint8_t v) {
  const float sign = (v & 0x80u) ? -1.0f : 1.0f;
  const int e = (v >> 3) & 0xf, m = v & 0x7;
  if (e == 0xf && m == 0x7) return std::nanf("");
  if (e == 0) return sign * std::ldexp(static_cast<float>(m), -9);          // subnormal
  return sign * std::ldexp(1.0f + static_cast<float>(m) / 8.0f, e - 7);
}

uint8_t float_to_e4m3(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  const uint8_t sign = static_cast<uint8_t>((bits >> 24) & 0x80u);
  const uint32_t abs_bits = bits & 0x7fffffffu;
  if (abs_bits > 0x7f800000u) return sign | 0x7fu;                 // NaN stays NaN
  float a;
  std::memcpy(&a, &abs_bits, 4);
  if (a >= kE4M3Max) return sign | 0x7eu;                          // saturate (inf too)
  if (a < 0.015625f) {                                             // below 2^-6: subnormal
    // m x 2^-9, m = 0..8 (8 is the smallest normal, whose encoding is also 8).
    return sign | static_cast<uint8_t>(std::nearbyint(a * 512.0f));
  }
  const uint32_t exp = (abs_bits >> 23) - 127 + 7;                 // 1..15
  const uint32_t mant = abs_bits & 0x7fffffu;
  uint32_t q = (exp << 3) | (mant >> 20);
  const uint32_t rem = mant & 0xfffffu, half = 0x80000u;
  if (rem > half || (rem == half && (q & 1u))) ++q;                // nearest even; carries into exp
  if (q > 0x7eu) q = 0x7eu;                                        // 0x7f would be NaN
  return sign | static_cast<uint8_t>(q);
}

RowScale row_scale(float amax) {
  if (!(amax > 0.0f) || !std::isfinite(amax)) return {};
  return {kE4M3Max / amax, amax / kE4M3Max};
}

void quantize_rows_e4m3(const float* x, int64_t rows, int64_t cols, uint8_t* q, float* scale) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * cols;
    float amax = 0.0f;
    for (int64_t j = 0; j < cols; ++j) amax = std::fmax(amax, std::fabs(xr[j]));
    const RowScale s = row_scale(amax);
    uint8_t* qr = q + r * cols;
    for (int64_t j = 0; j < cols; ++j) qr[j] = float_to_e4m3(xr[j] * s.inv);
    scale[r] = s.scale;
  }
}

}  // namespace bloom

// FP8 E4M3 host conversions (core/fp8.h) against torch's float8_e4m3fn casts
// (tests/data/fp8/e4m3_reference.txt, made by make_e4m3_reference.py beside it), and the row
// scaling: every value within half an e4m3 step of x / scale, the row's largest value at 448.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>
#include <vector>

#include "core/fp8.h"

namespace bloom {
namespace {

TEST(Fp8, EncodingMatchesTorch) {
  std::ifstream in(BLOOM_SOURCE_DIR "/tests/data/fp8/e4m3_reference.txt");
  ASSERT_TRUE(in.good());
  int n = 0, wrong = 0;
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream ls(line);
    uint32_t bits = 0;
    int expect = 0;
    ls >> std::hex >> bits >> std::dec >> expect;
    float f;
    std::memcpy(&f, &bits, 4);
    const int got = float_to_e4m3(f);
    if (got != expect && ++wrong <= 10)
      ADD_FAILURE() << "e4m3(" << f << ") = " << got << ", torch says " << expect;
    ++n;
  }
  EXPECT_GT(n, 3000);
  EXPECT_EQ(wrong, 0);
}

TEST(Fp8, DecodeIsExactAndRoundTrips) {
  for (int b = 0; b < 256; ++b) {
    const float v = e4m3_to_float(static_cast<uint8_t>(b));
    if ((b & 0x7f) == 0x7f) {
      EXPECT_TRUE(std::isnan(v)) << b;
      continue;
    }
    // -0.0 encodes as 0x80; everything else maps back to its own byte.
    EXPECT_EQ(float_to_e4m3(v), b) << "byte " << b << " value " << v;
  }
  EXPECT_EQ(e4m3_to_float(0x7e), 448.0f);
  EXPECT_EQ(e4m3_to_float(0x01), std::ldexp(1.0f, -9));
  EXPECT_EQ(e4m3_to_float(0x38), 1.0f);
}

TEST(Fp8, RowScalingPutsEachRowsMaximumAt448) {
  std::mt19937 rng(3);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  const int64_t rows = 7, cols = 301;
  std::vector<float> x(rows * cols), scale(rows);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < cols; ++j) x[r * cols + j] = nd(rng) * std::pow(10.0f, float(r) - 3);
  x[2 * cols + 5] = -1e3f;                          // one row with an outlier
  for (int64_t j = 0; j < cols; ++j) x[4 * cols + j] = 0.0f;  // an all-zero row
  std::vector<uint8_t> q(rows * cols);
  quantize_rows_e4m3(x.data(), rows, cols, q.data(), scale.data());
  for (int64_t r = 0; r < rows; ++r) {
    float amax = 0.0f, qmax = 0.0f;
    for (int64_t j = 0; j < cols; ++j) {
      const float xv = x[r * cols + j], back = e4m3_to_float(q[r * cols + j]) * scale[r];
      amax = std::max(amax, std::fabs(xv));
      qmax = std::max(qmax, std::fabs(e4m3_to_float(q[r * cols + j])));
      // e4m3 keeps 3 mantissa bits: relative error <= 2^-4 for normals, absolute 2^-10 x scale below.
      EXPECT_LE(std::fabs(back - xv), std::max(std::fabs(xv) / 16.0f, std::ldexp(scale[r], -10)))
          << "row " << r << " col " << j;
    }
    if (r == 4) {
      EXPECT_EQ(scale[r], 1.0f);
      EXPECT_EQ(qmax, 0.0f);
    } else {
      EXPECT_FLOAT_EQ(scale[r], amax / 448.0f);
      EXPECT_EQ(qmax, 448.0f);
    }
  }
}

}  // namespace
}  // namespace bloom

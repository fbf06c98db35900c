// Host dtype conversion (fp16/bf16 round to nearest even) and tensor views.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "core/check.h"
#include "core/tensor.h"

namespace bloom {
namespace {

TEST(Tensor, HalfRoundTripAndRounding) {
  // Representable values survive exactly (normals, the largest, the smallest normal/subnormal).
  for (float f : {0.f, 1.f, -2.5f, 65504.f, std::ldexp(1.0f, -14), std::ldexp(1.0f, -24)})
    EXPECT_EQ(half_to_float(float_to_half(f)), f) << f;
  EXPECT_NEAR(half_to_float(float_to_half(0.333333f)), 0.333333f, 1e-4);
  EXPECT_EQ(float_to_half(1.0f), 0x3c00);
  EXPECT_EQ(float_to_half(65520.f), 0x7c00);  // rounds to inf
  EXPECT_EQ(float_to_half(1.0f + 1.0f / 2048), 0x3c00);  // tie -> even
  EXPECT_EQ(float_to_half(1.0f + 3.0f / 2048), 0x3c02);  // tie -> even (up)
  EXPECT_EQ(half_to_float(0x0001), std::ldexp(1.0f, -24));
  EXPECT_TRUE(std::isnan(half_to_float(float_to_half(std::numeric_limits<float>::quiet_NaN()))));
}

TEST(Tensor, Bf16Rounding) {
  EXPECT_EQ(float_to_bf16(1.0f), 0x3f80);
  EXPECT_EQ(bf16_to_float(float_to_bf16(3.140625f)), 3.140625f);
  EXPECT_EQ(float_to_bf16(1.0f + 1.0f / 256), 0x3f80);  // tie -> even
  EXPECT_TRUE(std::isnan(bf16_to_float(float_to_bf16(std::nanf("")))));
}

TEST(Tensor, ViewsAndChecks) {
  Buffer buf(6 * 4 * sizeof(float), Device::CPU);
  Tensor t = buf.tensor(DType::F32, {6, 4});
  EXPECT_EQ(t.numel(), 24);
  Tensor r = t.rows(2, 3);
  EXPECT_EQ(r.data_as<float>(), t.data_as<float>() + 8);
  EXPECT_THROW(t.rows(4, 3), Error);
  EXPECT_THROW(t.view({5, 5}), Error);
  EXPECT_THROW(t.data_as<int32_t>(), Error);
  EXPECT_THROW(buf.tensor(DType::F32, {7, 4}), Error);
  EXPECT_THROW(parse_dtype("fp4"), Error);
  EXPECT_EQ(parse_dtype("fp8"), DType::F8E4M3);
}

}  // namespace
}  // namespace bloom

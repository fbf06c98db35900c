// The kernel test suite's fixture: every op test is a TEST_P of OpTest, run once per
// (device, dtype) case (CTranslate2's device x dtype parametrisation): CPU x fp32 always, CUDA x
// {fp32, fp16, bf16} in CUDA builds, skipping itself without a GPU. Each op is compared with an
// independent reference written in its test file (double precision plain loops, straight from
// the formula in kernels/ops.h) on random inputs rounded to the tested dtype, so that only the
// op's own arithmetic is measured. Outputs are poisoned with NaN before each run (a row the op
// forgets to write fails the comparison).
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "core/context.h"
#include "core/tensor.h"
#include "kernels/ops.h"

namespace bloom::ops::testing {

struct OpCase {
  Device device;
  DType dtype;
};

/// A tensor owning memory on the tested device, filled and read back as fp32 on the host.
struct DeviceTensor {
  Buffer buf;
  Tensor t;

  DeviceTensor(Device device, DType dtype, std::initializer_list<int64_t> shape);
  void upload(const std::vector<float>& v);
  void upload_i32(const std::vector<int32_t>& v);
  std::vector<float> download() const;
  void poison();  // every byte 0xFF: NaN in every floating dtype
};

/// v rounded to dtype t and widened back: the values a tensor of dtype t holds.
std::vector<float> rounded(const std::vector<float>& v, DType t);

/// Relative tolerance of results stored in dtype t: fp32 1e-5, fp16 1e-2, bf16 4e-2.
double dtype_rtol(DType t);

/// got within rtol of want, element by element, relative to |want_i| + rms(want) (so values
/// near zero in a tensor of magnitude ~1 are not held to a tighter bound than the rest).
/// Empty when close; otherwise a message with the count, the first bad element and the NMSE.
std::string compare(const std::vector<float>& got, const std::vector<double>& want, double rtol);

/// gtest check around compare().
void expect_close(const std::vector<float>& got, const std::vector<double>& want, double rtol,
                  const std::string& what);

/// Calls f and expects a bloom::Error whose message contains `needle` (e.g. "linear: w ").
template <typename F>
void expect_error(F&& f, const std::string& needle);

class OpTest : public ::testing::TestWithParam<OpCase> {
 protected:
  void SetUp() override;

  Device device() const { return GetParam().device; }
  DType dt() const { return GetParam().dtype; }
  Context& ctx() { return *ctx_; }
  /// A tensor of the tested device and dtype (or `dtype` when given).
  DeviceTensor make(std::initializer_list<int64_t> shape) { return {device(), dt(), shape}; }
  DeviceTensor make(DType dtype, std::initializer_list<int64_t> shape) {
    return {device(), dtype, shape};
  }
  /// Normal(mean, sd) values, rounded to the tested dtype.
  std::vector<float> randn(size_t n, float sd = 1.0f, float mean = 0.0f);
  int uniform_int(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }
  /// "cuda fp16": for failure messages.
  std::string tag() const;

  std::unique_ptr<Context> ctx_;
  std::mt19937 rng_;
};

std::string error_message_of(const std::exception& e);

template <typename F>
void expect_error(F&& f, const std::string& needle) {
  try {
    f();
    ADD_FAILURE() << "no error; expected one containing '" << needle << "'";
  } catch (const std::exception& e) {
    const std::string msg = error_message_of(e);
    EXPECT_NE(msg.find(needle), std::string::npos)
        << "error '" << msg << "' does not contain '" << needle << "'";
  }
}

}  // namespace bloom::ops::testing

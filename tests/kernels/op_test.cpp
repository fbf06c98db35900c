// The kernel suite's fixture (op_test.h) and its instantiations: CPU x fp32 always (CPU ops are
// fp32 only), CUDA x {fp32, fp16, bf16} in CUDA builds. Test names read
// CPU/OpTest.Linear/fp32 and CUDA/OpTest.Linear/bf16; CTest labels the first cpu, the second cuda.
#include "tests/kernels/op_test.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <sstream>

#include "core/check.h"
#include "tests/test_support.h"


namespace bloom::ops::testing {

namespace {

int64_t count(std::initializer_list<int64_t> shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

}  // namespace

DeviceTensor::DeviceTensor(Device device, DType dtype, std::initializer_list<int64_t> shape) {
  const size_t bytes = static_cast<size_t>(count(shape)) * dtype_size(dtype);
  buf = Buffer(std::max<size_t>(bytes, 16), device);
  t = buf.tensor(dtype, shape);
}

void DeviceTensor::upload(const std::vector<float>& v) {
  ASSERT_EQ(static_cast<int64_t>(v.size()), t.numel());
  std::vector<char> host(t.nbytes());
  convert_host(v.data(), DType::F32, host.data(), t.dtype, v.size());
  Tensor src(host.data(), t.dtype, Device::CPU, {t.numel()});
  Tensor dst = t.view({t.numel()});
  copy_tensor(src, dst);
}

void DeviceTensor::upload_i32(const std::vector<int32_t>& v) {
  ASSERT_EQ(static_cast<int64_t>(v.size()), t.numel());
  Tensor src(const_cast<int32_t*>(v.data()), DType::I32, Device::CPU, {t.numel()});
  Tensor dst = t.view({t.numel()});
  copy_tensor(src, dst);
}

std::vector<float> DeviceTensor::download() const {
  std::vector<char> host(t.nbytes());
  Tensor dst(host.data(), t.dtype, Device::CPU, {t.numel()});
  copy_tensor(t.view({t.numel()}), dst);
  std::vector<float> out(static_cast<size_t>(t.numel()));
  convert_host(host.data(), t.dtype, out.data(), DType::F32, out.size());
  return out;
}

void DeviceTensor::poison() {
  std::vector<unsigned char> ff(t.nbytes(), 0xFF);
  Tensor src(ff.data(), t.dtype, Device::CPU, {t.numel()});
  Tensor dst = t.view({t.numel()});
  copy_tensor(src, dst);
}

std::vector<float> rounded(const std::vector<float>& v, DType t) {
  if (t == DType::F32) return v;
  std::vector<uint16_t> narrow(v.size());
  std::vector<float> out(v.size());
  convert_host(v.data(), DType::F32, narrow.data(), t, v.size());
  convert_host(narrow.data(), t, out.data(), DType::F32, v.size());
  return out;
}

double dtype_rtol(DType t) {
  switch (t) {
    case DType::F16: return 1e-2;
    case DType::BF16: return 4e-2;
    default: return 1e-5;
  }
}

std::string compare(const std::vector<float>& got, const std::vector<double>& want, double rtol) {
  if (got.size() != want.size())
    return "size " + std::to_string(got.size()) + ", want " + std::to_string(want.size());
  double ss = 0.0, err2 = 0.0;
  for (double w : want) ss += w * w;
  const double rms = want.empty() ? 0.0 : std::sqrt(ss / static_cast<double>(want.size()));
  size_t bad = 0, first = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    if (got[i] == want[i]) continue;  // also equal infinities
    const double err = std::fabs(static_cast<double>(got[i]) - want[i]);
    if (!(err <= rtol * (std::fabs(want[i]) + rms)) && bad++ == 0) first = i;  // NaN is bad
    if (std::isfinite(err)) err2 += err * err;
  }
  if (bad == 0) return "";
  std::ostringstream m;
  m << bad << " of " << got.size() << " elements outside rtol " << rtol << " (of |want| + rms "
    << rms << "); first at " << first << ": got " << got[first] << ", want " << want[first]
    << "; NMSE of the finite errors " << (ss > 0 ? err2 / ss : err2);
  return m.str();
}

void expect_close(const std::vector<float>& got, const std::vector<double>& want, double rtol,
                  const std::string& what) {
  const std::string m = compare(got, want, rtol);
  EXPECT_TRUE(m.empty()) << what << ": " << m;
}

std::string error_message_of(const std::exception& e) {
  if (const auto* be = dynamic_cast<const Error*>(&e)) return be->message();
  return e.what();
}

void OpTest::SetUp() {
  if (device() == Device::CUDA && !::bloom::testing::gpu_present())
    GTEST_SKIP() << "no CUDA device";
  ctx_ = std::make_unique<Context>(device(), 0);
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  rng_.seed(static_cast<uint32_t>(std::hash<std::string>()(info->name())));
}

std::vector<float> OpTest::randn(size_t n, float sd, float mean) {
  std::normal_distribution<float> d(mean, sd);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng_);
  return rounded(v, dt());
}

std::string OpTest::tag() const {
  return std::string(device_name(device())) + " " + dtype_name(dt());
}

namespace {
std::string case_name(const ::testing::TestParamInfo<OpCase>& info) {
  return dtype_name(info.param.dtype);
}
}  // namespace

INSTANTIATE_TEST_SUITE_P(CPU, OpTest, ::testing::Values(OpCase{Device::CPU, DType::F32}),
                         case_name);
#ifdef BLOOM_WITH_CUDA
INSTANTIATE_TEST_SUITE_P(CUDA, OpTest,
                         ::testing::Values(OpCase{Device::CUDA, DType::F32},
                                           OpCase{Device::CUDA, DType::F16},
                                           OpCase{Device::CUDA, DType::BF16}),
                         case_name);
#endif

}  // namespace bloom::ops::testing

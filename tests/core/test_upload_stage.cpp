// UploadStage: the buffer holds what an upload needs, uploads land whole, and a stage refuses
// more than its capacity. On a CPU context the upload is a memcpy; on CUDA (when a device is
// there) the bytes make the round trip through device memory.
#include "core/upload_stage.h"

#include <cstdint>
#include <cstring>
#include <vector>

#include <gtest/gtest.h>

#include "core/context.h"
#include "core/tensor.h"
#include "tests/test_support.h"

namespace bloom {
namespace {

std::vector<uint8_t> pattern(size_t n, uint8_t seed) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(seed + i * 7);
  return v;
}

TEST(UploadStage, CpuUploadsLandWhole) {
  Context ctx(Device::CPU);
  UploadStage stage(ctx, 1 << 20);
  std::vector<uint8_t> dst(1 << 20, 0);
  for (size_t bytes : {size_t{1}, size_t{4097}, size_t{1} << 20}) {
    const std::vector<uint8_t> src = pattern(bytes, static_cast<uint8_t>(bytes));
    std::memcpy(stage.buffer(bytes), src.data(), bytes);
    stage.upload(dst.data(), bytes);
    EXPECT_EQ(std::memcmp(dst.data(), src.data(), bytes), 0) << bytes;
  }
  EXPECT_ERROR_HAS(stage.buffer((1 << 20) + 1), "through a stage of 1048576");
}

TEST(UploadStage, CudaRoundTrip) {
  if (!testing::gpu_present()) GTEST_SKIP() << "no CUDA device";
  Context ctx(Device::CUDA, 0);
  const int64_t n = (int64_t{3} << 18) + 5;  // floats: 3 MiB and a bit
  const size_t bytes = static_cast<size_t>(n) * 4;
  UploadStage stage(ctx, bytes);
  const std::vector<uint8_t> src = pattern(bytes, 3);
  std::memcpy(stage.buffer(bytes), src.data(), bytes);
  Buffer device(bytes, Device::CUDA);
  stage.upload(device.data(), bytes);
  std::vector<uint8_t> back(bytes, 0);
  Tensor d = device.tensor(DType::F32, {n}, 0);
  Tensor h(back.data(), DType::F32, Device::CPU, {n});
  copy_tensor(d, h);
  EXPECT_EQ(back, src);
}

}  // namespace
}  // namespace bloom

// Tensor: a non-owning view (data pointer, dtype, device, up to 4 dims, row-major, contiguous).
// Buffer: owns host or device memory (RAII) and hands out Tensors.
// The forward pass never allocates: Workspace carves its activations out of Buffers once.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string>

namespace bloom {

/// F8E4M3: FP8 e4m3 bytes (core/fp8.h); as model.dtype ("fp8") it names the FP8 evaluation mode:
/// e4m3 weights of the four linear layers with per-channel scales, fp16 activations.
enum class DType { F32, F16, BF16, I32, F8E4M3 };
enum class Device { CPU, CUDA };

size_t dtype_size(DType t);
const char* dtype_name(DType t);        // "fp32", "fp16", "bf16", "i32", "fp8"
DType parse_dtype(const std::string& s);  // fp32|float32|fp16|float16|bf16|bfloat16|fp8
const char* device_name(Device d);       // "cpu", "cuda"

struct Tensor {
  void* data = nullptr;
  DType dtype = DType::F32;
  Device device = Device::CPU;
  int64_t shape[4] = {0, 0, 0, 0};
  int rank = 0;

  Tensor() = default;
  Tensor(void* p, DType t, Device d, std::initializer_list<int64_t> dims);

  int64_t numel() const;
  size_t nbytes() const { return static_cast<size_t>(numel()) * dtype_size(dtype); }
  int64_t dim(int i) const;  // negative i counts from the end
  /// Rows [row0, row0 + n) along dim 0 (a view; the tensor stays contiguous).
  Tensor rows(int64_t row0, int64_t n) const;
  /// Same memory seen with another shape of the same element count.
  Tensor view(std::initializer_list<int64_t> dims) const;
  std::string shape_str() const;  // "[12, 96] fp32 cpu"

  template <typename T>
  T* data_as() const;
};

/// Owning memory on one device; moves, never copies.
class Buffer {
 public:
  Buffer() = default;
  Buffer(size_t nbytes, Device device);
  ~Buffer();
  Buffer(Buffer&& o) noexcept;
  Buffer& operator=(Buffer&& o) noexcept;
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;

  void* data() const { return data_; }
  size_t size() const { return size_; }
  Device device() const { return device_; }
  Tensor tensor(DType t, std::initializer_list<int64_t> dims, size_t byte_offset = 0) const;
  /// Sets every byte to 0 and waits until that is done (device memory: before any stream uses it).
  void zero();

 private:
  void release() noexcept;
  void* data_ = nullptr;
  size_t size_ = 0;
  Device device_ = Device::CPU;
};

class Context;

/// Copies between any two devices. Same dtype and numel. With a CUDA context the copy is queued
/// on its stream (ordered after the kernels queued before it) and a copy to the host waits for
/// it; without one, every stream of the device is synchronized first, so the copy never races
/// with kernels in flight.
void copy_tensor(const Tensor& src, Tensor& dst, const Context* ctx = nullptr);

/// Converts n elements between dtypes on the host (F32/F16/BF16; round to nearest even).
void convert_host(const void* src, DType src_t, void* dst, DType dst_t, size_t n);
float half_to_float(uint16_t h);
uint16_t float_to_half(float f);
float bf16_to_float(uint16_t h);
uint16_t float_to_bf16(float f);

}  // namespace bloom

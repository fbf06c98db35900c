// Tensor views, owning Buffers (aligned host memory or cudaMalloc), copies and host dtype
// conversion (fp16/bf16 <-> fp32 with round-to-nearest-even, NaN kept quiet).
#include "core/tensor.h"

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <type_traits>
#include <utility>

#include "core/check.h"
#include "core/context.h"

#ifdef BLOOM_WITH_CUDA
#include <cuda_runtime.h>
#endif

namespace bloom {

size_t dtype_size(DType t) {
  switch (t) {
    case DType::F32: return 4;
    case DType::F16: return 2;
    case DType::BF16: return 2;
    case DType::I32: return 4;
    case DType::F8E4M3: return 1;
  }
  return 0;
}

const char* dtype_name(DType t) {
  switch (t) {
    case DType::F32: return "fp32";
    case DType::F16: return "fp16";
    case DType::BF16: return "bf16";
    case DType::I32: return "i32";
    case DType::F8E4M3: return "fp8";
  }
  return "?";
}

DType parse_dtype(const std::string& s) {
  if (s == "fp32" || s == "float32") return DType::F32;
  if (s == "fp16" || s == "float16") return DType::F16;
  if (s == "bf16" || s == "bfloat16") return DType::BF16;
  if (s == "fp8" || s == "float8_e4m3") return DType::F8E4M3;
  BLOOM_FAIL("unknown dtype '{}' (expected fp32, fp16, bf16 or fp8)", s);
}

const char* device_name(Device d) { return d == Device::CPU ? "cpu" : "cuda"; }

Tensor::Tensor(void* p, DType t, Device d, std::initializer_list<int64_t> dims)
    : data(p), dtype(t), device(d) {
  BLOOM_CHECK(dims.size() <= 4, "tensor rank {} > 4", dims.size());
  for (int64_t v : dims) shape[rank++] = v;
}

int64_t Tensor::numel() const {
  if (rank == 0) return data ? 1 : 0;
  int64_t n = 1;
  for (int i = 0; i < rank; ++i) n *= shape[i];
  return n;
}

int64_t Tensor::dim(int i) const {
  if (i < 0) i += rank;
  BLOOM_CHECK(i >= 0 && i < rank, "dim {} of a rank-{} tensor", i, rank);
  return shape[i];
}

Tensor Tensor::rows(int64_t row0, int64_t n) const {
  BLOOM_CHECK(rank >= 1 && row0 >= 0 && n >= 0 && row0 + n <= shape[0],
              "rows [{}, {}) of {}", row0, row0 + n, shape_str());
  Tensor t = *this;
  t.shape[0] = n;
  const int64_t row_elems = shape[0] ? numel() / shape[0] : 0;
  t.data = static_cast<char*>(data) + row0 * row_elems * static_cast<int64_t>(dtype_size(dtype));
  return t;
}

Tensor Tensor::view(std::initializer_list<int64_t> dims) const {
  Tensor t(data, dtype, device, dims);
  BLOOM_CHECK(t.numel() == numel(), "view {} as {}", shape_str(), t.shape_str());
  return t;
}

std::string Tensor::shape_str() const {
  std::string s = "[";
  for (int i = 0; i < rank; ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "] " + dtype_name(dtype) + " " + device_name(device);
}

template <typename T>
T* Tensor::data_as() const {
  constexpr DType want = std::is_same<T, float>::value     ? DType::F32
                         : std::is_same<T, int32_t>::value ? DType::I32
                         : std::is_same<T, uint8_t>::value ? DType::F8E4M3
                                                           : DType::F16;
  if constexpr (std::is_same<T, uint16_t>::value) {
    BLOOM_CHECK(dtype == DType::F16 || dtype == DType::BF16, "tensor {} is not 16-bit", shape_str());
  } else {
    BLOOM_CHECK(dtype == want, "tensor {} accessed as {}", shape_str(), dtype_name(want));
  }
  return static_cast<T*>(data);
}
template float* Tensor::data_as<float>() const;
template int32_t* Tensor::data_as<int32_t>() const;
template uint16_t* Tensor::data_as<uint16_t>() const;
template uint8_t* Tensor::data_as<uint8_t>() const;

// ---- Buffer -------------------------------------------------------------------------------

Buffer::Buffer(size_t nbytes, Device device) : size_(nbytes), device_(device) {
  if (nbytes == 0) return;
  if (device == Device::CPU) {
    data_ = std::aligned_alloc(64, (nbytes + 63) / 64 * 64);
    BLOOM_CHECK(data_ != nullptr, "out of host memory allocating {} bytes", nbytes);
    return;
  }
#ifdef BLOOM_WITH_CUDA
  cudaError_t e = cudaMalloc(&data_, nbytes);
  BLOOM_CHECK(e == cudaSuccess, "cudaMalloc of {:.3f} GB failed: {}", nbytes / 1e9,
              cudaGetErrorString(e));
#else
  BLOOM_FAIL("this build has no CUDA support (configure with -DBLOOM_WITH_CUDA=ON)");
#endif
}

Buffer::~Buffer() { release(); }

void Buffer::zero() {
  if (!data_) return;
  if (device_ == Device::CPU) {
    std::memset(data_, 0, size_);
    return;
  }
#ifdef BLOOM_WITH_CUDA
  BLOOM_CUDA_CHECK(cudaMemset(data_, 0, size_));
  BLOOM_CUDA_CHECK(cudaDeviceSynchronize());  // the legacy stream does not order non-blocking ones
#endif
}

Buffer::Buffer(Buffer&& o) noexcept
    : data_(std::exchange(o.data_, nullptr)), size_(std::exchange(o.size_, 0)), device_(o.device_) {}

Buffer& Buffer::operator=(Buffer&& o) noexcept {
  if (this != &o) {
    release();
    data_ = std::exchange(o.data_, nullptr);
    size_ = std::exchange(o.size_, 0);
    device_ = o.device_;
  }
  return *this;
}

void Buffer::release() noexcept {
  if (!data_) return;
  if (device_ == Device::CPU) {
    std::free(data_);
  } else {
#ifdef BLOOM_WITH_CUDA
    cudaFree(data_);  // errors ignored: destructors never throw
#endif
  }
  data_ = nullptr;
  size_ = 0;
}

Tensor Buffer::tensor(DType t, std::initializer_list<int64_t> dims, size_t byte_offset) const {
  Tensor x(static_cast<char*>(data_) + byte_offset, t, device_, dims);
  BLOOM_CHECK(byte_offset + x.nbytes() <= size_, "tensor {} at offset {} exceeds buffer of {} bytes",
              x.shape_str(), byte_offset, size_);
  return x;
}

void copy_tensor(const Tensor& src, Tensor& dst, [[maybe_unused]] const Context* ctx) {
  BLOOM_CHECK(src.dtype == dst.dtype && src.numel() == dst.numel(), "copy {} -> {}",
              src.shape_str(), dst.shape_str());
  if (src.device == Device::CPU && dst.device == Device::CPU) {
    std::memmove(dst.data, src.data, src.nbytes());
    return;
  }
#ifdef BLOOM_WITH_CUDA
  cudaError_t e = cudaSuccess;
  if (ctx && ctx->device() == Device::CUDA) {
    auto stream = static_cast<cudaStream_t>(ctx->stream());
    e = cudaMemcpyAsync(dst.data, src.data, src.nbytes(), cudaMemcpyDefault, stream);
    if (e == cudaSuccess && dst.device == Device::CPU) e = cudaStreamSynchronize(stream);
  } else {
    e = cudaDeviceSynchronize();
    if (e == cudaSuccess) e = cudaMemcpy(dst.data, src.data, src.nbytes(), cudaMemcpyDefault);
  }
  BLOOM_CHECK(e == cudaSuccess, "copy {} -> {}: {}", src.shape_str(), dst.shape_str(),
              cudaGetErrorString(e));
#else
  BLOOM_FAIL("copy between {} and {} needs a CUDA build", src.shape_str(), dst.shape_str());
#endif
}

// ---- host dtype conversion ------------------------------------------------------------------

float half_to_float(uint16_t h) {
  const uint32_t sign = (h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1f;
  uint32_t mant = h & 0x3ffu;
  uint32_t bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else {  // subnormal: normalise
      exp = 127 - 15 + 1;
      while ((mant & 0x400u) == 0) {
        mant <<= 1;
        --exp;
      }
      mant &= 0x3ffu;
      bits = sign | (exp << 23) | (mant << 13);
    }
  } else if (exp == 0x1f) {
    bits = sign | 0x7f800000u | (mant << 13);
  } else {
    bits = sign | ((exp - 15 + 127) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

uint16_t float_to_half(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  const uint16_t sign = static_cast<uint16_t>((x >> 16) & 0x8000u);
  const uint32_t absx = x & 0x7fffffffu;
  if (absx >= 0x7f800000u) return sign | (absx > 0x7f800000u ? 0x7e00u : 0x7c00u);
  if (absx >= 0x477ff000u) return sign | 0x7c00u;  // rounds to >= 65520: overflow to inf
  if (absx < 0x38800000u) {                         // below fp16 normal range: subnormal or 0
    float a;
    std::memcpy(&a, &absx, 4);
    // Subnormal step is 2^-24; nearbyint rounds half to even in the default mode.
    const float scaled = a * 16777216.0f;
    const uint32_t m = static_cast<uint32_t>(std::nearbyint(scaled));
    return sign | static_cast<uint16_t>(m);
  }
  const uint32_t exp = ((absx >> 23) - 127 + 15);
  uint32_t mant = absx & 0x7fffffu;
  uint32_t h = (exp << 10) | (mant >> 13);
  const uint32_t rem = mant & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) ++h;  // round to nearest even
  return sign | static_cast<uint16_t>(h);
}

float bf16_to_float(uint16_t h) {
  const uint32_t bits = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

uint16_t float_to_bf16(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  if ((x & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((x >> 16) | 0x40u);  // NaN
  const uint32_t lsb = (x >> 16) & 1u;
  x += 0x7fffu + lsb;
  return static_cast<uint16_t>(x >> 16);
}

void convert_host(const void* src, DType src_t, void* dst, DType dst_t, size_t n) {
  if (src_t == dst_t) {
    std::memcpy(dst, src, n * dtype_size(src_t));
    return;
  }
  BLOOM_CHECK(src_t != DType::I32 && dst_t != DType::I32 && src_t != DType::F8E4M3 &&
                  dst_t != DType::F8E4M3,
              "cannot convert {} to {} (fp8 is made by row quantization, core/fp8.h)",
              dtype_name(src_t), dtype_name(dst_t));
  auto load = [&](size_t i) -> float {
    switch (src_t) {
      case DType::F32: return static_cast<const float*>(src)[i];
      case DType::F16: return half_to_float(static_cast<const uint16_t*>(src)[i]);
      default: return bf16_to_float(static_cast<const uint16_t*>(src)[i]);
    }
  };
  for (size_t i = 0; i < n; ++i) {
    const float v = load(i);
    switch (dst_t) {
      case DType::F32: static_cast<float*>(dst)[i] = v; break;
      case DType::F16: static_cast<uint16_t*>(dst)[i] = float_to_half(v); break;
      default: static_cast<uint16_t*>(dst)[i] = float_to_bf16(v); break;
    }
  }
}

}  // namespace bloom

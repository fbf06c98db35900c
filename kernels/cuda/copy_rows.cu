// Row copy shared by embedding and gather_rows (one kernel, two callers):
//   dst[r, :] = src[idx[r] - idx_offset, :] when that row of src exists, else every byte of
//   dst's row is `fill`.
// src [S, W], idx [R] i32, dst [R, W], one dtype. A pure copy: bit-exact, any dtype. One block
// per destination row; rows move in 16-, 4- or 2-byte units as their size and alignment allow.
#include <algorithm>

#include "kernels/cuda/common.cuh"

namespace bloom::ops::cuda {

namespace {

/// U: the copy unit (uint4, uint32_t or uint16_t); row_units: units per row.
template <typename U>
__global__ void copy_rows_kernel(const U* __restrict__ src, int64_t n_src_rows,
                                 const int32_t* __restrict__ idx, int64_t idx_offset,
                                 int64_t row_units, unsigned char fill, U* __restrict__ dst) {
  const int64_t r = blockIdx.x;
  const int64_t s = static_cast<int64_t>(idx[r]) - idx_offset;
  U* out = dst + r * row_units;
  if (s >= 0 && s < n_src_rows) {
    const U* in = src + s * row_units;
    for (int64_t i = threadIdx.x; i < row_units; i += blockDim.x) out[i] = in[i];
  } else {
    U v;
    memset(&v, fill, sizeof(U));
    for (int64_t i = threadIdx.x; i < row_units; i += blockDim.x) out[i] = v;
  }
}

template <typename U>
void launch(Context& ctx, const Tensor& src, const Tensor& idx, int64_t idx_offset,
            unsigned char fill, Tensor& dst, int64_t row_bytes) {
  const int64_t row_units = row_bytes / static_cast<int64_t>(sizeof(U));
  const int64_t n_src_rows = static_cast<int64_t>(src.nbytes()) / row_bytes;
  const int threads = static_cast<int>(std::min<int64_t>(256, (row_units + 31) / 32 * 32));
  copy_rows_kernel<U><<<static_cast<unsigned>(idx.numel()), threads, 0, stream_of(ctx)>>>(
      static_cast<const U*>(src.data), n_src_rows, static_cast<const int32_t*>(idx.data),
      idx_offset, row_units, fill, static_cast<U*>(dst.data));
}

}  // namespace

void copy_rows(Context& ctx, const Tensor& src, const Tensor& idx, int64_t idx_offset,
               unsigned char fill, Tensor& dst) {
  const int64_t row_bytes = dst.dim(-1) * static_cast<int64_t>(dtype_size(dst.dtype));
  if (idx.numel() == 0 || row_bytes == 0) return;
  if (row_bytes % 16 == 0 && is_aligned(src.data, 16) && is_aligned(dst.data, 16)) {
    launch<uint4>(ctx, src, idx, idx_offset, fill, dst, row_bytes);
  } else if (row_bytes % 4 == 0 && is_aligned(src.data, 4) && is_aligned(dst.data, 4)) {
    launch<uint32_t>(ctx, src, idx, idx_offset, fill, dst, row_bytes);
  } else {
    launch<uint16_t>(ctx, src, idx, idx_offset, fill, dst, row_bytes);
  }
}

}  // namespace bloom::ops::cuda

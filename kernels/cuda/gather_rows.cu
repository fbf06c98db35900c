// Row gather on the GPU: y[r, :] = x[rows[r], :]. x [T, H], rows [R] i32, y [R, H] (same dtype
// as x). Used to pick the scored positions before the lm_head. A pure copy: bit-exact, any
// dtype. An index outside [0, T) cannot throw from the device: its row is filled with 0xFF
// bytes (NaN for floating dtypes) so the mistake shows in the scores instead of passing
// silently; BLOOM_SYNC_CHECK additionally verifies the indices on the host.
#include <vector>

#include "kernels/cuda/common.cuh"
#include "kernels/cuda/ops_cuda.h"

namespace bloom::ops::cuda {

namespace {

template <typename V>
__global__ void gather_rows_kernel(const V* __restrict__ x, const int32_t* __restrict__ rows,
                                   int64_t n_rows_x, int64_t row_vecs, V* __restrict__ y) {
  const int64_t r = blockIdx.x;
  const int64_t src_row = rows[r];
  V* dst = y + r * row_vecs;
  if (src_row >= 0 && src_row < n_rows_x) {
    const V* src = x + src_row * row_vecs;
    for (int64_t i = threadIdx.x; i < row_vecs; i += blockDim.x) dst[i] = src[i];
  } else {
    V poison;
    memset(&poison, 0xFF, sizeof(V));
    for (int64_t i = threadIdx.x; i < row_vecs; i += blockDim.x) dst[i] = poison;
  }
}

template <typename V>
void launch(Context& ctx, const Tensor& x, const Tensor& rows, Tensor& y, int64_t T, int64_t R,
            int64_t row_bytes) {
  const int64_t row_vecs = row_bytes / static_cast<int64_t>(sizeof(V));
  const int threads = static_cast<int>(std::min<int64_t>(256, (row_vecs + 31) / 32 * 32));
  gather_rows_kernel<V><<<static_cast<unsigned>(R), threads, 0, stream_of(ctx)>>>(
      static_cast<const V*>(x.data), static_cast<const int32_t*>(rows.data), T, row_vecs,
      static_cast<V*>(y.data));
}

/// Debug mode only: copy the indices back and range-check them (a host round trip).
void verify_rows(Context& ctx, const Tensor& rows, int64_t T) {
  std::vector<int32_t> idx(static_cast<size_t>(rows.numel()));
  BLOOM_CUDA_CHECK(cudaMemcpyAsync(idx.data(), rows.data, idx.size() * sizeof(int32_t),
                                   cudaMemcpyDeviceToHost, stream_of(ctx)));
  BLOOM_CUDA_CHECK(cudaStreamSynchronize(stream_of(ctx)));
  for (size_t r = 0; r < idx.size(); ++r)
    BLOOM_CHECK(idx[r] >= 0 && idx[r] < T, "gather_rows: rows[{}] = {} is outside [0, {})", r,
                idx[r], T);
}

}  // namespace

void gather_rows(Context& ctx, const Tensor& x, const Tensor& rows, Tensor& y) {
  const char* op = "gather_rows";
  check_cuda_tensor(ctx, x, "x", op);
  check_cuda_tensor(ctx, rows, "rows", op);
  check_cuda_tensor(ctx, y, "y", op);
  BLOOM_CHECK(rows.dtype == DType::I32, "gather_rows: rows must be i32, got {}",
              rows.shape_str());
  BLOOM_CHECK(x.rank >= 1 && x.dim(-1) > 0, "gather_rows: x {} has no rows", x.shape_str());
  const int64_t H = x.dim(-1), T = x.numel() / H, R = rows.numel();
  BLOOM_CHECK(y.dtype == x.dtype && y.numel() == R * H && y.dim(-1) == H,
              "gather_rows: x {} rows {} y {}", x.shape_str(), rows.shape_str(), y.shape_str());
  BLOOM_CHECK(R < (int64_t{1} << 31), "gather_rows: {} rows exceed the grid limit", R);
  if (R == 0) return;
  if (ctx.sync_check()) verify_rows(ctx, rows, T);
  const int64_t row_bytes = H * static_cast<int64_t>(dtype_size(x.dtype));
  const bool al16 = is_aligned(x.data, 16) && is_aligned(y.data, 16);
  const bool al4 = is_aligned(x.data, 4) && is_aligned(y.data, 4);
  if (row_bytes % 16 == 0 && al16) {
    launch<uint4>(ctx, x, rows, y, T, R, row_bytes);
  } else if (row_bytes % 4 == 0 && al4) {
    launch<uint32_t>(ctx, x, rows, y, T, R, row_bytes);
  } else {
    launch<uint16_t>(ctx, x, rows, y, T, R, row_bytes);
  }
  check_launch(ctx, op);
}

}  // namespace bloom::ops::cuda

// Row gather on the GPU: y[r, :] = x[rows[r], :]. x [T, H], rows [R] i32, y [R, H] (same dtype
// as x). Used to pick the scored positions before the lm_head. A pure copy (copy_rows.cu).
// The kernel cannot throw on an index outside [0, T): it fills that row with 0xFF bytes (NaN
// for floating dtypes) so the mistake shows in the scores instead of passing silently; under
// BLOOM_SYNC_CHECK the contract (kernels/dispatch.cpp) checks the indices on the host first.
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/ops_cuda.h"

namespace bloom::ops::cuda {

void gather_rows(Context& ctx, const Tensor& x, const Tensor& rows, Tensor& y) {
  copy_rows(ctx, x, rows, /*idx_offset=*/0, /*fill=*/0xFF, y);
  check_launch(ctx, "gather_rows");
}

}  // namespace bloom::ops::cuda

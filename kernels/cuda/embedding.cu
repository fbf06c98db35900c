// Vocab-parallel embedding lookup on the GPU.
// table [V_local, H] holding global ids [vocab_offset, vocab_offset + V_local); ids [T] i32;
// out [T, H] (same dtype as table). Ids outside the slice give zero rows: the TP all-reduce
// that follows fills them in from the rank that owns them. A pure copy (copy_rows.cu).
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/ops_cuda.h"

namespace bloom::ops::cuda {

void embedding(Context& ctx, const Tensor& table, const Tensor& ids, int64_t vocab_offset,
               Tensor& out) {
  copy_rows(ctx, table, ids, vocab_offset, /*fill=*/0x00, out);
  check_launch(ctx, "embedding");
}

}  // namespace bloom::ops::cuda

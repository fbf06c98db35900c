// Vocab-parallel embedding lookup on the GPU.
// table [V_local, H] holding global ids [vocab_offset, vocab_offset + V_local); ids [T] i32;
// out [T, H] (same dtype as table). Ids outside the slice give zero rows: the TP all-reduce
// that follows fills them in from the rank that owns them. A pure copy: bit-exact, any dtype.
// One block per token; rows move in 16-byte vectors when size and alignment allow.
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/ops_cuda.h"

namespace bloom::ops::cuda {

namespace {

/// V: the copy unit (uint4, uint32_t or uint16_t); row_vecs: units per row.
template <typename V>
__global__ void embedding_kernel(const V* __restrict__ table, const int32_t* __restrict__ ids,
                                 int64_t vocab_offset, int64_t n_vocab_local, int64_t row_vecs,
                                 V* __restrict__ out) {
  const int64_t t = blockIdx.x;
  const int64_t local = static_cast<int64_t>(ids[t]) - vocab_offset;
  V* dst = out + t * row_vecs;
  if (local >= 0 && local < n_vocab_local) {
    const V* src = table + local * row_vecs;
    for (int64_t i = threadIdx.x; i < row_vecs; i += blockDim.x) dst[i] = src[i];
  } else {
    V zero;
    memset(&zero, 0, sizeof(V));
    for (int64_t i = threadIdx.x; i < row_vecs; i += blockDim.x) dst[i] = zero;
  }
}

template <typename V>
void launch(Context& ctx, const Tensor& table, const Tensor& ids, int64_t vocab_offset,
            Tensor& out, int64_t T, int64_t row_bytes) {
  const int64_t row_vecs = row_bytes / static_cast<int64_t>(sizeof(V));
  const int threads = static_cast<int>(std::min<int64_t>(256, (row_vecs + 31) / 32 * 32));
  embedding_kernel<V><<<static_cast<unsigned>(T), threads, 0, stream_of(ctx)>>>(
      static_cast<const V*>(table.data), static_cast<const int32_t*>(ids.data), vocab_offset,
      table.dim(0), row_vecs, static_cast<V*>(out.data));
}

}  // namespace

void embedding(Context& ctx, const Tensor& table, const Tensor& ids, int64_t vocab_offset,
               Tensor& out) {
  const char* op = "embedding";
  check_cuda_tensor(ctx, table, "table", op);
  check_cuda_tensor(ctx, ids, "ids", op);
  check_cuda_tensor(ctx, out, "out", op);
  BLOOM_CHECK(table.rank == 2, "embedding: table must be [V_local, H], got {}",
              table.shape_str());
  BLOOM_CHECK(ids.dtype == DType::I32, "embedding: ids must be i32, got {}", ids.shape_str());
  const int64_t H = table.dim(1), T = ids.numel();
  BLOOM_CHECK(out.dtype == table.dtype && out.numel() == T * H && out.dim(-1) == H,
              "embedding: out {} for {} ids and table {}", out.shape_str(), T,
              table.shape_str());
  BLOOM_CHECK(T < (int64_t{1} << 31), "embedding: {} tokens exceed the grid limit", T);
  if (T == 0 || H == 0) return;
  const int64_t row_bytes = H * static_cast<int64_t>(dtype_size(table.dtype));
  const bool al16 = is_aligned(table.data, 16) && is_aligned(out.data, 16);
  const bool al4 = is_aligned(table.data, 4) && is_aligned(out.data, 4);
  if (row_bytes % 16 == 0 && al16) {
    launch<uint4>(ctx, table, ids, vocab_offset, out, T, row_bytes);
  } else if (row_bytes % 4 == 0 && al4) {
    launch<uint32_t>(ctx, table, ids, vocab_offset, out, T, row_bytes);
  } else {
    launch<uint16_t>(ctx, table, ids, vocab_offset, out, T, row_bytes);
  }
  check_launch(ctx, op);
}

}  // namespace bloom::ops::cuda

// embedding (kernels/cpu/embedding.cpp, kernels/cuda/embedding.cu) against its formula:
//   out[t, :] = table[ids[t] - vocab_offset, :] if that row is in this slice of the vocab, else 0.
// A copy: the result must be bit-exact in every dtype.
#include "tests/kernels/op_test.h"

namespace bloom::ops::testing {
namespace {

std::vector<double> embedding_reference(const std::vector<float>& table, int64_t V, int64_t H,
                                        const std::vector<int32_t>& ids, int64_t offset) {
  std::vector<double> out(ids.size() * static_cast<size_t>(H), 0.0);
  for (size_t t = 0; t < ids.size(); ++t) {
    const int64_t row = ids[t] - offset;
    if (row < 0 || row >= V) continue;
    for (int64_t i = 0; i < H; ++i) out[t * H + i] = table[row * H + i];
  }
  return out;
}

TEST_P(OpTest, EmbeddingWithVocabOffset) {
  const int64_t V = 50, offset = 100, T = 37;
  for (int64_t H : {96, 36, 3}) {  // CUDA: 16-byte, 4-byte and 2-byte copy units
    const auto table = randn(V * H);
    std::vector<int32_t> ids(T);
    for (auto& id : ids) id = uniform_int(0, 249);  // ~20% inside [100, 150)
    ids[0] = 100;  // first and last row of the slice, and one past either end
    ids[1] = 149;
    ids[2] = 150;
    ids[3] = 99;
    DeviceTensor d_table = make({V, H}), d_ids = make(DType::I32, {T}), d_out = make({T, H});
    d_table.upload(table);
    d_ids.upload_i32(ids);
    d_out.poison();
    embedding(ctx(), d_table.t, d_ids.t, offset, d_out.t);
    expect_close(d_out.download(), embedding_reference(table, V, H, ids, offset), 0.0,
                 tag() + " embedding H=" + std::to_string(H));
  }
}

}  // namespace
}  // namespace bloom::ops::testing

// Vocab-parallel embedding lookup. table [V_local, H] fp32 holding global ids
// [vocab_offset, vocab_offset + V_local); ids [T] i32; out [T, H]. Ids outside the slice give
// zero rows: the TP all-reduce that follows fills them in from the rank that owns them.
#include <cstring>

#include "kernels/cpu/ops_cpu.h"

namespace bloom::ops::cpu {

void embedding(Context&, const Tensor& table, const Tensor& ids, int64_t vocab_offset,
               Tensor& out) {
  const int64_t V = table.dim(0), H = table.dim(1), T = ids.numel();
  const float* tab = table.data_as<float>();
  const int32_t* id = ids.data_as<int32_t>();
  float* y = out.data_as<float>();
  for (int64_t t = 0; t < T; ++t) {
    const int64_t local = static_cast<int64_t>(id[t]) - vocab_offset;
    if (local >= 0 && local < V) {
      std::memcpy(y + t * H, tab + local * H, H * sizeof(float));
    } else {
      std::memset(y + t * H, 0, H * sizeof(float));
    }
  }
}

}  // namespace bloom::ops::cpu

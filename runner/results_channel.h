// Moving per-batch results from the TP-group roots to world rank 0, which alone writes the
// results file. A message is one evaluated batch (tag kTagBatch) or a group's end-of-run mark
// (tag kTagEnd); payloads are flat int64 arrays (doubles bit-copied).
#pragma once

#include <cstdint>
#include <vector>

#include <mpi.h>

#include "io/results_writer.h"

namespace bloom {

struct BatchResults {
  int64_t batch = 0;
  int64_t n_tokens = 0;
  std::vector<int64_t> rows;                 // dataset row of each passage
  std::vector<io::PassageResult> passages;
};

std::vector<int64_t> pack_batch(const BatchResults& b);
BatchResults unpack_batch(const std::vector<int64_t>& msg);

constexpr int kTagBatch = 101;
constexpr int kTagEnd = 102;

/// Sends one batch to world rank 0 (blocking; rank 0 drains between its own batches).
void send_batch(const BatchResults& b, MPI_Comm world);
/// Sends this group's end-of-run mark.
void send_end(MPI_Comm world);

/// Receives what is waiting (block=false) or the next message (block=true). Returns false when
/// nothing was received; sets *end when the message was an end mark.
bool receive_one(MPI_Comm world, bool block, BatchResults* out, bool* end);

}  // namespace bloom

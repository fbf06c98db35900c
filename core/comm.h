// Communicator: the collectives tensor parallelism needs, one interface for every backend.
// LocalCommunicator (size 1, no-ops), MpiCommunicator (host memory: CPU backend, tests),
// NcclCommunicator (device memory, on the Context's stream). Objects are non-copyable, owned by
// the runner and passed to the forward pass explicitly: no global rank state.
#pragma once

#include <memory>

#include "core/context.h"
#include "core/tensor.h"

namespace bloom {

class Communicator {
 public:
  Communicator() = default;
  virtual ~Communicator() = default;
  Communicator(const Communicator&) = delete;
  Communicator& operator=(const Communicator&) = delete;

  virtual int rank() const = 0;
  virtual int size() const = 0;
  /// In place sum over all ranks (F32, F16 or BF16; fp32 accumulate where the backend allows).
  virtual void all_reduce_sum(Tensor& t, Context& ctx) = 0;
  /// out = concat over ranks of `in` along a new leading dim: out [size, in...], rank-ordered.
  virtual void all_gather(const Tensor& in, Tensor& out, Context& ctx) = 0;
  virtual void broadcast(Tensor& t, int root, Context& ctx) = 0;
  virtual void barrier() = 0;
  /// Seconds spent inside collectives since construction (timings in the results file).
  double seconds() const { return seconds_; }

 protected:
  double seconds_ = 0.0;
};

/// Size-1 communicator: every collective is a no-op (all_gather copies).
std::unique_ptr<Communicator> make_local_communicator();

}  // namespace bloom

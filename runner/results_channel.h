// Moving per-batch results from the TP-group roots to world rank 0, which alone writes the
// results file. A message is one evaluated batch (tag kTagBatch) or a group's end-of-run mark
// (tag kTagEnd); payloads are flat int64 arrays (doubles bit-copied).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include <mpi.h>

#include "io/results_file.h"

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

/// A group root's outbox to world rank 0. Sends are non-blocking (rank 0 is busy with its own
/// batches and drains between them; a blocking send would stall this group until then); the
/// buffers live until finish() has waited for every send.
class ResultSender {
 public:
  explicit ResultSender(MPI_Comm world) : world_(world) {}
  ~ResultSender();  // waits for what is still in flight (never throws)
  ResultSender(const ResultSender&) = delete;
  ResultSender& operator=(const ResultSender&) = delete;
  void send_batch(const BatchResults& b);
  /// Lets MPI move queued messages along (a large message needs the sender inside MPI).
  void progress();
  void send_end();  // this group's end-of-run mark, then waits (watched) for every send
 private:
  void post(std::vector<int64_t> msg, int tag);
  MPI_Comm world_;
  std::vector<std::unique_ptr<std::vector<int64_t>>> buffers_;
  std::vector<MPI_Request> requests_;
};

/// World rank 0's inbox. poll() never blocks in a receive: it posts a receive for every
/// message that has arrived and hands over those that are complete; wait_one() waits until one
/// more message is complete (polling; past the watchdog's time without one it throws, see
/// core/comm_watchdog.h). Each delivery is a batch or (end == true) a group's end mark.
class ResultReceiver {
 public:
  explicit ResultReceiver(MPI_Comm world) : world_(world) {}
  ResultReceiver(const ResultReceiver&) = delete;
  ResultReceiver& operator=(const ResultReceiver&) = delete;
  /// Delivers every message complete now; returns how many.
  int poll(const std::function<void(const BatchResults*, bool end)>& deliver);
  /// Blocks until at least one message is delivered.
  void wait_one(const std::function<void(const BatchResults*, bool end)>& deliver);

 private:
  void post_arrived();
  struct Pending {
    std::unique_ptr<std::vector<int64_t>> buf;
    int tag;
  };
  MPI_Comm world_;
  std::vector<Pending> pending_;
  std::vector<MPI_Request> requests_;
};

}  // namespace bloom

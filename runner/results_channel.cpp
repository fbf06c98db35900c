// Results of evaluated batches as flat int64 messages, and their way from the TP-group roots to
// world rank 0 over MPI (see results_channel.h). Every MPI call is checked (BLOOM_MPI_CHECK);
// every wait polls at the watchdog's pace (core/comm_mpi.h: MpiWaitPace), never blocking in MPI.
#include "runner/results_channel.h"

#include <chrono>
#include <cstring>
#include <thread>

#include <spdlog/spdlog.h>

#include "core/check.h"
#include "core/comm_mpi.h"

namespace bloom {

std::vector<int64_t> pack_batch(const BatchResults& b) {
  std::vector<int64_t> m = {b.batch, b.n_tokens, static_cast<int64_t>(b.passages.size())};
  for (size_t i = 0; i < b.passages.size(); ++i) {
    const io::PassageResult& p = b.passages[i];
    int64_t lp;
    std::memcpy(&lp, &p.target_logprob, sizeof(lp));
    m.insert(m.end(), {b.rows[i], p.index, p.correct ? 1 : 0, lp, p.context_len,
                       static_cast<int64_t>(p.target_ids.size())});
    m.insert(m.end(), p.target_ids.begin(), p.target_ids.end());
    m.insert(m.end(), p.predicted_ids.begin(), p.predicted_ids.end());
  }
  return m;
}

BatchResults unpack_batch(const std::vector<int64_t>& m) {
  BLOOM_CHECK(m.size() >= 3, "truncated results message");
  BatchResults b;
  b.batch = m[0];
  b.n_tokens = m[1];
  size_t at = 3;
  for (int64_t i = 0; i < m[2]; ++i) {
    BLOOM_CHECK(at + 6 <= m.size(), "truncated results message");
    io::PassageResult p;
    b.rows.push_back(m[at]);
    p.index = m[at + 1];
    p.correct = m[at + 2] != 0;
    std::memcpy(&p.target_logprob, &m[at + 3], sizeof(double));
    p.context_len = static_cast<int32_t>(m[at + 4]);
    const int64_t n_target = m[at + 5];
    at += 6;
    BLOOM_CHECK(n_target >= 0 && static_cast<uint64_t>(n_target) <= (m.size() - at) / 2,
                "truncated results message");
    const size_t n = static_cast<size_t>(n_target);
    p.target_ids.assign(m.begin() + at, m.begin() + at + n);
    p.predicted_ids.assign(m.begin() + at + n, m.begin() + at + 2 * n);
    at += 2 * n;
    b.passages.push_back(std::move(p));
  }
  BLOOM_CHECK(at == m.size(), "results message has {} word(s) after its last passage",
              m.size() - at);
  return b;
}

void ResultSender::post(std::vector<int64_t> msg, int tag) {
  buffers_.push_back(std::make_unique<std::vector<int64_t>>(std::move(msg)));
  requests_.emplace_back();
  const std::vector<int64_t>& m = *buffers_.back();
  BLOOM_MPI_CHECK(MPI_Isend(m.data(), static_cast<int>(m.size()), MPI_INT64_T, 0, tag, world_,
                            &requests_.back()));
}

void ResultSender::send_batch(const BatchResults& b) { post(pack_batch(b), kTagBatch); }

void ResultSender::send_end() {
  post({0}, kTagEnd);
  // Rank 0 takes them between its own batches: the wait is at most about one of its batches.
  MpiWaitPace pace;
  for (;;) {
    int done = 0;
    BLOOM_MPI_CHECK(MPI_Testall(static_cast<int>(requests_.size()), requests_.data(), &done,
                                MPI_STATUSES_IGNORE));
    if (done) break;
    pace.pause("send of results to rank 0", world_);
  }
  requests_.clear();
  buffers_.clear();
}

ResultSender::~ResultSender() {
  if (requests_.empty()) return;
  // Left with sends in flight only on an error, whose handler aborts the job: wait briefly, but
  // never for a rank 0 that is gone (that would keep the error from being reported).
  const auto t0 = std::chrono::steady_clock::now();
  int done = 0;
  while (!done && std::chrono::steady_clock::now() - t0 < std::chrono::seconds(2)) {
    if (MPI_Testall(static_cast<int>(requests_.size()), requests_.data(), &done,
                    MPI_STATUSES_IGNORE) != MPI_SUCCESS)
      break;
    if (!done) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  if (done) return;
  spdlog::warn("results still in flight to rank 0 were lost");
  // MPI may still read the buffers of the unfinished sends: keep them allocated.
  for (auto& b : buffers_) b.release();
}

void ResultSender::progress() {
  if (requests_.empty()) return;
  int done = 0;
  BLOOM_MPI_CHECK(
      MPI_Testall(static_cast<int>(requests_.size()), requests_.data(), &done, MPI_STATUSES_IGNORE));
}

void ResultReceiver::post_arrived() {
  for (;;) {
    MPI_Status st;
    int flag = 0;
    BLOOM_MPI_CHECK(MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, world_, &flag, &st));
    if (!flag) return;
    BLOOM_CHECK(st.MPI_TAG == kTagBatch || st.MPI_TAG == kTagEnd,
                "unexpected MPI message tag {} from rank {}", st.MPI_TAG, st.MPI_SOURCE);
    int count = 0;
    BLOOM_MPI_CHECK(MPI_Get_count(&st, MPI_INT64_T, &count));
    Pending p{std::make_unique<std::vector<int64_t>>(static_cast<size_t>(count)), st.MPI_TAG};
    requests_.emplace_back();
    // Receiving the probed message by source and tag: MPI keeps messages of one sender in order.
    BLOOM_MPI_CHECK(MPI_Irecv(p.buf->data(), count, MPI_INT64_T, st.MPI_SOURCE, st.MPI_TAG,
                              world_, &requests_.back()));
    pending_.push_back(std::move(p));
  }
}

int ResultReceiver::poll(const std::function<void(const BatchResults*, bool)>& deliver) {
  post_arrived();
  int delivered = 0;
  for (size_t i = 0; i < requests_.size();) {
    int done = 0;
    BLOOM_MPI_CHECK(MPI_Test(&requests_[i], &done, MPI_STATUS_IGNORE));
    if (!done) {
      ++i;
      continue;
    }
    Pending p = std::move(pending_[i]);
    pending_.erase(pending_.begin() + static_cast<std::ptrdiff_t>(i));
    requests_.erase(requests_.begin() + static_cast<std::ptrdiff_t>(i));
    ++delivered;
    if (p.tag == kTagEnd) {
      deliver(nullptr, true);
    } else {
      const BatchResults b = unpack_batch(*p.buf);
      deliver(&b, false);
    }
  }
  return delivered;
}

void ResultReceiver::wait_one(const std::function<void(const BatchResults*, bool)>& deliver) {
  // Each group sends a message per batch: a group that sends nothing for the watchdog's time is
  // stopped or dead.
  MpiWaitPace pace;
  while (poll(deliver) == 0) pace.pause("wait for results of the other data-parallel groups", world_);
}

}  // namespace bloom

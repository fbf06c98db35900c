// The results channel: pack/unpack round trips (bit-exact log-probs, NaN and -inf included, empty
// and large batches), truncated or overlong messages refused; and under mpirun (2-4 ranks) every
// group root's batches reaching rank 0 exactly once with their content, through ResultSender /
// ResultReceiver as the driver uses them (poll between batches, then wait_one until every end
// mark is in). Arrival order is not part of the contract (rows are written by index). And the
// watchdog of both ends: a rank 0 that hears from no group, and a group whose rank 0 takes
// nothing, give up after BLOOM_COMM_TIMEOUT_S with its message instead of waiting forever.
#include <gtest/gtest.h>
#include <mpi.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "core/check.h"
#include "runner/results_channel.h"

namespace bloom {
namespace {

// A batch that depends only on (sender, k): rank 0 rebuilds what each sender sent.
BatchResults make_batch(int sender, int k, int n_passages, int target_len) {
  BatchResults b;
  b.batch = sender * 1000 + k;
  b.n_tokens = 7 * k + sender;
  for (int i = 0; i < n_passages; ++i) {
    io::PassageResult p;
    p.index = sender * 100000 + k * 100 + i;
    p.correct = (i + k) % 3 == 0;
    p.target_logprob = -0.125 * (i + 1) - 1e-9 * k - sender;
    p.context_len = 10 + i;
    for (int t = 0; t < target_len + i % 3; ++t) {
      p.target_ids.push_back(sender * 7 + t);
      p.predicted_ids.push_back(k * 11 + t + i);
    }
    b.rows.push_back(p.index + 1);
    b.passages.push_back(std::move(p));
  }
  return b;
}

uint64_t bits(double d) {
  uint64_t u;
  std::memcpy(&u, &d, sizeof(u));
  return u;
}

void expect_same(const BatchResults& a, const BatchResults& b) {
  EXPECT_EQ(a.batch, b.batch);
  EXPECT_EQ(a.n_tokens, b.n_tokens);
  EXPECT_EQ(a.rows, b.rows);
  ASSERT_EQ(a.passages.size(), b.passages.size());
  for (size_t i = 0; i < a.passages.size(); ++i) {
    const io::PassageResult &x = a.passages[i], &y = b.passages[i];
    EXPECT_EQ(x.index, y.index) << i;
    EXPECT_EQ(x.correct, y.correct) << i;
    EXPECT_EQ(bits(x.target_logprob), bits(y.target_logprob)) << i;
    EXPECT_EQ(x.context_len, y.context_len) << i;
    EXPECT_EQ(x.target_ids, y.target_ids) << i;
    EXPECT_EQ(x.predicted_ids, y.predicted_ids) << i;
  }
}

TEST(ResultsChannel, PackUnpackRoundTrip) {
  for (const BatchResults& b : {make_batch(0, 0, 0, 1), make_batch(1, 2, 1, 1), make_batch(3, 5, 17, 4),
                                make_batch(2, 1, 3, 50000)}) {
    expect_same(unpack_batch(pack_batch(b)), b);
  }
  BatchResults odd = make_batch(1, 1, 3, 2);
  odd.passages[0].target_logprob = -std::numeric_limits<double>::infinity();
  odd.passages[1].target_logprob = std::numeric_limits<double>::quiet_NaN();
  odd.passages[2].target_logprob = -0.0;
  expect_same(unpack_batch(pack_batch(odd)), odd);
}

TEST(ResultsChannel, TruncatedMessagesAreRefused) {
  const std::vector<int64_t> full = pack_batch(make_batch(2, 3, 4, 3));
  for (size_t n = 0; n < full.size(); ++n) {
    const std::vector<int64_t> cut(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(n));
    EXPECT_THROW(unpack_batch(cut), Error) << "cut to " << n << " of " << full.size();
  }
  std::vector<int64_t> lying = full;
  lying[2] += 1;  // claims one passage more than it holds
  EXPECT_THROW(unpack_batch(lying), Error);
  lying[2] -= 2;  // one passage fewer: the last one would be dropped unseen
  EXPECT_THROW(unpack_batch(lying), Error);
}

// Every rank but 0 is a group root sending `per_rank` batches (one of them large, so that MPI
// needs the sender inside it to move the data), then its end mark; rank 0 receives as the driver
// does and checks what came.
TEST(ResultsChannel, EveryBatchReachesRankZeroOnce) {
  int me = 0, world = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &me);
  MPI_Comm_size(MPI_COMM_WORLD, &world);
  const int per_rank = 12;
  auto passages_of = [](int k) { return k == 5 ? 400 : 1 + k % 4; };
  auto target_len_of = [](int k) { return k == 5 ? 600 : 2; };  // batch 5: ~0.5 million int64
  if (me != 0) {
    ResultSender outbox(MPI_COMM_WORLD);
    for (int k = 0; k < per_rank; ++k) {
      outbox.send_batch(make_batch(me, k, passages_of(k), target_len_of(k)));
      outbox.progress();
    }
    outbox.send_end();
  } else {
    ResultReceiver inbox(MPI_COMM_WORLD);
    std::map<int, std::map<int64_t, BatchResults>> got;  // sender -> batch id -> batch
    int ends = 0;
    auto deliver = [&](const BatchResults* b, bool end) {
      if (end) {
        ++ends;
        return;
      }
      auto& from = got[static_cast<int>(b->batch / 1000)];
      EXPECT_TRUE(from.emplace(b->batch, *b).second) << "batch " << b->batch << " came twice";
    };
    inbox.poll(deliver);  // rank 0 polls between its own batches: nothing may be lost
    while (ends < world - 1) inbox.wait_one(deliver);
    EXPECT_EQ(ends, world - 1);
    EXPECT_EQ(inbox.poll(deliver), 0) << "messages after every end mark";
    EXPECT_EQ(got.size(), static_cast<size_t>(world - 1));
    for (int sender = 1; sender < world; ++sender) {
      const std::map<int64_t, BatchResults>& batches = got[sender];
      ASSERT_EQ(batches.size(), static_cast<size_t>(per_rank)) << "from rank " << sender;
      for (int k = 0; k < per_rank; ++k) {
        SCOPED_TRACE("rank " + std::to_string(sender) + " batch " + std::to_string(k));
        const auto it = batches.find(sender * 1000 + k);
        ASSERT_NE(it, batches.end());
        expect_same(it->second, make_batch(sender, k, passages_of(k), target_len_of(k)));
      }
    }
  }
  ASSERT_EQ(MPI_Barrier(MPI_COMM_WORLD), MPI_SUCCESS);
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.message();
  }
  return "";
}

TEST(ResultsChannel, WaitsGiveUpAfterTheWatchdogTime) {
  int me = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &me);
  MPI_Comm unsent, unread;  // nobody sends on the first, rank 0 reads nothing on the second
  ASSERT_EQ(MPI_Comm_dup(MPI_COMM_WORLD, &unsent), MPI_SUCCESS);
  ASSERT_EQ(MPI_Comm_dup(MPI_COMM_WORLD, &unread), MPI_SUCCESS);
  setenv("BLOOM_COMM_TIMEOUT_S", "0.5", 1);
  const auto t0 = std::chrono::steady_clock::now();
  if (me == 0) {
    ResultReceiver inbox(unsent);
    const std::string why = error_of([&] { inbox.wait_one([](const BatchResults*, bool) {}); });
    EXPECT_NE(why.find("MPI wait for results of the other data-parallel groups of rank 0/"),
              std::string::npos) << why;
    EXPECT_NE(why.find("did not finish within 0.5 s (BLOOM_COMM_TIMEOUT_S)"), std::string::npos);
  } else {
    // A message far above the eager limit: it completes only once rank 0 receives it.
    ResultSender outbox(unread);
    outbox.send_batch(make_batch(me, 0, 2000, 600));
    const std::string why = error_of([&] { outbox.send_end(); });
    EXPECT_NE(why.find("MPI send of results to rank 0 of rank " + std::to_string(me)),
              std::string::npos) << why;
  }
  const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_GE(took, 0.5);
  EXPECT_LT(took, 5.0);  // the sender's destructor gives up on the lost send too
  unsetenv("BLOOM_COMM_TIMEOUT_S");
  ASSERT_EQ(MPI_Barrier(MPI_COMM_WORLD), MPI_SUCCESS);
}

}  // namespace
}  // namespace bloom

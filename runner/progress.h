// Progress on rank 0: passages done / total, tokens per second, ETA. On a terminal a live bar
// (redrawn in place at most 10 times a second); otherwise one plain line every 10 seconds, as
// batch logs want.
#pragma once

#include <chrono>
#include <cstdint>

namespace bloom {

class Progress {
 public:
  Progress(int64_t total, int64_t already_done, bool live_bar);
  void add(int64_t passages, int64_t tokens);
  void finish();
  int64_t done() const { return done_; }
  int64_t tokens() const { return tokens_; }

 private:
  void print(bool final_line);
  int64_t total_, done_, start_done_, tokens_ = 0;
  bool live_;
  bool finished_ = false;
  std::chrono::steady_clock::time_point t0_, last_;
};

}  // namespace bloom

// Progress on rank 0: passages done / total, tokens per second, ETA (and with -v the batch plan
// and every batch's timing). Bar: a live bar redrawn in
// place (at most 10 times a second), for an interactive terminal of a single-process run;
// Lines: one plain log line every 10 seconds, as batch logs want (under mpirun the ranks' stdout
// is a pty even when mpirun's output goes to a file, so a terminal check alone would put `\r`
// into logs); None: nothing.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "io/results_file.h"
#include "runner/batching.h"

namespace bloom {

enum class ProgressMode { Bar, Lines, None };

/// "bar", "lines" or "none" (`runner run --progress`); throws bloom::Error on anything else.
ProgressMode parse_progress_mode(const std::string& name);

/// The default: Bar on an interactive terminal of a single process that no launcher started,
/// else Lines.
ProgressMode default_progress_mode(int world_size);

/// -v (debug): a run's batch plan: batches, passages and tokens per data-parallel group.
void log_batch_plan(const std::string& run, const std::vector<PlannedBatch>& batches, int dp);
/// -v (debug): one evaluated batch and its times.
void log_batch_timing(const std::string& run, const io::BatchTiming& t);

class Progress {
 public:
  Progress(int64_t total, int64_t already_done, ProgressMode mode);
  void add(int64_t passages, int64_t tokens);
  void finish();
  int64_t done() const { return done_; }
  int64_t tokens() const { return tokens_; }

 private:
  void print();
  int64_t total_, done_, start_done_, tokens_ = 0;
  ProgressMode mode_;
  bool finished_ = false;
  std::chrono::steady_clock::time_point t0_, last_;
};

}  // namespace bloom

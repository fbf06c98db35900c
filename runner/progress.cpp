// Progress reporting (see progress.h).
#include "runner/progress.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <string>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "core/check.h"
#include "runner/launcher_watch.h"

namespace bloom {

ProgressMode parse_progress_mode(const std::string& name) {
  if (name == "bar") return ProgressMode::Bar;
  if (name == "lines") return ProgressMode::Lines;
  if (name == "none") return ProgressMode::None;
  BLOOM_FAIL("--progress must be bar, lines or none, got '{}'", name);
}

ProgressMode default_progress_mode(int world_size) {
  const bool interactive = world_size == 1 && !under_launcher() && isatty(STDOUT_FILENO) != 0;
  return interactive ? ProgressMode::Bar : ProgressMode::Lines;
}

void log_batch_plan(const std::string& run, const std::vector<PlannedBatch>& batches, int dp) {
  if (!spdlog::should_log(spdlog::level::debug)) return;
  std::vector<int64_t> n(static_cast<size_t>(dp), 0), passages(n), tokens(n);
  int64_t largest = 0;
  for (const PlannedBatch& b : batches) {
    ++n[static_cast<size_t>(b.dp_group)];
    passages[static_cast<size_t>(b.dp_group)] += static_cast<int64_t>(b.passages.size());
    tokens[static_cast<size_t>(b.dp_group)] += b.n_tokens;
    largest = std::max(largest, b.n_tokens);
  }
  spdlog::debug("run {}: batch plan: {} batches (longest first, the largest {} tokens)", run,
                batches.size(), largest);
  for (int g = 0; g < dp; ++g)
    spdlog::debug("run {}:   dp group {}: {} batches, {} passages, {} tokens", run, g,
                  n[static_cast<size_t>(g)], passages[static_cast<size_t>(g)],
                  tokens[static_cast<size_t>(g)]);
}

void log_batch_timing(const std::string& run, const io::BatchTiming& t) {
  spdlog::debug("run {}: batch {} (dp group {}): {} sequences, {} tokens, forward {:.3f} s, "
                "comm {:.3f} s ({:.0f} tokens/s)", run, t.batch, t.dp_rank, t.n_sequences,
                t.n_tokens, t.forward_seconds, t.comm_seconds,
                static_cast<double>(t.n_tokens) /
                    std::max(t.forward_seconds + t.comm_seconds, 1e-9));
}

Progress::Progress(int64_t total, int64_t already_done, ProgressMode mode)
    : total_(total), done_(already_done), start_done_(already_done), mode_(mode),
      t0_(std::chrono::steady_clock::now()), last_(t0_) {}

void Progress::add(int64_t passages, int64_t tokens) {
  done_ += passages;
  tokens_ += tokens;
  if (mode_ == ProgressMode::None) return;
  const auto now = std::chrono::steady_clock::now();
  const double since_last = std::chrono::duration<double>(now - last_).count();
  if (since_last >= (mode_ == ProgressMode::Bar ? 0.1 : 10.0)) {
    last_ = now;
    print();
  }
}

void Progress::finish() {
  if (finished_) return;
  finished_ = true;
  if (mode_ == ProgressMode::Bar) {
    print();
    std::fputc('\n', stdout);
    std::fflush(stdout);
  }
}

void Progress::print() {
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count();
  const double rate = s > 0 ? static_cast<double>(done_ - start_done_) / s : 0.0;
  const double eta = rate > 0 ? static_cast<double>(total_ - done_) / rate : 0.0;
  const double tps = s > 0 ? static_cast<double>(tokens_) / s : 0.0;
  const double frac = total_ ? static_cast<double>(done_) / static_cast<double>(total_) : 1.0;
  if (mode_ == ProgressMode::Bar) {
    const int width = 30, fill = static_cast<int>(frac * width);
    std::string bar(static_cast<size_t>(fill), '#');
    bar.resize(width, '.');
    std::fprintf(stdout, "\r[%s] %lld/%lld passages  %.0f tokens/s  ETA %.0f s   ", bar.c_str(),
                 static_cast<long long>(done_), static_cast<long long>(total_), tps, eta);
    std::fflush(stdout);
  } else {
    spdlog::info("progress: {}/{} passages ({:.1f}%), {:.0f} tokens/s, ETA {:.0f} s", done_,
                 total_, 100.0 * frac, tps, eta);
  }
}

}  // namespace bloom

#include "runner/progress.h"

#include <cstdio>
#include <string>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace bloom {

Progress::Progress(int64_t total, int64_t already_done, bool live_bar)
    : total_(total), done_(already_done), start_done_(already_done), live_(live_bar),
      t0_(std::chrono::steady_clock::now()), last_(t0_) {}

void Progress::add(int64_t passages, int64_t tokens) {
  done_ += passages;
  tokens_ += tokens;
  const auto now = std::chrono::steady_clock::now();
  const double since_last = std::chrono::duration<double>(now - last_).count();
  if ((live_ && since_last >= 0.1) || (!live_ && since_last >= 10.0)) {
    last_ = now;
    print(false);
  }
}

void Progress::finish() {
  if (finished_) return;
  finished_ = true;
  if (live_) {
    print(true);
    std::fputc('\n', stdout);
    std::fflush(stdout);
  }
}

void Progress::print(bool) {
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count();
  const double rate = s > 0 ? static_cast<double>(done_ - start_done_) / s : 0.0;
  const double eta = rate > 0 ? static_cast<double>(total_ - done_) / rate : 0.0;
  const double tps = s > 0 ? static_cast<double>(tokens_) / s : 0.0;
  const double frac = total_ ? static_cast<double>(done_) / static_cast<double>(total_) : 1.0;
  if (live_) {
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

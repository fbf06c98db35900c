// OpProfile: where one batch's time goes, op by op. While a Context carries a profile, every op
// and collective it runs is bracketed (ProfileScope): CUDA events on the context's stream, or the
// host clock on the CPU (ops there are synchronous). rows() aggregates by name in first-seen
// order; each name carries the op's FLOPs and the bytes it must move at the least, so a report
// can put each op beside its own floor (GEMMs at the measured GEMM rate, memory-bound ops at the
// measured copy bandwidth). Off (a null profile) costs one pointer test per op.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "core/context.h"

namespace bloom {

class OpProfile {
 public:
  struct Row {
    std::string name;
    int calls = 0;
    double seconds = 0.0, flops = 0.0, bytes = 0.0;
  };
  OpProfile() = default;
  ~OpProfile();
  OpProfile(const OpProfile&) = delete;
  OpProfile& operator=(const OpProfile&) = delete;

  void begin(const Context& ctx, std::string name, double flops, double bytes);
  void end(const Context& ctx);
  /// Waits for the recorded work, then sums by name.
  std::vector<Row> rows() const;
  void clear();

 private:
  struct Span {
    std::string name;
    double flops = 0.0, bytes = 0.0;
    void* start = nullptr;  // cudaEvent_t (CUDA) or null (CPU: host times below)
    void* stop = nullptr;
    std::chrono::steady_clock::time_point t0, t1;
  };
  std::vector<Span> spans_;
};

/// Brackets one op on ctx's profile, if it has one.
class ProfileScope {
 public:
  ProfileScope(const Context& ctx, const char* name, double flops, double bytes);
  ProfileScope(const Context& ctx, const std::string& name, double flops, double bytes);
  ~ProfileScope();
  ProfileScope(const ProfileScope&) = delete;
  ProfileScope& operator=(const ProfileScope&) = delete;

 private:
  const Context& ctx_;
};

}  // namespace bloom

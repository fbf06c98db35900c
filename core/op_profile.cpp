// OpProfile (see op_profile.h). Events are created per span and destroyed by clear(): a profile
// covers one batch (a few hundred ops), so simplicity wins over pooling.
#include "core/op_profile.h"

#include <map>

#include "core/check.h"

#ifdef BLOOM_WITH_CUDA
#include <cuda_runtime.h>
#endif

namespace bloom {

OpProfile::~OpProfile() { clear(); }

void OpProfile::begin([[maybe_unused]] const Context& ctx, std::string name, double flops,
                      double bytes) {
  Span s;
  s.name = std::move(name);
  s.flops = flops;
  s.bytes = bytes;
#ifdef BLOOM_WITH_CUDA
  if (ctx.device() == Device::CUDA) {
    cudaEvent_t a = nullptr, b = nullptr;
    BLOOM_CUDA_CHECK(cudaEventCreate(&a));
    BLOOM_CUDA_CHECK(cudaEventCreate(&b));
    s.start = a;
    s.stop = b;
    BLOOM_CUDA_CHECK(cudaEventRecord(a, static_cast<cudaStream_t>(ctx.stream())));
  }
#endif
  s.t0 = std::chrono::steady_clock::now();
  spans_.push_back(std::move(s));
}

void OpProfile::end(const Context& ctx) {
  BLOOM_CHECK(!spans_.empty(), "OpProfile::end without begin");
  Span& s = spans_.back();
#ifdef BLOOM_WITH_CUDA
  if (s.stop)
    BLOOM_CUDA_CHECK(cudaEventRecord(static_cast<cudaEvent_t>(s.stop),
                                     static_cast<cudaStream_t>(ctx.stream())));
#else
  (void)ctx;
#endif
  s.t1 = std::chrono::steady_clock::now();
}

std::vector<OpProfile::Row> OpProfile::rows() const {
  std::vector<Row> out;
  std::map<std::string, size_t> at;
  for (const Span& s : spans_) {
    double seconds = std::chrono::duration<double>(s.t1 - s.t0).count();
#ifdef BLOOM_WITH_CUDA
    if (s.stop) {
      BLOOM_CUDA_CHECK(cudaEventSynchronize(static_cast<cudaEvent_t>(s.stop)));
      float ms = 0.0f;
      BLOOM_CUDA_CHECK(cudaEventElapsedTime(&ms, static_cast<cudaEvent_t>(s.start),
                                            static_cast<cudaEvent_t>(s.stop)));
      seconds = ms * 1e-3;
    }
#endif
    auto [it, fresh] = at.emplace(s.name, out.size());
    if (fresh) out.push_back(Row{s.name, 0, 0.0, 0.0, 0.0});
    Row& r = out[it->second];
    r.calls += 1;
    r.seconds += seconds;
    r.flops += s.flops;
    r.bytes += s.bytes;
  }
  return out;
}

void OpProfile::clear() {
#ifdef BLOOM_WITH_CUDA
  for (Span& s : spans_) {
    if (s.start) cudaEventDestroy(static_cast<cudaEvent_t>(s.start));
    if (s.stop) cudaEventDestroy(static_cast<cudaEvent_t>(s.stop));
  }
#endif
  spans_.clear();
}

ProfileScope::ProfileScope(const Context& ctx, const char* name, double flops, double bytes)
    : ctx_(ctx) {
  if (ctx_.profile()) ctx_.profile()->begin(ctx_, name, flops, bytes);
}

ProfileScope::ProfileScope(const Context& ctx, const std::string& name, double flops, double bytes)
    : ctx_(ctx) {
  if (ctx_.profile()) ctx_.profile()->begin(ctx_, name, flops, bytes);
}

ProfileScope::~ProfileScope() {
  if (ctx_.profile()) {
    try {
      ctx_.profile()->end(ctx_);
    } catch (...) {  // destructors never throw; a failed record shows as a zero-length span
    }
  }
}

}  // namespace bloom

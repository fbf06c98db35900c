// bench_forward: the forward + scoring rate of our engine on LAMBADA passages, next to the
// machine's own GEMM rate (sgemm on CPU), in GFLOP/s counted as 2 x body parameters x tokens.
//   bench_forward --model DIR --tokens FILE.jsonl [--backend cpu|cuda] [--dtype fp32|fp16|bf16]
//                 [--passages N] [--batch-size B] [--max-tokens T] [--repeat R]
//                 [--profile GEMM_TFLOPS,COPY_TBPS]
// FILE.jsonl holds context_ids/target_ids per passage (tests/data/*/tokenization.jsonl).
// The timed pass runs R times (default 3) and the median counts. On the CPU, OpenBLAS's sgemm
// 1024^3 (with its own threads) is timed R times before and R times after ours, interleaved
// with nothing else, and its median is the baseline: on a shared machine a single baseline
// run taken while another job runs makes the ratio meaningless. On the GPU the runner's
// start-up warm-up (GEMM tuning) runs first, as in a real run; BLOOM_NO_TUNING=1 skips it.
// --profile: one more pass with per-op timing (core/op_profile.h), printed as a table of each
// op's time beside its floor: FLOPs at GEMM_TFLOPS for GEMMs, bytes at COPY_TBPS for the rest.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include <cblas.h>
#include <nlohmann/json.hpp>

#include "core/check.h"
#include "core/op_profile.h"
#include "engine/bloom.h"
#include "io/checkpoint.h"
#include "runner/batching.h"
#include "runner/evaluate.h"

using namespace bloom;
using Clock = std::chrono::steady_clock;

namespace {

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/// GFLOP/s of `trials` timings of 3 products of n^3 each (after one warm-up product).
std::vector<double> sgemm_gflops(int n, int trials) {
  std::vector<float> a(static_cast<size_t>(n) * n), b(a.size(), 0.25f), c(a.size());
  for (size_t i = 0; i < a.size(); ++i) a[i] = static_cast<float>(i % 13) * 0.01f;
  auto product = [&] {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, n, n, 1.f, a.data(), n, b.data(), n,
                0.f, c.data(), n);
  };
  product();
  std::vector<double> rates;
  for (int t = 0; t < trials; ++t) {
    const auto t0 = Clock::now();
    for (int r = 0; r < 3; ++r) product();
    rates.push_back(2.0 * n * n * n * 3 / seconds_since(t0) / 1e9);
  }
  return rates;
}

// The profiled pass's table: op, calls, seconds, share, rate, floor, time / floor.
void print_profile(const OpProfile& prof, double wall, double gemm_tflops, double copy_tbps) {
  double ops_s = 0.0, floor_s = 0.0;
  std::printf("%-34s %6s %9s %6s %12s %9s %7s\n", "op", "calls", "ms", "share", "rate", "floor ms",
              "x floor");
  for (const OpProfile::Row& r : prof.rows()) {
    const bool gemm = r.flops > 0.0;
    const double fl = gemm ? r.flops / (gemm_tflops * 1e12) : r.bytes / (copy_tbps * 1e12);
    const double rate = gemm ? r.flops / r.seconds / 1e12 : r.bytes / r.seconds / 1e12;
    std::printf("%-34s %6d %9.2f %5.1f%% %8.1f %s %9.2f %7.2f\n", r.name.c_str(), r.calls,
                r.seconds * 1e3, 100.0 * r.seconds / wall, rate, gemm ? "TF/s" : "TB/s", fl * 1e3,
                r.seconds / fl);
    ops_s += r.seconds;
    floor_s += fl;
  }
  std::printf("%-34s %6s %9.2f %5.1f%%\n", "between ops (gaps, host work)", "", (wall - ops_s) * 1e3,
              100.0 * (wall - ops_s) / wall);
  std::printf("%-34s %6s %9.2f %6s %12s %9.2f %7.2f\n", "total", "", wall * 1e3, "", "",
              floor_s * 1e3, wall / floor_s);
}

}  // namespace

int main(int argc, char** argv) {
  std::string model, tokens, backend = "cpu", dtype = "fp32";
  int64_t passages = 64, batch_size = 16, max_tokens = 4096, repeat = 3;
  double prof_gemm = 0.0, prof_copy = 0.0;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--model") model = v;
    else if (k == "--tokens") tokens = v;
    else if (k == "--backend") backend = v;
    else if (k == "--dtype") dtype = v;
    else if (k == "--passages") passages = std::stoll(v);
    else if (k == "--batch-size") batch_size = std::stoll(v);
    else if (k == "--max-tokens") max_tokens = std::stoll(v);
    else if (k == "--repeat") repeat = std::max<int64_t>(1, std::stoll(v));
    else if (k == "--profile") std::sscanf(v.c_str(), "%lf,%lf", &prof_gemm, &prof_copy);
    else { std::fprintf(stderr, "unknown option %s\n", k.c_str()); return 2; }
  }
  if (model.empty() || tokens.empty()) {
    std::fprintf(stderr, "usage: bench_forward --model DIR --tokens FILE.jsonl [...]\n");
    return 2;
  }
  try {
    std::vector<TokenizedPassage> data;
    std::ifstream in(tokens);
    for (std::string line; std::getline(in, line) && static_cast<int64_t>(data.size()) < passages;) {
      const auto j = nlohmann::json::parse(line);
      data.push_back({j["context_ids"].get<std::vector<int32_t>>(), j["target_ids"].get<std::vector<int32_t>>()});
    }
    std::vector<int64_t> lengths;
    int64_t total = 0;
    for (const auto& d : data) lengths.push_back(d.n_tokens()), total += d.n_tokens();
    const BloomConfig c = BloomConfig::from_file(model + "/config.json");
    const Device dev = backend == "cuda" ? Device::CUDA : Device::CPU;
    const int trials = static_cast<int>(repeat);
    std::vector<double> sgemm = dev == Device::CPU ? sgemm_gflops(1024, trials) : std::vector<double>{};
    Context ctx(dev);
    auto comm = make_local_communicator();
    const auto tl = Clock::now();
    BloomWeights w = BloomWeights::load(io::Checkpoint::open(model), c, TpPlan::make(c, 0, 1),
                                        parse_dtype(dtype), ctx);
    const double load_s = seconds_since(tl);
    const auto batches = plan_batches(lengths, batch_size, max_tokens, 1);
    const WorkspaceLimits lim = workspace_limits(batches, data, w.plan.vocab_local);
    Workspace ws = Workspace::make(c, w.plan, w.dtype, dev, lim);
    // The runner's start-up warm-up (GEMM tuning on the GPU), the first batch once, then the
    // timed passes over all of them.
    if (std::getenv("BLOOM_NO_TUNING") == nullptr)
      std::printf("warm-up (GEMM tuning, %zu size classes): %.3f s\n",
                  warmup_batches(batches).size(), warm_up(w, batches, data, ws, *comm, ctx));
    else
      std::printf("warm-up skipped (BLOOM_NO_TUNING): the heuristic's first GEMM algorithms\n");
    evaluate_batch(w, batches[0], pack(batches[0], data), data, ws, *comm, ctx);
    std::vector<double> secs;
    int64_t correct = 0;
    for (int r = 0; r < trials; ++r) {
      const auto t0 = Clock::now();
      correct = 0;
      for (const auto& b : batches)
        for (const auto& res : evaluate_batch(w, b, pack(b, data), data, ws, *comm, ctx)) correct += res.correct;
      ctx.synchronize();
      secs.push_back(seconds_since(t0));
    }
    const double s = median(secs);
    const double flops = 2.0 * static_cast<double>(c.body_params()) * static_cast<double>(total);
    std::printf("model %s: %lld layers, hidden %lld, vocab %lld, %.3g body params\n", model.c_str(),
                (long long)c.n_layer, (long long)c.hidden, (long long)c.vocab, (double)c.body_params());
    std::printf("load: %.2f s\n", load_s);
    std::printf("ours (%s %s): %lld passages, %lld tokens, %zu batches, %lld correct; median of %d "
                "passes %.3f s (min %.3f, max %.3f) = %.1f tokens/s, %.1f GFLOP/s (body)\n",
                backend.c_str(), dtype.c_str(), (long long)data.size(), (long long)total,
                batches.size(), (long long)correct, trials, s,
                *std::min_element(secs.begin(), secs.end()),
                *std::max_element(secs.begin(), secs.end()), total / s, flops / s / 1e9);
    if (prof_gemm > 0.0 && prof_copy > 0.0) {
      OpProfile prof;
      ctx.set_profile(&prof);
      const auto p0 = Clock::now();
      for (const auto& b : batches) evaluate_batch(w, b, pack(b, data), data, ws, *comm, ctx);
      ctx.synchronize();
      const double wall = seconds_since(p0);
      ctx.set_profile(nullptr);
      std::printf("per-op profile of one more pass (%zu batches, %.3f s with timing events):\n",
                  batches.size(), wall);
      print_profile(prof, wall, prof_gemm, prof_copy);
    }
    if (dev == Device::CPU) {
      for (double g : sgemm_gflops(1024, trials)) sgemm.push_back(g);
      const double g = median(sgemm);
      std::printf("sgemm 1024^3 (OpenBLAS, %d threads, same process): median of %zu trials %.1f "
                  "GFLOP/s (min %.1f, max %.1f); ours / sgemm = %.2f\n",
                  openblas_get_num_threads(), sgemm.size(), g,
                  *std::min_element(sgemm.begin(), sgemm.end()),
                  *std::max_element(sgemm.begin(), sgemm.end()), flops / s / 1e9 / g);
      std::printf("RESULT ours_seconds=%.4f tokens=%lld gflops=%.2f sgemm_gflops=%.2f\n", s,
                  (long long)total, flops / s / 1e9, g);
    } else {
      std::printf("RESULT ours_seconds=%.4f tokens=%lld gflops=%.2f\n", s, (long long)total,
                  flops / s / 1e9);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}

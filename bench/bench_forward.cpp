// bench_forward: the forward + scoring rate of our engine on LAMBADA passages, next to the
// machine's own GEMM rate (sgemm on CPU), in GFLOP/s counted as 2 x body parameters x tokens.
//   bench_forward --model DIR --tokens FILE.jsonl [--backend cpu|cuda] [--dtype fp32|fp16|bf16]
//                 [--passages N] [--batch-size B] [--max-tokens T]
//                 [--profile GEMM_TFLOPS,COPY_TBPS]
// --profile: one more pass with per-op timing (core/op_profile.h), printed as a table of each
// op's time beside its floor: FLOPs at GEMM_TFLOPS for GEMMs, bytes at COPY_TBPS for the rest.
// FILE.jsonl holds context_ids/target_ids per passage (tests/data/*/tokenization.jsonl).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include <cblas.h>
#include <nlohmann/json.hpp>

#include "core/op_profile.h"
#include "engine/bloom.h"
#include "core/check.h"
#include "io/checkpoint.h"
#include "runner/batching.h"
#include "runner/evaluate.h"

using namespace bloom;
using Clock = std::chrono::steady_clock;

namespace {

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

double sgemm_gflops(int n) {
  std::vector<float> a(static_cast<size_t>(n) * n, 0.5f), b(a.size(), 0.25f), c(a.size());
  for (size_t i = 0; i < a.size(); ++i) a[i] = static_cast<float>(i % 13) * 0.01f;
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, n, n, 1.f, a.data(), n, b.data(), n, 0.f, c.data(), n);
  const int reps = 3;
  const auto t0 = Clock::now();
  for (int r = 0; r < reps; ++r)
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, n, n, 1.f, a.data(), n, b.data(), n, 0.f, c.data(), n);
  return 2.0 * n * n * n * reps / seconds_since(t0) / 1e9;
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
  int64_t passages = 64, batch_size = 16, max_tokens = 4096;
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
    Context ctx(dev);
    auto comm = make_local_communicator();
    const auto tl = Clock::now();
    BloomWeights w = BloomWeights::load(io::Checkpoint::open(model), c, TpPlan::make(c, 0, 1),
                                        parse_dtype(dtype), ctx);
    const double load_s = seconds_since(tl);
    const auto batches = plan_batches(lengths, batch_size, max_tokens, 1);
    const WorkspaceLimits lim = workspace_limits(batches, data, w.plan.vocab_local);
    Workspace ws = Workspace::make(c, w.plan, w.dtype, dev, lim);
    // Warm-up (GEMM tuning on one batch of each size class, as the runner does at start-up),
    // then the first batch once more, then the timed pass over all of them.
    if (std::getenv("BLOOM_NO_TUNING") == nullptr)
      std::printf("warm-up (GEMM tuning, %zu size classes): %.3f s\n",
                  warmup_batches(batches).size(), warm_up(w, batches, data, ws, *comm, ctx));
    else
      std::printf("warm-up skipped (BLOOM_NO_TUNING): heuristic's first GEMM algorithms\n");
    evaluate_batch(w, batches[0], pack(batches[0], data), data, ws, *comm, ctx);
    const auto t0 = Clock::now();
    int64_t correct = 0;
    for (const auto& b : batches)
      for (const auto& r : evaluate_batch(w, b, pack(b, data), data, ws, *comm, ctx)) correct += r.correct;
    ctx.synchronize();
    const double s = seconds_since(t0);
    const double flops = 2.0 * static_cast<double>(c.body_params()) * static_cast<double>(total);
    std::printf("model %s: %lld layers, hidden %lld, vocab %lld, %.3g body params\n", model.c_str(),
                (long long)c.n_layer, (long long)c.hidden, (long long)c.vocab, (double)c.body_params());
    std::printf("load: %.2f s\n", load_s);
    std::printf("ours (%s %s): %lld passages, %lld tokens, %zu batches in %.3f s = %.1f tokens/s, "
                "%.1f GFLOP/s (body)\n", backend.c_str(), dtype.c_str(), (long long)data.size(),
                (long long)total, batches.size(), s, total / s, flops / s / 1e9);
    if (dev == Device::CPU) {
      const double g = sgemm_gflops(1024);
      std::printf("sgemm 1024^3 (OpenBLAS, same process): %.1f GFLOP/s; ours / sgemm = %.2f\n", g,
                  flops / s / 1e9 / g);
    }
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
    std::printf("RESULT ours_seconds=%.4f tokens=%lld gflops=%.2f\n", s, (long long)total, flops / s / 1e9);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}

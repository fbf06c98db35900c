// The job driver (see driver.h). Per run:
//   layout (Topology, communicators) -> model (kept while path/dtype/backend/tp are unchanged)
//   -> tokenize -> plan + deal batches -> evaluate this group's batches -> rank 0 writes.
// Rank 0 is also a worker (DP group 0); between its own batches it drains the results other
// groups sent, so results are written (and flushed) as batches finish anywhere.
#include "runner/driver.h"

#include <mpi.h>

#include <algorithm>
#include <thread>
#include <chrono>
#include <cmath>
#include <memory>
#include <optional>

#include <spdlog/spdlog.h>

#include "core/check.h"
#include "core/comm_mpi.h"
#include "core/comm_watchdog.h"
#include "engine/bloom_weights.h"
#include "io/checkpoint.h"
#include "io/dataset.h"
#include "io/run_summary.h"
#include "io/tokenizer.h"
#include "runner/accuracy_check.h"
#include "runner/agreement.h"
#include "runner/evaluate.h"
#include "runner/log.h"
#include "runner/passage_limits.h"
#include "runner/preflight.h"
#include "runner/progress.h"
#include "runner/provenance.h"
#include "runner/results_channel.h"
#include "runner/resume.h"
#include "runner/signals.h"
#ifdef BLOOM_WITH_NCCL
#include "core/comm_nccl.h"
#endif

namespace bloom {

std::atomic<bool> g_stop_requested{false};

namespace {

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// Everything that survives from one run to the next while the layout and model stay the same.
struct Engine {
  std::string key;  // path|dtype|backend|tp|dp
  std::unique_ptr<Topology> topo;
  std::unique_ptr<Context> ctx;
  std::unique_ptr<Communicator> tp_comm;
  std::optional<BloomWeights> weights;
  double load_seconds = 0.0;
};

// load.threads, or for `auto` this node's cores shared by its ranks, at most 16 (14 GB from
// the page cache on the H200 machine: safetensors 1.9 s with 4 threads, 2.0 s with 16; a
// FasterTransformer folder, which transposes as it reads, 3.0 and 2.0 s).
int load_threads(const RunSpec& r, const MpiSession& mpi) {
  if (r.load_threads > 0) return static_cast<int>(r.load_threads);
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  return std::clamp(cores / std::max(mpi.local_size(), 1), 1, 16);
}

void prepare_engine(Engine& e, const RunSpec& r, const MpiSession& mpi) {
  const std::string key = fmt::format("{}|{}|{}|{}|{}|{}", r.model.path, r.model.format,
                                      r.model.dtype, r.model.backend, r.parallelism.tp,
                                      r.parallelism.dp);
  if (e.key == key) {
    e.load_seconds = 0.0;  // weights kept from the previous run
    return;
  }
  e.weights.reset();
  e.tp_comm.reset();
  e.topo.reset();
  const ModelSource src = ModelSource::open(r.model.path, parse_model_format(r.model.format));
  const BloomConfig& config = src.config;
  for (const std::string& w : src.warnings) spdlog::warn("{}", w);
  check_layout(mpi.world_size(), static_cast<int>(r.parallelism.tp),
               static_cast<int>(r.parallelism.dp), static_cast<int>(config.n_head));
  e.topo = std::make_unique<Topology>(mpi, static_cast<int>(r.parallelism.tp),
                                      static_cast<int>(r.parallelism.dp));
  set_log_layout(e.topo->world_rank, e.topo->dp_rank, e.topo->tp_rank);
  const Device device = r.model.backend == "cuda" ? Device::CUDA : Device::CPU;
  if (!e.ctx || e.ctx->device() != device)
    e.ctx = std::make_unique<Context>(device, device == Device::CUDA ? e.topo->local_rank : 0);
  if (e.topo->tp == 1) {
    e.tp_comm = make_local_communicator();
  } else if (device == Device::CPU) {
    e.tp_comm = make_mpi_communicator(e.topo->tp_comm);
  } else {
#ifdef BLOOM_WITH_NCCL
    e.tp_comm = make_nccl_communicator(e.topo->tp_comm, *e.ctx);
#else
    BLOOM_FAIL("tp > 1 on the cuda backend needs a build with NCCL (BLOOM_WITH_NCCL=ON)");
#endif
  }
  const TpPlan plan = TpPlan::make(config, e.topo->tp_rank, e.topo->tp);
  const auto t0 = Clock::now();
  e.weights.emplace(BloomWeights::load(src, plan, parse_dtype(r.model.dtype), *e.ctx,
                                       load_threads(r, mpi)));
  e.ctx->synchronize();
  e.load_seconds = since(t0);
  mpi_allreduce(&e.load_seconds, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD, "exchange of load times");
  spdlog::info("loaded {} ({}, {} layers, hidden {}, {} heads) as {} on {}: {:.2f} GB per rank "
               "in {:.2f} s ({:.2f} GB/s)", r.model.path,
               model_format_name(src.location.format), config.n_layer, config.hidden,
               config.n_head, r.model.dtype, r.model.backend, e.weights->load_stats.bytes / 1e9,
               e.load_seconds, e.weights->load_stats.bytes / 1e9 / std::max(e.load_seconds, 1e-9));
  e.key = key;
}

std::vector<TokenizedPassage> tokenize(const RunSpec& r, std::vector<io::Example>& examples) {
  const io::Tokenizer tok = io::Tokenizer::from_file(r.model.tokenizer);
  examples = io::read_lambada(r.dataset.path, r.dataset.limit > 0 ? r.dataset.limit : -1);
  std::vector<TokenizedPassage> out(examples.size());
  for (size_t i = 0; i < examples.size(); ++i) {
    out[i].context_ids = tok.encode(examples[i].context);
    out[i].target_ids = tok.encode(examples[i].target);
    BLOOM_CHECK(!out[i].context_ids.empty() && !out[i].target_ids.empty(),
                "{}:{}: passage tokenizes to an empty context or target", r.dataset.path,
                examples[i].line);
  }
  return out;
}

// Tokens per batch: the spec's batch.max_tokens, else CPU 4096 (BLAS at speed, memory modest),
// else on CUDA what half the free device memory holds in workspace, capped at 32768 (GEMMs of
// 16k+ rows already run at the card's rate; larger batches only cost memory).
int64_t choose_max_tokens(const RunSpec& r, const Engine& e) {
  if (r.batch.max_tokens > 0) return r.batch.max_tokens;
  if (e.ctx->device() == Device::CPU) return 4096;
  const BloomWeights& w = *e.weights;
  const size_t per_1k = Workspace::bytes_needed(w.config, w.plan, w.dtype, {1024, 1, 1, 1});
  const size_t free_bytes = e.ctx->device_memory().first;
  const int64_t fit = static_cast<int64_t>(free_bytes / 2 / std::max<size_t>(per_1k, 1)) * 1024;
  BLOOM_CHECK(fit >= 1024, "only {:.2f} GB of device memory left after loading the weights: not "
              "enough for a batch of 1024 tokens", free_bytes / 1e9);
  return std::min<int64_t>(fit, 32768);
}

io::RunAttributes base_attributes(const RunSpec& r, const Topology& t, int64_t max_tokens,
                                  const ResumeRecord& record) {
  io::RunAttributes a;
  add_resume_record(record, a);
  a.model = r.model.path;
  a.dtype = r.model.dtype;
  a.backend = r.model.backend;
  a.batch_size = r.batch.size;
  a.max_tokens = max_tokens;
  a.tp = t.tp;
  a.dp = t.dp;
  return a;
}

// Gathers every rank's timings on world rank 0.
std::vector<io::BatchTiming> gather_timings(const std::vector<io::BatchTiming>& mine, int rank,
                                            int size) {
  const int bytes = static_cast<int>(mine.size() * sizeof(io::BatchTiming));
  std::vector<int> counts(static_cast<size_t>(size)), displs(static_cast<size_t>(size));
  MPI_Request req;
  BLOOM_MPI_CHECK(MPI_Igather(&bytes, 1, MPI_INT, counts.data(), 1, MPI_INT, 0, MPI_COMM_WORLD, &req));
  mpi_wait(req, MPI_COMM_WORLD, "gather of timings");
  std::vector<io::BatchTiming> all;
  if (rank == 0) {
    int total = 0;
    for (int i = 0; i < size; ++i) displs[i] = total, total += counts[i];
    all.resize(static_cast<size_t>(total) / sizeof(io::BatchTiming));
  }
  BLOOM_MPI_CHECK(MPI_Igatherv(mine.data(), bytes, MPI_BYTE, all.data(), counts.data(),
                               displs.data(), MPI_BYTE, 0, MPI_COMM_WORLD, &req));
  mpi_wait(req, MPI_COMM_WORLD, "gather of timings");
  return all;
}

struct RunOutcome {
  bool stopped = false;
};

RunOutcome run_one(const RunSpec& r, const ResumeRecord& record, Engine& e, const MpiSession& mpi,
                   io::ResultsFile* writer, const DriverOptions& opt, const std::string& overrides) {
  const auto wall0 = Clock::now();
  const std::string started = utc_now();
  const int rank = mpi.world_rank();
  // Resume: rank 0 knows what is finished; everyone learns it.
  int skip = writer && writer->run_complete(r.name) ? 1 : 0;
  mpi_bcast(&skip, 1, MPI_INT, 0, MPI_COMM_WORLD, "broadcast of the resume state");
  if (skip) {
    spdlog::info("run {}: already complete in {}, skipped", r.name, r.output.path);
    return {};
  }
  prepare_engine(e, r, mpi);
  const Topology& t = *e.topo;
  const std::string environment = collect_environment(*e.ctx, MPI_COMM_WORLD, opt.runner_version);

  const auto tok0 = Clock::now();
  std::vector<io::Example> examples;
  std::vector<TokenizedPassage> data = tokenize(r, examples);
  const LengthReport length_report = limit_passage_lengths(data, r.dataset.max_tokens);
  if (rank == 0) log_length_report(r, length_report, examples);
  const double tokenize_seconds = since(tok0);
  std::vector<int64_t> lengths;
  int64_t total_tokens = 0, longest = 0;
  for (const TokenizedPassage& d : data) {
    lengths.push_back(d.n_tokens());
    total_tokens += d.n_tokens();
    longest = std::max(longest, d.n_tokens());
  }
  const int64_t max_tokens = choose_max_tokens(r, e);
  const std::vector<PlannedBatch> batches = plan_batches(lengths, r.batch.size, max_tokens, t.dp);
  if (rank == 0) log_batch_plan(r.name, batches, t.dp);
  const int64_t n = static_cast<int64_t>(data.size());
  if (rank == 0 && static_cast<int64_t>(batches.size()) < t.dp)
    spdlog::warn("run {}: {} batch(es) for {} data-parallel groups: {} group(s) stay idle (a "
                 "smaller batch.size spreads the passages)", r.name, batches.size(), t.dp,
                 t.dp - static_cast<int64_t>(batches.size()));

  std::vector<uint8_t> done(static_cast<size_t>(n), 0);
  io::RunAttributes base;  // rank 0's: what begin_run and finish_run write
  if (writer) {
    // What is kept is checked against this job's passages before anything is written.
    const ResumePlan plan = check_kept_rows(*writer, r, data, max_tokens);
    base = base_attributes(r, t, max_tokens, record);
    set_inputs(base, r, overrides);
    record_length_limits(length_report, base);
    base.environment = environment;
    base.started_utc = started;
    const ResultsWriteGuard guard;
    writer->begin_run(r.name, n, base);
    done = writer->done_rows(r.name);
    BLOOM_CHECK(std::count(done.begin(), done.end(), 1) == plan.kept,
                "run {}: {} done rows after reopening, {} verified", r.name,
                std::count(done.begin(), done.end(), 1), plan.kept);
  }
  mpi_bcast(done.data(), static_cast<int>(n), MPI_UINT8_T, 0, MPI_COMM_WORLD,
            "broadcast of the finished rows");
  const int64_t already = std::count(done.begin(), done.end(), 1);
  spdlog::info("run {}: {} passages ({} tokens, {} batches, <= {} sequences and <= {} tokens "
               "each), tp {} x dp {}, {} on {}{}", r.name, n, total_tokens, batches.size(),
               r.batch.size, max_tokens, t.tp, t.dp, r.model.dtype, r.model.backend,
               already ? fmt::format(", resuming with {} passages kept (checksums, passages and "
                                     "tokens verified), {} to compute", already, n - already)
                       : "");

  // Workspace for the largest batch of this run.
  const WorkspaceLimits lim = workspace_limits(batches, data, e.weights->plan.vocab_local);
  Workspace ws = Workspace::make(e.weights->config, e.weights->plan, e.weights->dtype,
                                 e.ctx->device(), lim);
  // GEMM tuning for this run's batch sizes, before the clock starts (cached across runs).
  const double warm_seconds = warm_up(*e.weights, batches, data, ws, *e.tp_comm, *e.ctx);
  if (warm_seconds > 0.0) spdlog::info("run {}: warm-up (GEMM tuning) {:.2f} s", r.name, warm_seconds);

  // Evaluate this group's batches; group roots ship results to rank 0.
  Progress progress(n, already, rank == 0 ? opt.progress : ProgressMode::None);
  std::vector<io::BatchTiming> timings;
  const auto eval0 = Clock::now();
  bool stopped = false;
  int ends_pending = t.dp;  // rank 0 waits for every group's end mark
  auto write = [&](const BatchResults& b) {
    const ResultsWriteGuard guard;
    writer->write_predictions(r.name, b.rows, b.passages);
    progress.add(static_cast<int64_t>(b.passages.size()), b.n_tokens);
  };
  ResultReceiver inbox(MPI_COMM_WORLD);
  auto deliver = [&](const BatchResults* b, bool end) {
    if (end) --ends_pending;
    else write(*b);
  };
  ResultSender outbox(MPI_COMM_WORLD);
  for (const PlannedBatch& b : batches) {
    if (b.dp_group != t.dp_rank) continue;
    bool all_done = true;
    for (int64_t i : b.passages) all_done = all_done && done[static_cast<size_t>(i)];
    if (all_done) continue;
    int stop = g_stop_requested.load() ? 1 : 0;  // the TP group stops together
    mpi_allreduce(&stop, 1, MPI_INT, MPI_MAX, t.tp_comm, "stop vote of the tensor-parallel group");
    if (stop) {
      stopped = true;
      break;
    }
    const auto b0 = Clock::now();
    const double comm0 = e.tp_comm->seconds();
    const PackedBatch packed = pack(b, data);
    BatchResults res;
    res.batch = b.id;
    res.n_tokens = b.n_tokens;
    res.rows = b.passages;
    res.passages = evaluate_batch(*e.weights, b, packed, data, ws, *e.tp_comm, *e.ctx);
    io::BatchTiming bt;
    bt.batch = b.id;
    bt.rank = rank;
    bt.dp_rank = t.dp_rank;
    bt.tp_rank = t.tp_rank;
    bt.n_sequences = static_cast<int32_t>(b.passages.size());
    bt.n_tokens = b.n_tokens;
    bt.start_seconds = std::chrono::duration<double>(b0 - eval0).count();
    bt.comm_seconds = e.tp_comm->seconds() - comm0;
    bt.forward_seconds = since(b0) - bt.comm_seconds;
    timings.push_back(bt);
    if (t.is_group_root()) log_batch_timing(r.name, bt);
    if (rank == 0) {
      write(res);
      inbox.poll(deliver);
    } else if (t.is_group_root()) {
      outbox.send_batch(res);
      outbox.progress();  // moves earlier batches along while rank 0 polls between its batches
    }
  }
  if (t.is_group_root() && rank != 0) outbox.send_end();
  if (rank == 0) {
    --ends_pending;  // group 0's own end
    while (ends_pending > 0) inbox.wait_one(deliver);
  }
  progress.finish();
  const double evaluate_seconds = since(eval0);
  int any_stop = stopped ? 1 : 0;
  // Groups end at different times (slower nodes): the watchdog allows one more evaluation time.
  mpi_allreduce(&any_stop, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD, "end of the run",
                comm_timeout_seconds() + evaluate_seconds);
  const std::vector<io::BatchTiming> all_timings = gather_timings(timings, rank, mpi.world_size());
  // Device memory in use after the run (weights, workspace, library handles, NCCL buffers);
  // on the CPU backend the bytes of weights and workspace.
  const auto [free_b, total_b] = e.ctx->device_memory();
  int64_t peak = total_b ? static_cast<int64_t>(total_b - free_b)
                         : static_cast<int64_t>(e.weights->load_stats.bytes + ws.bytes);
  mpi_allreduce(&peak, 1, MPI_INT64_T, MPI_MAX, MPI_COMM_WORLD, "exchange of memory use");
  if (!writer) return {any_stop != 0};

  {
    const ResultsWriteGuard guard;
    writer->append_timings(r.name, all_timings);
  }
  if (any_stop) {
    spdlog::warn("run {}: stopped by a signal; {} keeps every finished batch, rerun with "
                 "output.resume: true to continue", r.name, r.output.path);
    return {true};
  }
  // Summary over every row of the run (rows finished before a resume included).
  const std::vector<io::PassageResult> all = writer->read_predictions(r.name);
  const io::RunStatistics stats = io::run_statistics(all);
  io::RunAttributes a = base;
  io::set_statistics(a, stats);
  a.n_examples = n;
  a.load_seconds = e.load_seconds;
  a.tokenize_seconds = tokenize_seconds;
  a.evaluate_seconds = evaluate_seconds;
  a.wall_seconds = since(wall0);
  // Throughput of this attempt: the rows it computed (fewer than n when resumed) over its time.
  a.n_evaluated = progress.done() - already;
  a.tokens_per_second = static_cast<double>(progress.tokens()) / std::max(evaluate_seconds, 1e-9);
  a.passages_per_second = static_cast<double>(a.n_evaluated) / std::max(evaluate_seconds, 1e-9);
  a.peak_device_bytes = peak;
  a.finished_utc = utc_now();
  {
    const ResultsWriteGuard guard;
    writer->finish_run(r.name, a);
  }
  spdlog::info("run {}: accuracy {:.4f} +/- {:.4f} ({}/{}, 95% CI {:.4f}-{:.4f}), token perplexity "
               "{:.3f}, passage perplexity {:.4g}, evaluate {:.2f} s ({:.0f} tokens/s), wall {:.2f} s",
               r.name, a.accuracy, a.accuracy_stderr, a.n_correct, n, a.accuracy_ci95_low,
               a.accuracy_ci95_high, a.token_perplexity, a.passage_perplexity, evaluate_seconds,
               a.tokens_per_second, a.wall_seconds);
  spdlog::default_logger()->flush();
  // FasterTransformer's own line, unprefixed, for the scripts that grep for it.
  fmt::print("{}\n", ft_accuracy_line(a.n_correct, n, evaluate_seconds));
  std::fflush(stdout);
  return {};
}

}  // namespace

int run_job(const JobSpec& job, const MpiSession& mpi, const DriverOptions& opt) {
  std::vector<RunCheck> checks;
  if (mpi.world_rank() == 0) checks = preflight(job, mpi.world_size());  // before the file exists
  // Logs carry the first run's place in the layout from here (a rank that cannot read its
  // inputs says so as "[r2 dp1 tp0]"); prepare_engine sets it again for each layout.
  const int tp0 = static_cast<int>(job.runs.front().parallelism.tp);
  if (tp0 > 0 && mpi.world_size() % tp0 == 0)
    set_log_layout(mpi.world_rank(), mpi.world_rank() / tp0, mpi.world_rank() % tp0);
  // Every rank's inputs, compared: the same on every rank from here on.
  const std::vector<Fingerprints> inputs = agree_on_inputs(job, mpi);
  std::vector<ResumeRecord> records;
  for (size_t i = 0; i < job.runs.size(); ++i)
    records.push_back(resume_record(job.runs[i], mpi.world_size(), inputs[i]));
  std::unique_ptr<io::ResultsFile> writer;
  if (mpi.world_rank() == 0) {
    std::vector<int64_t> rows;
    for (const RunCheck& c : checks) rows.push_back(c.n_passages);
    const ResultsWriteGuard guard;
    writer = open_results_file(job, records, rows, mpi.world_size(), opt.runner_version);
  }
  mpi_barrier(MPI_COMM_WORLD, "start of the job");
  Engine engine;
  bool stopped = false;
  for (size_t i = 0; i < job.runs.size(); ++i) {
    stopped = run_one(job.runs[i], records[i], engine, mpi, writer.get(), opt, job.overrides).stopped;
    if (stopped) break;
  }
  int code = stopped ? 3 : 0;
  const ResultsWriteGuard guard;  // closing the file flushes it too
  if (writer && !stopped) {
    writer->set_complete(true);
    spdlog::info("results: {}", writer->path());
    if (opt.min_accuracy) {
      std::vector<std::string> names;
      for (const RunSpec& r : job.runs) names.push_back(r.name);
      const std::vector<std::string> below = runs_below(*writer, names, *opt.min_accuracy);
      for (const std::string& m : below) spdlog::error("{}", m);
      if (!below.empty()) code = kExitBelowMinAccuracy;
    }
  }
  writer.reset();
  mpi_bcast(&code, 1, MPI_INT, 0, MPI_COMM_WORLD, "exit code");  // every rank exits alike
  return code;
}

}  // namespace bloom

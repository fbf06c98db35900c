// Loads this rank's slices of a HF BLOOM checkpoint (see bloom_weights.h for the slicing).
// All tensors share one allocation; reads run on a small thread pool, each task reading one
// tensor slice into host memory (the destination itself on CPU, a staging block for CUDA)
// converted to the compute dtype. On CPU, fp16/bf16 round the weights to that format while the
// arithmetic stays fp32 (the CPU ops are fp32-only).
#include "engine/bloom_weights.h"

#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <thread>

#include "core/check.h"
#include "io/checkpoint.h"

namespace bloom {

namespace {

enum class Slice { Full, Rows, Cols };

struct LoadTask {
  std::string name;
  std::vector<int64_t> full_shape;  // expected shape in the checkpoint (from the config)
  Slice slice = Slice::Full;
  int64_t start = 0, count = 0;  // rows or columns
  Tensor* dst = nullptr;
};

void run_task(const io::Checkpoint& ckpt, const LoadTask& t, DType read_dtype, Device device) {
  const size_t n = static_cast<size_t>(t.dst->numel());
  std::vector<char> staging;
  void* host = t.dst->data;
  const bool direct = device == Device::CPU && read_dtype == t.dst->dtype;
  if (!direct) {
    staging.resize(n * dtype_size(read_dtype));
    host = staging.data();
  }
  switch (t.slice) {
    case Slice::Full: ckpt.read(t.name, read_dtype, host); break;
    case Slice::Rows: ckpt.read_rows(t.name, t.start, t.count, read_dtype, host); break;
    case Slice::Cols: ckpt.read_cols(t.name, t.start, t.count, read_dtype, host); break;
  }
  if (direct) return;
  if (device == Device::CPU) {  // fp16/bf16 rounding emulated on the CPU backend
    convert_host(host, read_dtype, t.dst->data, t.dst->dtype, n);
    return;
  }
  Tensor src(host, read_dtype, Device::CPU, {static_cast<int64_t>(n)});
  Tensor dst = t.dst->view({static_cast<int64_t>(n)});
  copy_tensor(src, dst);
}

}  // namespace

BloomWeights BloomWeights::load(const io::Checkpoint& ckpt, const BloomConfig& c,
                                const TpPlan& p, DType dtype, Context& ctx, int threads) {
  const auto t0 = std::chrono::steady_clock::now();
  BloomWeights w;
  w.config = c;
  w.plan = p;
  w.dtype = dtype;
  const DType store = ctx.device() == Device::CPU ? DType::F32 : dtype;
  const int64_t H = c.hidden, HD = c.head_dim(), HL = p.n_head_local * HD, FL = p.ffn_local;

  // Lay every tensor out in one buffer (256-byte aligned offsets).
  std::vector<std::pair<Tensor*, std::vector<int64_t>>> shapes;
  w.layers.resize(static_cast<size_t>(c.n_layer));
  shapes.push_back({&w.word_embeddings, {p.vocab_local, H}});
  shapes.push_back({&w.emb_ln_gamma, {H}});
  shapes.push_back({&w.emb_ln_beta, {H}});
  for (BloomLayer& L : w.layers) {
    shapes.push_back({&L.ln1_gamma, {H}});
    shapes.push_back({&L.ln1_beta, {H}});
    shapes.push_back({&L.qkv_w, {3 * HL, H}});
    shapes.push_back({&L.qkv_b, {3 * HL}});
    shapes.push_back({&L.dense_w, {H, HL}});
    shapes.push_back({&L.dense_b, {H}});
    shapes.push_back({&L.ln2_gamma, {H}});
    shapes.push_back({&L.ln2_beta, {H}});
    shapes.push_back({&L.fc_w, {FL, H}});
    shapes.push_back({&L.fc_b, {FL}});
    shapes.push_back({&L.proj_w, {H, FL}});
    shapes.push_back({&L.proj_b, {H}});
  }
  shapes.push_back({&w.ln_f_gamma, {H}});
  shapes.push_back({&w.ln_f_beta, {H}});
  size_t total = 0;
  std::vector<size_t> offsets;
  for (auto& [t, s] : shapes) {
    int64_t n = 1;
    for (int64_t d : s) n *= d;
    offsets.push_back(total);
    total += (static_cast<size_t>(n) * dtype_size(store) + 255) / 256 * 256;
  }
  w.storage_ = Buffer(total, ctx.device());
  for (size_t i = 0; i < shapes.size(); ++i) {
    const auto& s = shapes[i].second;
    *shapes[i].first = s.size() == 1 ? w.storage_.tensor(store, {s[0]}, offsets[i])
                                     : w.storage_.tensor(store, {s[0], s[1]}, offsets[i]);
  }

  // What to read from where.
  using io::Param;
  std::vector<LoadTask> tasks;
  auto add = [&](Param prm, int layer, std::vector<int64_t> full, Slice sl, int64_t start,
                 int64_t count, Tensor* dst) {
    tasks.push_back({io::param_name(prm, layer), std::move(full), sl, start, count, dst});
  };
  add(Param::WordEmbeddings, -1, {c.vocab, H}, Slice::Rows, p.vocab_offset, p.vocab_local,
      &w.word_embeddings);
  add(Param::EmbLnWeight, -1, {H}, Slice::Full, 0, 0, &w.emb_ln_gamma);
  add(Param::EmbLnBias, -1, {H}, Slice::Full, 0, 0, &w.emb_ln_beta);
  const int64_t qkv0 = p.head_offset * 3 * HD, col0 = p.head_offset * HD;
  for (int l = 0; l < static_cast<int>(c.n_layer); ++l) {
    BloomLayer& L = w.layers[static_cast<size_t>(l)];
    add(Param::Ln1Weight, l, {H}, Slice::Full, 0, 0, &L.ln1_gamma);
    add(Param::Ln1Bias, l, {H}, Slice::Full, 0, 0, &L.ln1_beta);
    add(Param::QkvWeight, l, {3 * H, H}, Slice::Rows, qkv0, 3 * HL, &L.qkv_w);
    add(Param::QkvBias, l, {3 * H}, Slice::Rows, qkv0, 3 * HL, &L.qkv_b);
    add(Param::DenseWeight, l, {H, H}, Slice::Cols, col0, HL, &L.dense_w);
    add(Param::DenseBias, l, {H}, Slice::Full, 0, 0, &L.dense_b);
    add(Param::Ln2Weight, l, {H}, Slice::Full, 0, 0, &L.ln2_gamma);
    add(Param::Ln2Bias, l, {H}, Slice::Full, 0, 0, &L.ln2_beta);
    add(Param::FcWeight, l, {4 * H, H}, Slice::Rows, p.ffn_offset, FL, &L.fc_w);
    add(Param::FcBias, l, {4 * H}, Slice::Rows, p.ffn_offset, FL, &L.fc_b);
    add(Param::ProjWeight, l, {H, 4 * H}, Slice::Cols, p.ffn_offset, FL, &L.proj_w);
    add(Param::ProjBias, l, {H}, Slice::Full, 0, 0, &L.proj_b);
  }
  add(Param::LnFWeight, -1, {H}, Slice::Full, 0, 0, &w.ln_f_gamma);
  add(Param::LnFBias, -1, {H}, Slice::Full, 0, 0, &w.ln_f_beta);

  // Every shape is checked before anything is read, in a fixed order: a config that does not
  // match the weights fails at once, with the same message every time.
  for (const LoadTask& t : tasks)
    ckpt.check_shape(t.name, t.full_shape,
                     "from config.json's hidden_size and vocab_size: are config.json and the "
                     "weights of the same model?");

  // Parallel reads; the first error wins and is rethrown on this thread.
  std::atomic<size_t> next{0};
  std::mutex err_mu;
  std::exception_ptr err;
  auto worker = [&] {
    ctx.bind_current_thread();
    for (size_t i; (i = next.fetch_add(1)) < tasks.size();) {
      try {
        run_task(ckpt, tasks[i], dtype, ctx.device());
      } catch (...) {
        std::lock_guard<std::mutex> lock(err_mu);
        if (!err) err = std::current_exception();
        next = tasks.size();
      }
    }
  };
  std::vector<std::thread> pool;
  for (int i = 0; i < std::max(1, threads); ++i) pool.emplace_back(worker);
  for (auto& th : pool) th.join();
  if (err) std::rethrow_exception(err);

  w.load_stats.bytes = total;
  w.load_stats.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return w;
}

}  // namespace bloom

// Opens BLOOM model folders and loads this rank's slices (see bloom_weights.h). The parameter
// table (bloom_params.h) says what to read: for HF formats a box of the HF tensor; for an FT
// folder the same box found in FT's layout, across the rank files that hold it, written
// straight into HF's layout by strided reads (one pass, no whole-tensor copy).
// All tensors share one allocation; reads run on a small thread pool, each task reading one
// tensor slice into host memory (the destination itself on CPU; for CUDA the thread's
// page-locked stage, core/upload_stage.h, which it then copies on a stream of its own)
// converted to the compute dtype. On CPU, fp16/bf16 round the weights to that format while the
// arithmetic stays fp32 (the CPU ops are fp32-only).
#include "engine/bloom_weights.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include "core/check.h"
#include "core/upload_stage.h"
#include "engine/bloom_params.h"
#include "engine/workspace.h"

namespace bloom {

namespace fs = std::filesystem;

namespace {

bool is_ft(const io::Checkpoint& ck) { return ck.format() == io::CheckpointFormat::Raw; }

std::string file_name(const std::string& path) { return fs::path(path).filename().string(); }

// The name an HF checkpoint stores p under: canonical when it folds the prefix, else either.
std::string stored_name(const io::Checkpoint& ck, const ParamRef& p) {
  const std::string name = hf_name(p);
  return ck.has(name) || !ck.has(kHfPrefix + name) ? name : kHfPrefix + name;
}

// FT's stored shape of the whole tensor (FT dims; the split axis not divided by the files).
std::vector<int64_t> ft_full(const FtForm& f) {
  std::vector<int64_t> s;
  for (int d : f.perm) s.push_back(f.view[static_cast<size_t>(d)]);
  return s;
}

// Why a parameter cannot be read as the config says, or nothing.
std::optional<std::string> param_problem(const io::Checkpoint& ck, const BloomConfig& c,
                                         const ParamRef& p) {
  if (is_ft(ck)) return std::nullopt;  // open_ft_checkpoint checked every file's size
  const std::string name = stored_name(ck, p);
  if (!ck.has(name)) {
    if (p.desc->part == Part::Head)
      return fmt::format("{} says tie_word_embeddings: false, but there is no {} in {} (HF would "
                         "start it from random values): set tie_word_embeddings to true if the "
                         "embedding is the output layer", file_name(c.source), name, ck.searched());
    return fmt::format("tensor {} (with or without `{}`) not found in {}", hf_name(p), kHfPrefix,
                       ck.searched());
  }
  const io::TensorInfo info = ck.info(name);
  const std::vector<int64_t> want = full_shape(p, c);
  if (info.shape == want) return std::nullopt;
  return fmt::format("{}: tensor {} has shape {}, expected {} (from {}'s hidden_size and "
                     "vocab_size: are {} and the weights of the same model?)", info.file,
                     info.stored_name, io::shape_to_string(info.shape), io::shape_to_string(want),
                     file_name(c.source), file_name(c.source));
}

// "h.4.* (12 tensors), extra.weight": names the parameter list does not use, with layers past
// n_layer folded.
std::string unaccounted(const std::vector<std::string>& names, const BloomConfig& c) {
  std::map<std::string, int> layers;
  std::vector<std::string> other;
  for (const std::string& n : names) {
    int l = -1;
    char tail = 0;
    if (std::sscanf(n.c_str(), "h.%d.%c", &l, &tail) == 2 && l >= c.n_layer)
      ++layers[fmt::format("h.{}.*", l)];
    else
      other.push_back(n);
  }
  std::string s;
  for (const auto& [k, n] : layers) s += fmt::format("{}{} ({} tensors)", s.empty() ? "" : ", ", k, n);
  for (const std::string& n : other) s += (s.empty() ? "" : ", ") + n;
  return s;
}

std::vector<std::string> find_warnings(const io::Checkpoint& ck, const BloomConfig& c) {
  std::vector<std::string> out;
  std::set<std::string> used;
  for (const ParamRef& p : bloom_params(c)) {
    if (!is_ft(ck)) {
      used.insert(hf_name(p));
      continue;
    }
    const FtForm f = ft_form(p, c, TpPlan::make(c, 0, 1));
    for (int r = f.split_axis < 0 ? -1 : 0; r < (f.split_axis < 0 ? 0 : c.ft_tensor_para_size); ++r)
      used.insert(ft_name(p, r));
  }
  std::vector<std::string> extra;
  if (is_ft(ck)) {  // .bin files in the folder that no parameter names
    for (const auto& e : fs::directory_iterator(ck.dir())) {
      const std::string n = e.path().filename().string();
      if (e.path().extension() == ".bin" && !used.count(n.substr(0, n.size() - 4))) extra.push_back(n);
    }
    std::sort(extra.begin(), extra.end());
  } else {
    for (const std::string& n : ck.names())
      if (!used.count(n) && !(n == "lm_head.weight" && c.tie_word_embeddings)) extra.push_back(n);
  }
  if (!extra.empty())
    out.push_back(fmt::format("{}: {} not used: {} does not account for {} (n_layer {}): {}",
                              ck.dir(), extra.size() == 1 ? "a tensor is" : "tensors are",
                              file_name(c.source), extra.size() == 1 ? "it" : "them", c.n_layer,
                              unaccounted(extra, c)));
  return out;
}

// ---- reading one parameter --------------------------------------------------------------------

struct LoadTask {
  ParamRef param;
  Tensor* dst = nullptr;
};

// This rank's box of an HF-layout tensor, row-major, into host.
void read_hf(const io::Checkpoint& ck, const BloomConfig& c, const TpPlan& plan,
             const ParamRef& p, DType dtype, void* host) {
  const std::string name = stored_name(ck, p);
  const std::vector<int64_t> full = full_shape(p, c);
  std::vector<int64_t> start(full.size(), 0), count = full;
  const TpSlice s = tp_slice(p.desc->split, c, plan);
  if (s.dim >= 0) {
    start[static_cast<size_t>(s.dim)] = s.start;
    count[static_cast<size_t>(s.dim)] = s.count;
  }
  ck.read_box(name, start, count, dtype, host);
}

// The same box from an FT folder: FT dim d is view dim perm[d], so writing FT's box with the
// view's strides permuted lays it out in HF's order; each rank file fills its part of the
// split axis.
void read_ft(const io::Checkpoint& ck, const BloomConfig& c, const TpPlan& plan,
             const ParamRef& p, DType dtype, void* host) {
  const FtForm f = ft_form(p, c, plan);
  const size_t r = f.view.size();
  std::vector<int64_t> vs(r, 0), vc = f.view;  // box in view coordinates
  if (f.slice.dim >= 0) {
    vs[static_cast<size_t>(f.slice.dim)] = f.slice.start;
    vc[static_cast<size_t>(f.slice.dim)] = f.slice.count;
  }
  std::vector<int64_t> vstride(r, 1);
  for (size_t d = r; d-- > 1;) vstride[d - 1] = vstride[d] * vc[d];
  std::vector<int64_t> fs(r), fc(r), stride(r);  // the box in FT coordinates
  for (size_t d = 0; d < r; ++d) {
    const size_t v = static_cast<size_t>(f.perm[d]);
    fs[d] = vs[v];
    fc[d] = vc[v];
    stride[d] = vstride[v];
  }
  if (f.split_axis < 0) {
    ck.read_box_strided(ft_name(p, -1), fs, fc, stride, dtype, host);
    return;
  }
  const size_t a = static_cast<size_t>(f.split_axis);
  const int64_t per_file = ft_full(f)[a] / c.ft_tensor_para_size;
  uint8_t* out = static_cast<uint8_t*>(host);
  for (int64_t file = fs[a] / per_file; file * per_file < fs[a] + fc[a]; ++file) {
    const int64_t lo = std::max(fs[a], file * per_file);
    const int64_t hi = std::min(fs[a] + fc[a], (file + 1) * per_file);
    std::vector<int64_t> s = fs, n = fc;
    s[a] = lo - file * per_file;
    n[a] = hi - lo;
    ck.read_box_strided(ft_name(p, static_cast<int>(file)), s, n, stride, dtype,
                        out + static_cast<size_t>((lo - fs[a]) * stride[a]) * dtype_size(dtype));
  }
}

void run_task(const io::Checkpoint& ck, const BloomConfig& c, const TpPlan& plan,
              const LoadTask& t, DType read_dtype, Device device, UploadStage& stage) {
  const size_t n = static_cast<size_t>(t.dst->numel());
  const size_t bytes = n * dtype_size(read_dtype);
  auto read = [&](void* host) {
    if (is_ft(ck))
      read_ft(ck, c, plan, t.param, read_dtype, host);
    else
      read_hf(ck, c, plan, t.param, read_dtype, host);
  };
  if (device == Device::CPU && read_dtype == t.dst->dtype) {  // straight into the weights
    read(t.dst->data);
    return;
  }
  // To the device through the thread's page-locked stage (every tensor but a large embedding).
  if (device == Device::CUDA && read_dtype == t.dst->dtype && bytes <= stage.capacity()) {
    read(stage.buffer(bytes));
    stage.upload(t.dst->data, bytes);
    return;
  }
  std::vector<char> staging(bytes);
  void* host = staging.data();
  read(host);
  if (device == Device::CPU) {  // fp16/bf16 rounding emulated on the CPU backend
    convert_host(host, read_dtype, t.dst->data, t.dst->dtype, n);
    return;
  }
  Tensor src(host, read_dtype, Device::CPU, {static_cast<int64_t>(n)});
  Tensor dst = t.dst->view({static_cast<int64_t>(n)});
  copy_tensor(src, dst);
}

}  // namespace

// ---- opening ----------------------------------------------------------------------------------

io::Checkpoint open_ft_checkpoint(const std::string& dir, const BloomConfig& c) {
  const int64_t tp = c.ft_tensor_para_size;
  BLOOM_CHECK(tp >= 1, "{}: tensor_para_size {} is not a file count", c.source, tp);
  const std::string why_sizes = fmt::format(
      "{} gives head_num {}, size_per_head {}, vocab_size {}, weight_data_type {}",
      file_name(c.source), c.n_head, c.head_dim(), c.vocab, dtype_name(c.ft_dtype));
  std::vector<io::RawTensorSpec> files;
  for (const ParamRef& p : bloom_params(c)) {
    if (p.desc->ft_layout == FtLayout::Absent) continue;
    const FtForm f = ft_form(p, c, TpPlan::make(c, 0, 1));
    std::vector<int64_t> shape = ft_full(f);
    if (f.split_axis < 0) {
      const std::string stem = ft_name(p, -1);
      files.push_back({stem, (fs::path(dir) / (stem + ".bin")).string(), c.ft_dtype, shape,
                       fmt::format("{}, {}", p.desc->role, why_sizes)});
      continue;
    }
    shape[static_cast<size_t>(f.split_axis)] /= tp;
    for (int r = 0; r < tp; ++r) {
      const std::string stem = ft_name(p, r);
      files.push_back({stem, (fs::path(dir) / (stem + ".bin")).string(), c.ft_dtype, shape,
                       fmt::format("{}, rank file {} of the {} that tensor_para_size asks for; {}",
                                   p.desc->role, r, tp, why_sizes)});
    }
  }
  return io::Checkpoint::open_raw(dir, files);
}

ModelSource ModelSource::open(const std::string& path, ModelFormat format) {
  ModelSource s{locate_model(path, format), {}, {}, {}};
  s.config = read_model_config(s.location);
  switch (s.location.format) {
    case ModelFormat::Ft: s.checkpoint = open_ft_checkpoint(s.location.dir, s.config); break;
    case ModelFormat::Bin: s.checkpoint = io::Checkpoint::open_bin(s.location.dir, kHfPrefix); break;
    default: s.checkpoint = io::Checkpoint::open_safetensors(s.location.dir, kHfPrefix); break;
  }
  // A tied config with an lm_head.weight of its own: HF transformers ties only when the values
  // are the embedding's (saved twice, or one storage under two names); otherwise it keeps and
  // uses lm_head.weight. So do we, and say so.
  const io::Checkpoint& ck = s.checkpoint;
  const std::string emb = stored_name(ck, {&bloom_param_table()[0], -1});
  if (!is_ft(ck) && s.config.tie_word_embeddings && ck.has("lm_head.weight") && ck.has(emb) &&
      !ck.same_values("lm_head.weight", emb)) {
    s.config.tie_word_embeddings = false;
    s.warnings.push_back(fmt::format(
        "{}: lm_head.weight differs from {} although {} says tie_word_embeddings: true: it is "
        "loaded and scores the vocabulary, as HF transformers does (it ties only equal values)",
        ck.info("lm_head.weight").file, emb, file_name(s.config.source)));
  }
  std::vector<std::string> more = find_warnings(ck, s.config);
  s.warnings.insert(s.warnings.end(), more.begin(), more.end());
  return s;
}

std::vector<std::string> ModelSource::problems() const {
  std::vector<std::string> out;
  for (const ParamRef& p : bloom_params(config))
    if (auto why = param_problem(checkpoint, config, p)) out.push_back(*why);
  return out;
}

// ---- loading ----------------------------------------------------------------------------------

BloomWeights BloomWeights::load(const ModelSource& src, const TpPlan& plan, DType dtype,
                                Context& ctx, int threads) {
  return load(src.checkpoint, src.config, plan, dtype, ctx, threads);
}

BloomWeights BloomWeights::load(const io::Checkpoint& ckpt, const BloomConfig& c,
                                const TpPlan& p, DType dtype, Context& ctx, int threads) {
  const auto t0 = std::chrono::steady_clock::now();
  BloomWeights w;
  w.config = c;
  w.plan = p;
  w.dtype = dtype;
  w.layers.resize(static_cast<size_t>(c.n_layer));
  const bool fp8 = dtype == DType::F8E4M3;
  const DType read_dtype = fp8 ? DType::F16 : dtype;  // FP8 mode quantizes from fp16 values
  const DType store = activation_dtype(dtype, ctx.device());

  // Every shape is checked before anything is read, in a fixed order: a config that does not
  // match the weights fails at once, with the same message every time.
  const std::vector<ParamRef> params = bloom_params(c);
  for (const ParamRef& prm : params)
    if (auto why = param_problem(ckpt, c, prm)) BLOOM_FAIL("{}", *why);

  // Lay every tensor out in one buffer (256-byte aligned offsets); in FP8 mode the four linear
  // weights of each layer go to a second one, freed once they are quantized.
  std::vector<const Tensor*> linears;
  for (const BloomLayer& L : w.layers)
    for (const Tensor* t : {&L.qkv_w, &L.dense_w, &L.fc_w, &L.proj_w}) linears.push_back(t);
  auto is_linear = [&](const Tensor* t) {
    return fp8 && std::find(linears.begin(), linears.end(), t) != linears.end();
  };
  std::vector<LoadTask> tasks;
  std::vector<std::vector<int64_t>> shapes;
  std::vector<size_t> offsets;
  size_t total = 0, total_linear = 0;
  for (const ParamRef& prm : params) {
    tasks.push_back({prm, &param_tensor(w, prm)});
    shapes.push_back(local_shape(prm, c, p));
    int64_t n = 1;
    for (int64_t d : shapes.back()) n *= d;
    size_t& end = is_linear(tasks.back().dst) ? total_linear : total;
    offsets.push_back(end);
    end += (static_cast<size_t>(n) * dtype_size(store) + 255) / 256 * 256;
  }
  w.storage_ = Buffer(total, ctx.device());
  Buffer linear_storage(total_linear, ctx.device());
  for (size_t i = 0; i < tasks.size(); ++i) {
    const auto& s = shapes[i];
    const Buffer& b = is_linear(tasks[i].dst) ? linear_storage : w.storage_;
    *tasks[i].dst = s.size() == 1 ? b.tensor(store, {s[0]}, offsets[i])
                                  : b.tensor(store, {s[0], s[1]}, offsets[i]);
  }
  if (c.tie_word_embeddings) w.lm_head = w.word_embeddings;

  // Parallel reads; the first error wins and is rethrown on this thread.
  std::atomic<size_t> next{0};
  std::mutex err_mu;
  std::exception_ptr err;
  // Each thread stages through page-locked memory the size of the largest tensor up to 256 MiB
  // (a layer's h_to_4h at tp 1 is 128 MiB; a 2 GiB embedding goes through pageable memory).
  size_t stage_bytes = 0;
  for (const LoadTask& t : tasks) {
    const size_t b = static_cast<size_t>(t.dst->numel()) * dtype_size(read_dtype);
    if (b <= (size_t{256} << 20)) stage_bytes = std::max(stage_bytes, b);
  }
  auto worker = [&] {
    ctx.bind_current_thread();
    UploadStage stage(ctx, stage_bytes);
    for (size_t i; (i = next.fetch_add(1)) < tasks.size();) {
      try {
        run_task(ckpt, c, p, tasks[i], read_dtype, ctx.device(), stage);
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
  if (fp8) w.quantize_linears(ctx);

  w.load_stats.bytes = total + w.fp8_storage_.size();
  w.load_stats.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return w;
}

void BloomWeights::quantize_linears(Context& ctx) {
  struct Slot {
    Tensor* w;
    ops::Fp8Matrix* q;
  };
  std::vector<Slot> slots;
  for (BloomLayer& L : layers)
    for (Slot s : {Slot{&L.qkv_w, &L.qkv_q}, Slot{&L.dense_w, &L.dense_q}, Slot{&L.fc_w, &L.fc_q},
                   Slot{&L.proj_w, &L.proj_q}})
      slots.push_back(s);
  auto aligned = [](size_t n) { return (n + 255) / 256 * 256; };
  size_t total = 0;
  for (const Slot& s : slots)
    total += aligned(static_cast<size_t>(s.w->numel())) + aligned(4 * static_cast<size_t>(s.w->dim(0)));
  fp8_storage_ = Buffer(total, ctx.device());
  size_t off = 0;
  for (const Slot& s : slots) {
    const int64_t N = s.w->dim(0), K = s.w->dim(1);
    s.q->q = fp8_storage_.tensor(DType::F8E4M3, {N, K}, off);
    off += aligned(static_cast<size_t>(N * K));
    s.q->scale = fp8_storage_.tensor(DType::F32, {N}, off);
    off += aligned(4 * static_cast<size_t>(N));
    ops::quantize_fp8(ctx, *s.w, *s.q);  // per output channel: the rows of [out, in]
  }
  ctx.synchronize();  // before the fp16 copies go
  for (const Slot& s : slots) *s.w = Tensor();
}

}  // namespace bloom

// bloom::ops entry points. Each op's contract is written here, once, for both backends: the
// device of every tensor (the context's), the dtypes, the shapes, which outputs may alias which
// inputs, and the values of index tensors. Then a plain switch on the context's device calls
// cpu:: or cuda::, whose files assume checked arguments.
// Dtype rules: CPU ops take fp32 only (they are the reference); CUDA ops take F32, F16 or BF16,
// one dtype per call, except that linear may write F32 from F16/BF16 inputs (logits), and
// logits_stats works on F32 logits everywhere. Index tensors (ids, rows, targets, cu_seqlens)
// are I32. Index values are checked on the host: always on the CPU (they live there), on CUDA
// under BLOOM_SYNC_CHECK only (it costs a device-to-host copy and a wait).
// Every error names the op and the tensor, as in kernels/ops.h. While the context carries a
// profile (core/op_profile.h), each op is timed with its FLOPs and least bytes moved.
#include <algorithm>
#include <cmath>
#include <initializer_list>
#include <string>
#include <vector>

#include "core/check.h"
#include "core/op_profile.h"
#include "kernels/cpu/ops_cpu.h"
#include "kernels/cuda/ops_cuda.h"
#include "kernels/ops.h"

#ifdef BLOOM_WITH_CUDA
#include <cuda_runtime.h>
#endif

namespace bloom::ops {

namespace {

/// One tensor argument of an op, named as in kernels/ops.h.
struct Arg {
  const char* name;
  const Tensor& t;
};

constexpr int64_t kMaxRows = int64_t{1} << 31;  // row indices are i32 (ids, rows, cu_seqlens)

/// Under BLOOM_SYNC_CHECK: the pointer really is memory of the context's GPU.
void check_cuda_memory(const Context& ctx, const char* op, const Arg& a) {
#ifdef BLOOM_WITH_CUDA
  cudaPointerAttributes attr{};
  BLOOM_CUDA_CHECK(cudaPointerGetAttributes(&attr, a.t.data));
  BLOOM_CHECK(attr.type == cudaMemoryTypeDevice || attr.type == cudaMemoryTypeManaged,
              "{}: {} {} is not device memory", op, a.name, a.t.shape_str());
  BLOOM_CHECK(attr.type == cudaMemoryTypeManaged || attr.device == ctx.cuda_device(),
              "{}: {} {} lives on GPU {} but the context uses GPU {}", op, a.name,
              a.t.shape_str(), attr.device, ctx.cuda_device());
#else
  (void)ctx, (void)op, (void)a;
#endif
}

/// Every non-empty tensor lives on the context's device and has data. (An empty tensor, such as
/// linear's absent bias, may be a default Tensor on any device.)
void check_devices(const Context& ctx, const char* op, std::initializer_list<Arg> args) {
  for (const Arg& a : args) {
    if (a.t.numel() == 0) continue;
    BLOOM_CHECK(a.t.device == ctx.device(), "{}: {} {} is on {} but the context is {}", op,
                a.name, a.t.shape_str(), device_name(a.t.device), device_name(ctx.device()));
    BLOOM_CHECK(a.t.data != nullptr, "{}: {} {} has no data", op, a.name, a.t.shape_str());
    if (ctx.device() == Device::CUDA && ctx.sync_check()) check_cuda_memory(ctx, op, a);
  }
}

/// The dtype a floating tensor may have on this device: F32 on the CPU, F32/F16/BF16 on CUDA.
void check_float_dtype(const Context& ctx, const char* op, const Arg& a) {
  const DType t = a.t.dtype;
  if (ctx.device() == Device::CPU) {
    BLOOM_CHECK(t == DType::F32, "{}: {} {} must be fp32 (CPU ops are fp32 only)", op, a.name,
                a.t.shape_str());
  } else {
    BLOOM_CHECK(t == DType::F32 || t == DType::F16 || t == DType::BF16,
                "{}: {} {} must be fp32, fp16 or bf16", op, a.name, a.t.shape_str());
  }
}

/// The first tensor's dtype is allowed on this device and every other one has it.
void check_same_float_dtype(const Context& ctx, const char* op, std::initializer_list<Arg> args) {
  const Arg& first = *args.begin();
  check_float_dtype(ctx, op, first);
  for (const Arg& a : args)
    BLOOM_CHECK(a.t.dtype == first.t.dtype, "{}: {} {} must have the dtype of {} {}", op, a.name,
                a.t.shape_str(), first.name, first.t.shape_str());
}

void check_i32(const char* op, const Arg& a) {
  BLOOM_CHECK(a.t.dtype == DType::I32, "{}: {} {} must be i32", op, a.name, a.t.shape_str());
}

/// Rows of `a` as [rows, width]: a has a last dim equal to `width` and rows * width elements.
void check_rows(const char* op, const Arg& a, int64_t rows, int64_t width, const char* what) {
  BLOOM_CHECK(a.t.rank >= 1 && a.t.dim(-1) == width && a.t.numel() == rows * width,
              "{}: {} {} must be [{}, {}] ({})", op, a.name, a.t.shape_str(), rows, width, what);
}

double bytes_of(const Tensor& t) { return static_cast<double>(t.nbytes()); }

bool overlap(const Tensor& a, const Tensor& b) {
  if (a.numel() == 0 || b.numel() == 0) return false;
  const char *pa = static_cast<const char*>(a.data), *pb = static_cast<const char*>(b.data);
  return pa < pb + b.nbytes() && pb < pa + a.nbytes();
}

/// `a` holds n values (a vector such as a bias or a layer norm's gamma).
void check_vector(const char* op, const Arg& a, int64_t n, const char* what) {
  BLOOM_CHECK(a.t.rank >= 1 && a.t.numel() == n, "{}: {} {} must be [{}] ({})", op, a.name,
              a.t.shape_str(), n, what);
}

/// out must not share memory with `in` (the op reads `in` after writing parts of out).
void check_no_overlap(const char* op, const Arg& out, const Arg& in) {
  BLOOM_CHECK(!overlap(out.t, in.t), "{}: {} {} must not overlap {} {}", op, out.name,
              out.t.shape_str(), in.name, in.t.shape_str());
}

/// out is either exactly `in` (in place) or disjoint from it.
void check_in_place_or_disjoint(const char* op, const Arg& out, const Arg& in) {
  BLOOM_CHECK(out.t.data == in.t.data || !overlap(out.t, in.t),
              "{}: {} {} partly overlaps {} {} (in place or disjoint only)", op, out.name,
              out.t.shape_str(), in.name, in.t.shape_str());
}

/// The values of a small i32 tensor on the host, or nothing on CUDA without BLOOM_SYNC_CHECK.
/// On CUDA the copy is queued after the work already on ctx's stream.
bool host_values(const Context& ctx, const Tensor& t, std::vector<int32_t>& out) {
  out.resize(static_cast<size_t>(t.numel()));
  if (t.numel() == 0) return true;
  if (ctx.device() == Device::CUDA && !ctx.sync_check()) return false;
  Tensor dst(out.data(), DType::I32, Device::CPU, {t.numel()});
  copy_tensor(t.view({t.numel()}), dst, &ctx);
  return true;
}

void check_layer_norm_args(const Context& ctx, const char* op, const Tensor& x,
                           const Tensor& gamma, const Tensor& beta, float eps, const Tensor& y) {
  check_devices(ctx, op, {{"x", x}, {"gamma", gamma}, {"beta", beta}, {"y", y}});
  check_same_float_dtype(ctx, op, {{"x", x}, {"gamma", gamma}, {"beta", beta}, {"y", y}});
  BLOOM_CHECK(x.rank >= 1 && x.dim(-1) > 0 && x.dim(-1) < kMaxRows,
              "{}: x {} must be [T, H] with 0 < H < 2^31", op, x.shape_str());
  const int64_t H = x.dim(-1), T = x.numel() / H;
  BLOOM_CHECK(T < kMaxRows, "{}: x {} has more than 2^31 rows", op, x.shape_str());
  check_vector(op, {"gamma", gamma}, H, "one value per hidden unit");
  check_vector(op, {"beta", beta}, H, "one value per hidden unit");
  check_rows(op, {"y", y}, T, H, "the shape of x");
  BLOOM_CHECK(std::isfinite(eps) && eps >= 0.0f, "{}: eps {} must be finite and >= 0", op, eps);
}

// An FP8 output of `rows` x `cols`: e4m3 bytes and one fp32 scale per row.
void check_fp8_matrix(const char* op, const Fp8Matrix& m, const std::string& name, int64_t rows,
                      int64_t cols) {
  const std::string q = name + ".q", scale = name + ".scale";
  BLOOM_CHECK(m.q.dtype == DType::F8E4M3, "{}: {} {} must be fp8", op, q, m.q.shape_str());
  BLOOM_CHECK(m.scale.dtype == DType::F32, "{}: {} {} must be fp32", op, scale,
              m.scale.shape_str());
  check_rows(op, {q.c_str(), m.q}, rows, cols, "the shape of x");
  check_vector(op, {scale.c_str(), m.scale}, rows, "one scale per row of x");
}

}  // namespace

void embedding(Context& ctx, const Tensor& table, const Tensor& ids, int64_t vocab_offset,
               Tensor& out) {
  const char* op = "embedding";
  check_devices(ctx, op, {{"table", table}, {"ids", ids}, {"out", out}});
  check_same_float_dtype(ctx, op, {{"table", table}, {"out", out}});
  check_i32(op, {"ids", ids});
  BLOOM_CHECK(table.rank == 2, "{}: table {} must be [V_local, H]", op, table.shape_str());
  const int64_t H = table.dim(1), T = ids.numel();
  BLOOM_CHECK(T < kMaxRows, "{}: ids {} has more than 2^31 tokens", op, ids.shape_str());
  check_rows(op, {"out", out}, T, H, "one row of table per id");
  BLOOM_CHECK(vocab_offset >= 0, "{}: vocab_offset {} must be >= 0", op, vocab_offset);
  check_no_overlap(op, {"out", out}, {"table", table});
  check_no_overlap(op, {"out", out}, {"ids", ids});
  ProfileScope prof(ctx, "embedding", 0.0, 2.0 * bytes_of(out));
  switch (ctx.device()) {
    case Device::CPU: return cpu::embedding(ctx, table, ids, vocab_offset, out);
    case Device::CUDA: return cuda::embedding(ctx, table, ids, vocab_offset, out);
  }
}

void layer_norm(Context& ctx, const Tensor& x, const Tensor& gamma, const Tensor& beta,
                float eps, Tensor& y) {
  const char* op = "layer_norm";
  check_layer_norm_args(ctx, op, x, gamma, beta, eps, y);
  check_in_place_or_disjoint(op, {"y", y}, {"x", x});
  ProfileScope prof(ctx, "layer_norm", 0.0, bytes_of(x) + bytes_of(y));
  switch (ctx.device()) {
    case Device::CPU: return cpu::layer_norm(ctx, x, gamma, beta, eps, y);
    case Device::CUDA: return cuda::layer_norm(ctx, x, gamma, beta, eps, y);
  }
}

void add_bias_residual_layer_norm(Context& ctx, const Tensor& h, const Tensor& bias, Tensor& x,
                                  const Tensor& gamma, const Tensor& beta, float eps, Tensor& y) {
  const char* op = "add_bias_residual_layer_norm";
  check_layer_norm_args(ctx, op, x, gamma, beta, eps, y);
  check_devices(ctx, op, {{"h", h}, {"bias", bias}});
  check_same_float_dtype(ctx, op, {{"x", x}, {"h", h}, {"bias", bias}});
  const int64_t H = x.dim(-1), T = x.numel() / H;
  check_rows(op, {"h", h}, T, H, "the shape of x");
  check_vector(op, {"bias", bias}, H, "one value per hidden unit");
  // x is read and written: h and y are separate buffers, except that y may take h's place.
  check_no_overlap(op, {"h", h}, {"x", x});
  check_no_overlap(op, {"y", y}, {"x", x});
  check_in_place_or_disjoint(op, {"y", y}, {"h", h});
  ProfileScope prof(ctx, "residual + layer_norm", 0.0,
                    bytes_of(h) + 2.0 * bytes_of(x) + bytes_of(y));
  switch (ctx.device()) {
    case Device::CPU: return cpu::add_bias_residual_layer_norm(ctx, h, bias, x, gamma, beta, eps, y);
    case Device::CUDA:
      return cuda::add_bias_residual_layer_norm(ctx, h, bias, x, gamma, beta, eps, y);
  }
}

void add_bias_residual_layer_norm_fp8(Context& ctx, const Tensor& h, const Tensor& bias, Tensor& x,
                                      const Tensor& gamma, const Tensor& beta, float eps,
                                      Fp8Matrix& y) {
  const char* op = "add_bias_residual_layer_norm_fp8";
  check_layer_norm_args(ctx, op, x, gamma, beta, eps, x);  // y is checked below: it is fp8
  check_devices(ctx, op, {{"h", h}, {"bias", bias}, {"y.q", y.q}, {"y.scale", y.scale}});
  check_same_float_dtype(ctx, op, {{"x", x}, {"h", h}, {"bias", bias}});
  const int64_t H = x.dim(-1), T = x.numel() / H;
  check_rows(op, {"h", h}, T, H, "the shape of x");
  check_vector(op, {"bias", bias}, H, "one value per hidden unit");
  check_fp8_matrix(op, y, "y", T, H);
  check_no_overlap(op, {"h", h}, {"x", x});
  for (const Tensor* t : std::initializer_list<const Tensor*>{&x, &h}) {
    check_no_overlap(op, {"y.q", y.q}, {"x or h", *t});
    check_no_overlap(op, {"y.scale", y.scale}, {"x or h", *t});
  }
  ProfileScope prof(ctx, "residual + layer_norm + quantize", 0.0,
                    bytes_of(h) + 2.0 * bytes_of(x) + bytes_of(y.q));
  switch (ctx.device()) {
    case Device::CPU:
      return cpu::add_bias_residual_layer_norm_fp8(ctx, h, bias, x, gamma, beta, eps, y);
    case Device::CUDA:
      return cuda::add_bias_residual_layer_norm_fp8(ctx, h, bias, x, gamma, beta, eps, y);
  }
}

void linear(Context& ctx, const Tensor& x, const Tensor& w, const Tensor& bias, Activation act,
            Tensor& y) {
  const char* op = "linear";
  check_devices(ctx, op, {{"x", x}, {"w", w}, {"bias", bias}, {"y", y}});
  check_same_float_dtype(ctx, op, {{"x", x}, {"w", w}});
  if (bias.numel() > 0) check_same_float_dtype(ctx, op, {{"x", x}, {"bias", bias}});
  BLOOM_CHECK(y.dtype == x.dtype || (ctx.device() == Device::CUDA && y.dtype == DType::F32),
              "{}: y {} must have the dtype of x {}{}", op, y.shape_str(), x.shape_str(),
              ctx.device() == Device::CUDA ? " or be fp32" : "");
  BLOOM_CHECK(x.rank >= 1 && x.dim(-1) > 0, "{}: x {} must be [T, K] with K > 0", op,
              x.shape_str());
  const int64_t K = x.dim(-1), T = x.numel() / K;
  BLOOM_CHECK(w.rank == 2 && w.dim(1) == K, "{}: w {} must be [N, {}] (PyTorch's [out, in])",
              op, w.shape_str(), K);
  const int64_t N = w.dim(0);
  BLOOM_CHECK(T < kMaxRows && N < kMaxRows && K < kMaxRows, "{}: x {} w {} too large", op,
              x.shape_str(), w.shape_str());
  if (bias.numel() > 0) check_vector(op, {"bias", bias}, N, "one value per output, or empty");
  check_rows(op, {"y", y}, T, N, "rows of x by rows of w");
  check_no_overlap(op, {"y", y}, {"x", x});
  check_no_overlap(op, {"y", y}, {"w", w});
  ProfileScope prof(ctx,
                    fmt::format("linear N={} K={}{}", N, K, act == Activation::GeluTanh ? " +gelu" : ""),
                    2.0 * T * N * K, bytes_of(x) + bytes_of(w) + bytes_of(y));
  switch (ctx.device()) {
    case Device::CPU: return cpu::linear(ctx, x, w, bias, act, y);
    case Device::CUDA: return cuda::linear(ctx, x, w, bias, act, y);
  }
}

void attention_alibi(Context& ctx, const Tensor& qkv, const Tensor& cu_seqlens,
                     const AttentionParams& p, Tensor& out) {
  const char* op = "attention_alibi";
  check_devices(ctx, op, {{"qkv", qkv}, {"cu_seqlens", cu_seqlens}, {"out", out}});
  check_same_float_dtype(ctx, op, {{"qkv", qkv}, {"out", out}});
  check_i32(op, {"cu_seqlens", cu_seqlens});
  const int NH = p.n_head_local, HD = p.head_dim;
  BLOOM_CHECK(NH > 0 && HD > 0 && p.head_offset >= 0 && p.head_offset + NH <= p.n_head_total,
              "{}: heads [{}, {}) of {} with head_dim {}: need 0 <= offset, offset + n_head_local "
              "<= n_head_total, head_dim > 0", op, p.head_offset, p.head_offset + NH,
              p.n_head_total, HD);
  BLOOM_CHECK(qkv.rank == 2 && qkv.dim(1) == int64_t{NH} * 3 * HD,
              "{}: qkv {} must be [T, {}] ({} heads x q, k, v x {})", op, qkv.shape_str(),
              int64_t{NH} * 3 * HD, NH, HD);
  const int64_t T = qkv.dim(0);
  BLOOM_CHECK(T < kMaxRows, "{}: qkv {} has more than 2^31 tokens", op, qkv.shape_str());
  check_rows(op, {"out", out}, T, int64_t{NH} * HD, "n_head_local x head_dim per token");
  BLOOM_CHECK(cu_seqlens.rank == 1 && cu_seqlens.numel() >= 1,
              "{}: cu_seqlens {} must be [B+1]", op, cu_seqlens.shape_str());
  BLOOM_CHECK(p.max_seqlen >= 0, "{}: max_seqlen {} must be >= 0", op, p.max_seqlen);
  check_no_overlap(op, {"out", out}, {"qkv", qkv});
  const int64_t B = cu_seqlens.numel() - 1;
  if (ctx.device() == Device::CUDA) {
    BLOOM_CHECK(B <= cuda::kMaxGridDimYZ && NH <= cuda::kMaxGridDimYZ,
                "{}: {} sequences or {} heads exceed the CUDA grid's {}", op, B, NH,
                cuda::kMaxGridDimYZ);
    BLOOM_CHECK(HD <= cuda::kAttentionMaxHeadDim, "{}: head_dim {} > {} is not supported on CUDA",
                op, HD, cuda::kAttentionMaxHeadDim);
  }
  std::vector<int32_t> cu;
  if (host_values(ctx, cu_seqlens, cu)) {
    BLOOM_CHECK(cu.front() == 0 && cu.back() == T, "{}: cu_seqlens {} spans [{}, {}) but T = {}",
                op, cu_seqlens.shape_str(), cu.front(), cu.back(), T);
    for (int64_t b = 0; b < B; ++b)
      BLOOM_CHECK(cu[b + 1] >= cu[b] && cu[b + 1] - cu[b] <= p.max_seqlen,
                  "{}: cu_seqlens {}: sequence {} spans [{}, {}), max_seqlen is {}", op,
                  cu_seqlens.shape_str(), b, cu[b], cu[b + 1], p.max_seqlen);
  }
  ProfileScope prof(ctx, "attention_alibi", 0.0, bytes_of(qkv) + bytes_of(out));
  switch (ctx.device()) {
    case Device::CPU: return cpu::attention_alibi(ctx, qkv, cu_seqlens, p, out);
    case Device::CUDA: return cuda::attention_alibi(ctx, qkv, cu_seqlens, p, out);
  }
}

void gather_rows(Context& ctx, const Tensor& x, const Tensor& rows, Tensor& y) {
  const char* op = "gather_rows";
  check_devices(ctx, op, {{"x", x}, {"rows", rows}, {"y", y}});
  check_same_float_dtype(ctx, op, {{"x", x}, {"y", y}});
  check_i32(op, {"rows", rows});
  BLOOM_CHECK(x.rank >= 1 && x.dim(-1) > 0, "{}: x {} must be [T, H] with H > 0", op,
              x.shape_str());
  const int64_t H = x.dim(-1), T = x.numel() / H, R = rows.numel();
  BLOOM_CHECK(R < kMaxRows, "{}: rows {} has more than 2^31 entries", op, rows.shape_str());
  check_rows(op, {"y", y}, R, H, "one row of x per entry of rows");
  check_no_overlap(op, {"y", y}, {"x", x});
  std::vector<int32_t> idx;
  if (host_values(ctx, rows, idx))
    for (int64_t r = 0; r < R; ++r)
      BLOOM_CHECK(idx[r] >= 0 && idx[r] < T, "{}: rows[{}] = {} is outside [0, {}) of x {}", op,
                  r, idx[r], T, x.shape_str());
  ProfileScope prof(ctx, "gather_rows", 0.0, 2.0 * bytes_of(y));
  switch (ctx.device()) {
    case Device::CPU: return cpu::gather_rows(ctx, x, rows, y);
    case Device::CUDA: return cuda::gather_rows(ctx, x, rows, y);
  }
}

void logits_stats(Context& ctx, const Tensor& logits, const Tensor& targets,
                  int64_t vocab_offset, Tensor& stats) {
  const char* op = "logits_stats";
  check_devices(ctx, op, {{"logits", logits}, {"targets", targets}, {"stats", stats}});
  BLOOM_CHECK(logits.dtype == DType::F32, "{}: logits {} must be fp32", op, logits.shape_str());
  BLOOM_CHECK(stats.dtype == DType::F32, "{}: stats {} must be fp32", op, stats.shape_str());
  check_i32(op, {"targets", targets});
  BLOOM_CHECK(logits.rank >= 1 && logits.dim(-1) > 0 && logits.dim(-1) < kMaxRows,
              "{}: logits {} must be [R, V_local] with 0 < V_local < 2^31", op,
              logits.shape_str());
  const int64_t V = logits.dim(-1), R = logits.numel() / V;
  BLOOM_CHECK(R < kMaxRows, "{}: logits {} has more than 2^31 rows", op, logits.shape_str());
  BLOOM_CHECK(targets.numel() == R, "{}: targets {} must hold {} ids, one per row of logits", op,
              targets.shape_str(), R);
  check_rows(op, {"stats", stats}, R, 4, "max, sum exp, argmax, target logit per row");
  // The argmax is stored as a float: exact for global ids below 2^24.
  BLOOM_CHECK(vocab_offset >= 0 && vocab_offset + V <= (int64_t{1} << 24),
              "{}: vocab ids [{}, {}) do not fit the fp32 argmax (ids below 2^24)", op,
              vocab_offset, vocab_offset + V);
  check_no_overlap(op, {"stats", stats}, {"logits", logits});
  ProfileScope prof(ctx, "logits_stats", 0.0, bytes_of(logits));
  switch (ctx.device()) {
    case Device::CPU: return cpu::logits_stats(ctx, logits, targets, vocab_offset, stats);
    case Device::CUDA: return cuda::logits_stats(ctx, logits, targets, vocab_offset, stats);
  }
}

void quantize_fp8(Context& ctx, const Tensor& x, Fp8Matrix& out) {
  const char* op = "quantize_fp8";
  check_devices(ctx, op, {{"x", x}, {"out.q", out.q}, {"out.scale", out.scale}});
  check_float_dtype(ctx, op, {"x", x});
  BLOOM_CHECK(x.rank >= 1 && x.dim(-1) > 0, "{}: x {} must be [T, K] with K > 0", op, x.shape_str());
  const int64_t K = x.dim(-1), T = x.numel() / K;
  BLOOM_CHECK(T < kMaxRows, "{}: x {} has more than 2^31 rows", op, x.shape_str());
  check_fp8_matrix(op, out, "out", T, K);
  check_no_overlap(op, {"out.q", out.q}, {"x", x});
  ProfileScope prof(ctx, "quantize_fp8", 0.0, bytes_of(x) + bytes_of(out.q));
  switch (ctx.device()) {
    case Device::CPU: return cpu::quantize_fp8(ctx, x, out);
    case Device::CUDA: return cuda::quantize_fp8(ctx, x, out);
  }
}

void linear_fp8(Context& ctx, const Fp8Matrix& x, const Fp8Matrix& w, const Tensor& bias,
                Activation act, Tensor& y) {
  const char* op = "linear_fp8";
  check_devices(ctx, op, {{"x.q", x.q}, {"x.scale", x.scale}, {"w.q", w.q},
                          {"w.scale", w.scale}, {"bias", bias}, {"y", y}});
  for (const Arg& a : {Arg{"x.q", x.q}, Arg{"w.q", w.q}})
    BLOOM_CHECK(a.t.dtype == DType::F8E4M3, "{}: {} {} must be fp8", op, a.name, a.t.shape_str());
  for (const Arg& a : {Arg{"x.scale", x.scale}, Arg{"w.scale", w.scale}})
    BLOOM_CHECK(a.t.dtype == DType::F32, "{}: {} {} must be fp32", op, a.name, a.t.shape_str());
  if (ctx.device() == Device::CPU)
    BLOOM_CHECK(y.dtype == DType::F32, "{}: y {} must be fp32 on the CPU", op, y.shape_str());
  else
    BLOOM_CHECK(y.dtype == DType::F16 || y.dtype == DType::BF16,
                "{}: y {} must be fp16 or bf16 on CUDA", op, y.shape_str());
  if (bias.numel() > 0)
    BLOOM_CHECK(bias.dtype == y.dtype, "{}: bias {} must have the dtype of y {}", op,
                bias.shape_str(), y.shape_str());
  BLOOM_CHECK(w.q.rank == 2 && w.q.dim(1) > 0, "{}: w.q {} must be [N, K]", op, w.q.shape_str());
  const int64_t N = w.q.dim(0), K = w.q.dim(1), T = x.q.numel() / K;
  BLOOM_CHECK(K % 16 == 0 && N % 16 == 0, "{}: w.q {}: FP8 GEMMs need N and K multiples of 16",
              op, w.q.shape_str());
  check_rows(op, {"x.q", x.q}, T, K, "[T, K] with w's K");
  check_vector(op, {"x.scale", x.scale}, T, "one scale per row of x.q");
  check_vector(op, {"w.scale", w.scale}, N, "one scale per row of w.q");
  if (bias.numel() > 0) check_vector(op, {"bias", bias}, N, "one value per output, or empty");
  check_rows(op, {"y", y}, T, N, "rows of x by rows of w");
  ProfileScope prof(ctx,
                    fmt::format("linear_fp8 N={} K={}{}", N, K, act == Activation::GeluTanh ? " +gelu" : ""),
                    2.0 * T * N * K, bytes_of(x.q) + bytes_of(w.q) + bytes_of(y));
  switch (ctx.device()) {
    case Device::CPU: return cpu::linear_fp8(ctx, x, w, bias, act, y);
    case Device::CUDA: return cuda::linear_fp8(ctx, x, w, bias, act, y);
  }
}

}  // namespace bloom::ops

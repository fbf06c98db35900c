// The ops' contracts (kernels/dispatch.cpp): a tensor of the wrong shape, dtype or device, an
// output overlapping an input, or index values out of range give an error that names the op and
// the tensor ("linear: w ..."), before any memory is touched. Run on every device x dtype:
// the dtype rules differ (CPU: fp32 only; CUDA: one of fp32/fp16/bf16, linear may write fp32).
// Every tensor is a view into a 4096-element buffer, so a check that wrongly passes cannot make
// an op read or write outside memory: it fails the expectation instead.
#include "tests/kernels/op_test.h"

namespace bloom::ops::testing {
namespace {

Tensor with_shape(const Tensor& t, std::initializer_list<int64_t> dims) {
  return Tensor(t.data, t.dtype, t.device, dims);
}
Tensor with_dtype(Tensor t, DType d) {
  t.dtype = d;
  return t;
}
Tensor on_other_device(Tensor t) {
  t.device = t.device == Device::CPU ? Device::CUDA : Device::CPU;
  return t;
}
/// The same tensor starting `n` elements further into its buffer.
Tensor shifted(Tensor t, int64_t n) {
  t.data = static_cast<char*>(t.data) + n * static_cast<int64_t>(dtype_size(t.dtype));
  return t;
}

class Contract : public OpTest {
 protected:
  /// A tensor of the tested dtype (or `dtype`) with room for every mutated shape below.
  Tensor tensor(std::initializer_list<int64_t> shape, DType dtype) {
    store_.push_back(std::make_unique<DeviceTensor>(device(), dtype, std::initializer_list<int64_t>{4096}));
    DeviceTensor& d = *store_.back();
    if (dtype == DType::I32) d.upload_i32(std::vector<int32_t>(4096, 0));
    else d.upload(std::vector<float>(4096, 0.5f));
    return with_shape(d.t, shape);
  }
  Tensor tensor(std::initializer_list<int64_t> shape) { return tensor(shape, dt()); }
  Tensor ids(const std::vector<int32_t>& v) {
    Tensor t = tensor({static_cast<int64_t>(v.size())}, DType::I32);
    Tensor dst = t;
    Tensor src(const_cast<int32_t*>(v.data()), DType::I32, Device::CPU, {t.numel()});
    copy_tensor(src, dst);
    return t;
  }
  /// Index values are checked on the CPU always, on CUDA under BLOOM_SYNC_CHECK.
  bool checks_values() { return device() == Device::CPU || ctx().sync_check(); }
  /// A floating dtype this device rejects for every tensor.
  DType rejected() const { return device() == Device::CPU ? DType::F16 : DType::I32; }
  /// A floating dtype allowed on this device other than the tested one.
  DType other_float() const { return dt() == DType::F32 ? DType::BF16 : DType::F32; }

  std::vector<std::unique_ptr<DeviceTensor>> store_;
};

// Contract's tests run on the same device x dtype cases as OpTest's.
INSTANTIATE_TEST_SUITE_P(CPU, Contract, ::testing::Values(OpCase{Device::CPU, DType::F32}),
                         [](const auto& info) { return std::string(dtype_name(info.param.dtype)); });
#ifdef BLOOM_WITH_CUDA
INSTANTIATE_TEST_SUITE_P(CUDA, Contract,
                         ::testing::Values(OpCase{Device::CUDA, DType::F32},
                                           OpCase{Device::CUDA, DType::F16},
                                           OpCase{Device::CUDA, DType::BF16}),
                         [](const auto& info) { return std::string(dtype_name(info.param.dtype)); });
#endif

TEST_P(Contract, Linear) {
  Tensor x = tensor({4, 8}), w = tensor({6, 8}), b = tensor({6}), y = tensor({4, 6});
  const auto call = [&](Tensor x_, Tensor w_, Tensor b_, Tensor y_) {
    return [=]() mutable { linear(ctx(), x_, w_, b_, Activation::GeluTanh, y_); };
  };
  EXPECT_NO_THROW(call(x, w, b, y)());
  EXPECT_NO_THROW(call(x, w, Tensor(), y)());  // no bias
  expect_error(call(x, with_shape(w, {6, 7}), b, y), "linear: w ");
  expect_error(call(x, with_shape(w, {48}), b, y), "linear: w ");
  expect_error(call(x, w, with_shape(b, {5}), y), "linear: bias ");
  expect_error(call(x, w, b, with_shape(y, {4, 5})), "linear: y ");
  expect_error(call(x, w, b, with_shape(y, {3, 6})), "linear: y ");
  expect_error(call(with_dtype(x, rejected()), with_dtype(w, rejected()), with_dtype(b, rejected()),
                    with_dtype(y, rejected())), "linear: x ");
  expect_error(call(x, with_dtype(w, other_float()), b, y), "linear: w ");
  expect_error(call(x, w, with_dtype(b, other_float()), y), "linear: bias ");
  if (device() == Device::CUDA && dt() != DType::F32)
    EXPECT_NO_THROW(call(x, w, b, with_dtype(y, DType::F32))());  // fp32 logits
  else
    expect_error(call(x, w, b, with_dtype(y, other_float())), "linear: y ");
  expect_error(call(on_other_device(x), w, b, y), "linear: x ");
  expect_error(call(x, w, on_other_device(b), y), "linear: bias ");
  expect_error(call(x, w, b, on_other_device(y)), "linear: y ");
  expect_error(call(x, w, b, with_shape(shifted(x, 4), {4, 6})), "linear: y ");  // y over x
}

TEST_P(Contract, LayerNorm) {
  Tensor x = tensor({4, 8}), g = tensor({8}), b = tensor({8}), y = tensor({4, 8});
  const auto call = [&](Tensor x_, Tensor g_, Tensor b_, Tensor y_) {
    return [=]() mutable { layer_norm(ctx(), x_, g_, b_, 1e-5f, y_); };
  };
  EXPECT_NO_THROW(call(x, g, b, y)());
  EXPECT_NO_THROW(call(x, g, b, x)());  // in place
  expect_error(call(x, with_shape(g, {7}), b, y), "layer_norm: gamma ");
  expect_error(call(x, g, with_shape(b, {16}), y), "layer_norm: beta ");
  expect_error(call(x, g, b, with_shape(y, {4, 7})), "layer_norm: y ");
  expect_error(call(with_dtype(x, rejected()), g, b, y), "layer_norm: x ");
  expect_error(call(x, g, b, with_dtype(y, other_float())), "layer_norm: y ");
  expect_error(call(x, g, on_other_device(b), y), "layer_norm: beta ");
  expect_error(call(x, g, b, shifted(x, 8)), "layer_norm: y ");  // partly over x
  expect_error([&] { layer_norm(ctx(), x, g, b, -1.0f, y); }, "layer_norm: eps ");
}

TEST_P(Contract, AddBiasResidualLayerNorm) {
  Tensor h = tensor({4, 8}), bias = tensor({8}), x = tensor({4, 8}), g = tensor({8}),
         b = tensor({8}), y = tensor({4, 8});
  const auto call = [&](Tensor h_, Tensor bias_, Tensor x_, Tensor y_) {
    return [=]() mutable {
      Tensor xm = x_;
      add_bias_residual_layer_norm(ctx(), h_, bias_, xm, g, b, 1e-5f, y_);
    };
  };
  EXPECT_NO_THROW(call(h, bias, x, y)());
  EXPECT_NO_THROW(call(h, bias, x, h)());  // y in h's place
  expect_error(call(with_shape(h, {4, 7}), bias, x, y), "add_bias_residual_layer_norm: h ");
  expect_error(call(h, with_shape(bias, {4}), x, y), "add_bias_residual_layer_norm: bias ");
  expect_error(call(h, with_dtype(bias, other_float()), x, y), "add_bias_residual_layer_norm: bias ");
  expect_error(call(on_other_device(h), bias, x, y), "add_bias_residual_layer_norm: h ");
  expect_error(call(x, bias, x, y), "add_bias_residual_layer_norm: h ");  // h is x
  expect_error(call(h, bias, x, x), "add_bias_residual_layer_norm: y ");  // y is x
}

TEST_P(Contract, Embedding) {
  Tensor table = tensor({10, 8}), id = ids({0, 3, 9}), out = tensor({3, 8});
  const auto call = [&](Tensor t_, Tensor i_, Tensor o_, int64_t off = 0) {
    return [=]() mutable { embedding(ctx(), t_, i_, off, o_); };
  };
  EXPECT_NO_THROW(call(table, id, out)());
  expect_error(call(with_shape(table, {80}), id, out), "embedding: table ");
  expect_error(call(table, id, with_shape(out, {3, 9})), "embedding: out ");
  expect_error(call(table, id, with_shape(out, {2, 8})), "embedding: out ");
  expect_error(call(table, with_dtype(id, dt()), out), "embedding: ids ");
  expect_error(call(with_dtype(table, rejected()), id, out), "embedding: table ");
  expect_error(call(table, id, with_dtype(out, other_float())), "embedding: out ");
  expect_error(call(table, on_other_device(id), out), "embedding: ids ");
  expect_error(call(table, id, out, -1), "embedding: vocab_offset ");
}

TEST_P(Contract, AttentionAlibi) {
  const int NH = 2, HD = 4;
  Tensor qkv = tensor({5, NH * 3 * HD}), out = tensor({5, NH * HD}), cu = ids({0, 2, 5});
  const AttentionParams p{NH, 4, 2, HD, 3};
  const auto call = [&](Tensor q_, Tensor c_, AttentionParams p_, Tensor o_) {
    return [=]() mutable { attention_alibi(ctx(), q_, c_, p_, o_); };
  };
  EXPECT_NO_THROW(call(qkv, cu, p, out)());
  expect_error(call(with_shape(qkv, {5, NH * 3 * HD - 1}), cu, p, out), "attention_alibi: qkv ");
  expect_error(call(with_shape(qkv, {5, 2, NH * 3 * HD / 2}), cu, p, out), "attention_alibi: qkv ");
  expect_error(call(qkv, cu, p, with_shape(out, {5, NH * HD + 1})), "attention_alibi: out ");
  expect_error(call(qkv, with_dtype(cu, dt()), p, out), "attention_alibi: cu_seqlens ");
  expect_error(call(qkv, with_shape(cu, {}), p, out), "attention_alibi: cu_seqlens ");
  expect_error(call(with_dtype(qkv, rejected()), cu, p, out), "attention_alibi: qkv ");
  expect_error(call(qkv, cu, p, with_dtype(out, other_float())), "attention_alibi: out ");
  expect_error(call(qkv, cu, p, on_other_device(out)), "attention_alibi: out ");
  expect_error(call(qkv, cu, {NH, 3, 2, HD, 3}, out), "attention_alibi: heads ");  // 2 + 2 > 3
  expect_error(call(qkv, cu, p, with_shape(qkv, {5, NH * HD})), "attention_alibi: out ");
  if (!checks_values()) return;
  expect_error(call(qkv, ids({0, 2, 4}), p, out), "attention_alibi: cu_seqlens ");  // ends at 4
  expect_error(call(qkv, ids({0, 3, 2, 5}), p, out), "attention_alibi: cu_seqlens ");
  expect_error(call(qkv, cu, {NH, 4, 2, HD, 2}, out), "attention_alibi: cu_seqlens ");  // 3 > 2
}

TEST_P(Contract, GatherRows) {
  Tensor x = tensor({6, 8}), rows = ids({5, 0}), y = tensor({2, 8});
  const auto call = [&](Tensor x_, Tensor r_, Tensor y_) {
    return [=]() mutable { gather_rows(ctx(), x_, r_, y_); };
  };
  EXPECT_NO_THROW(call(x, rows, y)());
  expect_error(call(x, rows, with_shape(y, {2, 7})), "gather_rows: y ");
  expect_error(call(x, with_dtype(rows, dt()), y), "gather_rows: rows ");
  expect_error(call(with_dtype(x, rejected()), rows, y), "gather_rows: x ");
  expect_error(call(on_other_device(x), rows, y), "gather_rows: x ");
  expect_error(call(x, rows, with_shape(shifted(x, 16), {2, 8})), "gather_rows: y ");
  if (!checks_values()) return;
  expect_error(call(x, ids({6, 0}), y), "gather_rows: rows[0] = 6");
  expect_error(call(x, ids({0, -1}), y), "gather_rows: rows[1] = -1");
}

TEST_P(Contract, LogitsStats) {
  Tensor logits = tensor({3, 10}, DType::F32), targets = ids({1, 2, 3}),
         stats = tensor({3, 4}, DType::F32);
  const auto call = [&](Tensor l_, Tensor t_, Tensor s_, int64_t off = 0) {
    return [=]() mutable { logits_stats(ctx(), l_, t_, off, s_); };
  };
  EXPECT_NO_THROW(call(logits, targets, stats)());
  expect_error(call(with_dtype(logits, DType::F16), targets, stats), "logits_stats: logits ");
  expect_error(call(logits, with_dtype(targets, DType::F32), stats), "logits_stats: targets ");
  expect_error(call(logits, with_shape(targets, {2}), stats), "logits_stats: targets ");
  expect_error(call(logits, targets, with_shape(stats, {3, 3})), "logits_stats: stats ");
  expect_error(call(logits, targets, with_dtype(stats, DType::BF16)), "logits_stats: stats ");
  expect_error(call(logits, targets, on_other_device(stats)), "logits_stats: stats ");
  expect_error(call(logits, targets, stats, (int64_t{1} << 24) - 5), "logits_stats: vocab ids ");
}

}  // namespace
}  // namespace bloom::ops::testing

// Tests for io/safetensors and io/checkpoint: the sharded tiny-bloom fixture (shapes against its
// config, values against an independent ifstream reader, row/column slices), dtype conversion on
// read with known bit patterns, the writer, prefix handling, and every malformed-file error
// naming the file and the tensor.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <thread>

#include "core/check.h"
#include "io/checkpoint.h"
#include "io/safetensors.h"
#include "tests/test_support.h"

namespace bloom::io {
namespace {

namespace fs = std::filesystem;

const std::string kFixture = std::string(BLOOM_SOURCE_DIR) + "/tests/data/tiny-bloom";

// Runs f, expects a bloom::Error whose message holds every one of `parts`; returns the message.
std::string expect_error(const std::function<void()>& f, const std::vector<std::string>& parts) {
  const std::string msg = ::bloom::testing::error_of(f);
  for (const auto& p : parts)
    EXPECT_NE(msg.find(p), std::string::npos) << "'" << p << "' not in: " << msg;
  return msg;
}

using TempDir = ::bloom::testing::TempDirTest;

// A safetensors file written byte by byte, to make malformed ones. header_len < 0: the real length.
void write_raw(const std::string& path, const std::string& header, size_t data_bytes,
               int64_t header_len = -1) {
  std::ofstream out(path, std::ios::binary);
  const uint64_t n = header_len < 0 ? header.size() : static_cast<uint64_t>(header_len);
  for (int i = 0; i < 8; ++i) out.put(static_cast<char>(n >> (8 * i)));
  out << header;
  out << std::string(data_bytes, '\x11');
}

TensorToWrite tensor_from(const std::string& name, DType t, std::vector<int64_t> shape,
                          const void* data) {
  TensorToWrite w;
  w.name = name;
  w.dtype = t;
  w.shape = std::move(shape);
  w.data = data;
  return w;
}

Checkpoint open_fixture() { return Checkpoint::open(kFixture, "transformer."); }

// Independent reader for the fixture: parses the header with nlohmann and reads with ifstream.
std::vector<float> read_f32_independently(const std::string& file, const std::string& name) {
  std::ifstream in(file, std::ios::binary);
  uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= static_cast<uint64_t>(static_cast<uint8_t>(in.get())) << (8 * i);
  std::string header(n, '\0');
  in.read(&header[0], static_cast<std::streamsize>(n));
  const auto j = nlohmann::json::parse(header).at(name);
  EXPECT_EQ(j.at("dtype"), "F32");
  const uint64_t begin = j.at("data_offsets")[0], end = j.at("data_offsets")[1];
  std::vector<float> out((end - begin) / 4);
  in.seekg(static_cast<std::streamoff>(8 + n + begin));
  in.read(reinterpret_cast<char*>(out.data()), static_cast<std::streamsize>(end - begin));
  return out;
}

std::vector<uint16_t> as_u16(const std::vector<uint8_t>& bytes) {
  std::vector<uint16_t> out(bytes.size() / 2);
  std::memcpy(out.data(), bytes.data(), bytes.size());
  return out;
}

// ---- the sharded fixture --------------------------------------------------------------------

TEST(CheckpointFixture, OpensShardsWithShapesFromConfig) {
  const Checkpoint ck = open_fixture();
  EXPECT_EQ(ck.format(), CheckpointFormat::Safetensors);
  EXPECT_EQ(ck.files().size(), 3u);
  std::ifstream cfg_in(kFixture + "/config.json");
  const auto cfg = nlohmann::json::parse(cfg_in);
  const int64_t h = cfg.at("hidden_size"), n_layer = cfg.at("n_layer"),
                vocab = cfg.at("vocab_size");
  ASSERT_EQ(h, 96);
  ASSERT_EQ(n_layer, 3);
  ASSERT_EQ(vocab, 3000);
  EXPECT_EQ(ck.names().size(), static_cast<size_t>(5 + 12 * n_layer));
  // (every parameter's shape against the config: tests/engine/test_bloom_params.cpp)
  ck.check_shape("word_embeddings.weight", {vocab, h});
  ck.check_shape("h.2.self_attention.query_key_value.weight", {3 * h, h});
  ck.check_shape("h.0.mlp.dense_4h_to_h.weight", {h, 4 * h});
  const TensorInfo emb = ck.info("word_embeddings.weight");
  EXPECT_EQ(emb.dtype, DType::F32);
  EXPECT_EQ(emb.numel(), vocab * h);
  EXPECT_EQ(emb.stored_name, "transformer.word_embeddings.weight");
  EXPECT_EQ(fs::path(emb.file).filename(), "model-00001-of-00003.safetensors");
  EXPECT_EQ(fs::path(ck.info("ln_f.bias").file).filename(), "model-00003-of-00003.safetensors");
  // The byte offset is where the tensor's bytes are in its file.
  const std::vector<float> want = read_f32_independently(emb.file, emb.stored_name);
  std::ifstream in(emb.file, std::ios::binary);
  in.seekg(static_cast<std::streamoff>(emb.offset));
  std::vector<float> got(want.size());
  in.read(reinterpret_cast<char*>(got.data()), static_cast<std::streamsize>(got.size() * 4));
  EXPECT_EQ(got, want);
}

TEST(CheckpointFixture, ShapeMismatchMessage) {
  const Checkpoint ck = open_fixture();
  const std::string msg = expect_error(
      [&] {
        ck.check_shape("word_embeddings.weight", {3000, 128}, "config.json says hidden_size 128");
      },
      {});
  EXPECT_EQ(
      msg.rfind(kFixture +
                    "/model-00001-of-00003.safetensors: tensor "
                    "transformer.word_embeddings.weight has shape [3000, 96], expected [3000, "
                    "128] (config.json says hidden_size 128)",
                0),
      0u)
      << msg;
  std::vector<float> buf(3000 * 96);
  expect_error(
      [&] {
        ck.read("word_embeddings.weight", DType::F32, buf.data(), {96, 3000});
      },
      {"word_embeddings.weight", "[3000, 96]", "expected [96, 3000]"});
}

TEST(CheckpointFixture, FullReadMatchesIndependentReader) {
  const Checkpoint ck = open_fixture();
  for (const std::string name :
       {"word_embeddings.weight", "h.1.self_attention.query_key_value.weight",
        "h.2.mlp.dense_4h_to_h.weight", "ln_f.bias"}) {
    const TensorInfo ti = ck.info(name);
    std::vector<float> got(static_cast<size_t>(ti.numel()));
    ck.read(name, DType::F32, got.data(), ti.shape);
    EXPECT_EQ(got, read_f32_independently(ti.file, "transformer." + name)) << name;
  }
}

TEST(CheckpointFixture, PrefixOptional) {
  const Checkpoint ck = open_fixture();
  EXPECT_TRUE(ck.has("h.0.input_layernorm.weight"));
  EXPECT_TRUE(ck.has("transformer.h.0.input_layernorm.weight"));
  EXPECT_FALSE(ck.has("h.3.input_layernorm.weight"));
  std::vector<float> a(96), b(96);
  ck.read("h.0.input_layernorm.weight", DType::F32, a.data());
  ck.read("transformer.h.0.input_layernorm.weight", DType::F32, b.data());
  EXPECT_EQ(a, b);
}

TEST(CheckpointFixture, RowAndColumnSlicesEqualFullRead) {
  const Checkpoint ck = open_fixture();
  const std::string qkv = "h.1.self_attention.query_key_value.weight";  // [288, 96]
  std::vector<float> full(288 * 96);
  ck.read(qkv, DType::F32, full.data());
  for (DType t : {DType::F32, DType::F16, DType::BF16}) {
    const size_t es = dtype_size(t);
    std::vector<uint8_t> full_t(full.size() * es);
    ck.read(qkv, t, full_t.data());
    // Rows [96, 192): what TP rank 1 of 3 owns.
    std::vector<uint8_t> rows(96 * 96 * es);
    ck.read_rows(qkv, 96, 96, t, rows.data());
    EXPECT_EQ(0, std::memcmp(rows.data(), full_t.data() + 96 * 96 * es, rows.size()))
        << dtype_name(t);
    // Columns [32, 64) of every row.
    std::vector<uint8_t> cols(288 * 32 * es);
    ck.read_cols(qkv, 32, 32, t, cols.data());
    for (int r = 0; r < 288; ++r)
      ASSERT_EQ(0,
                std::memcmp(cols.data() + r * 32 * es, full_t.data() + (r * 96 + 32) * es, 32 * es))
          << dtype_name(t) << " row " << r;
  }
  // 1-D: read_rows takes elements.
  std::vector<float> bias(288), part(100);
  ck.read("h.1.self_attention.query_key_value.bias", DType::F32, bias.data());
  ck.read_rows("h.1.self_attention.query_key_value.bias", 150, 100, DType::F32, part.data());
  EXPECT_EQ(part, std::vector<float>(bias.begin() + 150, bias.begin() + 250));
  // Whole-width column read and empty reads.
  std::vector<float> all_cols(full.size());
  ck.read_cols(qkv, 0, 96, DType::F32, all_cols.data());
  EXPECT_EQ(all_cols, full);
  ck.read_rows(qkv, 288, 0, DType::F32, nullptr);

  std::vector<float> buf(288 * 96);
  expect_error([&] { ck.read_rows(qkv, 200, 89, DType::F32, buf.data()); },
               {"model-00002-of-00003.safetensors", qkv, "[200, 289)", "out of range"});
  expect_error([&] { ck.read_cols(qkv, 90, 7, DType::F32, buf.data()); },
               {qkv, "[90, 97) of dim 1"});
  expect_error([&] { ck.read_cols("ln_f.bias", 0, 1, DType::F32, buf.data()); },
               {"ln_f.bias", "2-D"});
}

TEST(CheckpointFixture, ConcurrentReadsFromThreads) {
  const Checkpoint ck = open_fixture();
  const std::vector<std::string> names = ck.names();
  std::vector<std::vector<uint16_t>> serial(names.size()), parallel(names.size());
  for (size_t i = 0; i < names.size(); ++i) {
    serial[i].resize(static_cast<size_t>(ck.info(names[i]).numel()));
    ck.read(names[i], DType::BF16, serial[i].data());
  }
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (size_t i = static_cast<size_t>(t); i < names.size(); i += 4) {
        parallel[i].resize(serial[i].size());
        ck.read(names[i], DType::BF16, parallel[i].data());
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(serial, parallel);
}

TEST(CheckpointFixture, MissingTensorNamesFilesSearched) {
  const Checkpoint ck = open_fixture();
  std::vector<float> buf(96);
  expect_error([&] { ck.read("h.3.input_layernorm.weight", DType::F32, buf.data()); },
               {"h.3.input_layernorm.weight", "model.safetensors.index.json",
                "model-00001-of-00003.safetensors", "model-00003-of-00003.safetensors"});
  expect_error([&] { ck.info("lm_head.weight"); }, {"lm_head.weight"});
}

// ---- conversion, writer, prefixes (files written here) ---------------------------------------

// Values exact in fp16 and bf16, then two that round differently: 1 + 2^-10 (exact in fp16,
// rounds to 1 in bf16) and 1 + 3 * 2^-9 (exact in fp16, rounds up to 1 + 2^-7 in bf16).
const std::vector<float> kValues = {0.0f,      1.0f,        -2.5f,         0.5f,        1024.0f,
                                    3.140625f, -0.0078125f, 1.0009765625f, 1.005859375f};
const std::vector<uint16_t> kF16Bits = {0x0000, 0x3C00, 0xC100, 0x3800, 0x6400,
                                        0x4248, 0xA000, 0x3C01, 0x3C06};
const std::vector<uint16_t> kBF16Bits = {0x0000, 0x3F80, 0xC020, 0x3F00, 0x4480,
                                         0x4049, 0xBC00, 0x3F80, 0x3F81};

class ConvertTest : public TempDir {};

TEST_F(ConvertTest, EveryDtypePairWithKnownBits) {
  const int64_t n = static_cast<int64_t>(kValues.size());
  const std::vector<uint16_t> odd = {0x3C00, 0x3C00, 0x3C00};  // 6 bytes: misaligns what follows
  write_safetensors(path("conv.safetensors"),
                    {tensor_from("f32", DType::F32, {n}, kValues.data()),
                     tensor_from("f16", DType::F16, {n}, kF16Bits.data()),
                     tensor_from("bf16", DType::BF16, {n}, kBF16Bits.data()),
                     tensor_from("odd", DType::F16, {3}, odd.data()),
                     tensor_from("f32_unaligned", DType::F32, {n}, kValues.data())});
  const SafetensorsFile f = SafetensorsFile::open(path("conv.safetensors"));
  auto read = [&](const std::string& name, DType t) {
    std::vector<uint8_t> out(static_cast<size_t>(n) * dtype_size(t));
    f.read_elements(f.at(name), 0, n, t, out.data());
    return out;
  };
  auto read_f32 = [&](const std::string& name) {
    std::vector<float> out(static_cast<size_t>(n));
    f.read_elements(f.at(name), 0, n, DType::F32, out.data());
    return out;
  };
  ASSERT_NE(reinterpret_cast<uintptr_t>(f.bytes(f.at("f32_unaligned"))) % 4, 0u);
  for (const std::string src : {"f32", "f32_unaligned"}) {
    EXPECT_EQ(read_f32(src), kValues) << src;
    EXPECT_EQ(as_u16(read(src, DType::F16)), kF16Bits) << src;
    EXPECT_EQ(as_u16(read(src, DType::BF16)), kBF16Bits) << src;
  }
  std::vector<float> f16_values = kValues, bf16_values = kValues;
  bf16_values[7] = 1.0f;
  bf16_values[8] = 1.0078125f;
  EXPECT_EQ(read_f32("f16"), f16_values);
  EXPECT_EQ(as_u16(read("f16", DType::F16)), kF16Bits);
  EXPECT_EQ(as_u16(read("f16", DType::BF16)), kBF16Bits);
  EXPECT_EQ(read_f32("bf16"), bf16_values);
  EXPECT_EQ(as_u16(read("bf16", DType::BF16)), kBF16Bits);
  std::vector<uint16_t> bf16_as_f16 = kF16Bits;
  bf16_as_f16[7] = 0x3C00;
  bf16_as_f16[8] = 0x3C08;  // 1 + 2^-7
  EXPECT_EQ(as_u16(read("bf16", DType::F16)), bf16_as_f16);
  // A slice in the middle, converted.
  std::vector<uint16_t> mid(3);
  f.read_elements(f.at("f32_unaligned"), 4, 3, DType::BF16, mid.data());
  EXPECT_EQ(mid, std::vector<uint16_t>(kBF16Bits.begin() + 4, kBF16Bits.begin() + 7));
  expect_error([&] { f.read_elements(f.at("f32"), 0, n, DType::I32, nullptr); },
               {"conv.safetensors", "tensor f32", "F32", "i32"});
}

TEST_F(ConvertTest, IntegerIdsReadAsI32) {
  // I64 as HF stores input_ids (tests/data/tiny-bloom/reference.safetensors).
  const std::string header = R"({"ids":{"dtype":"I64","shape":[3],"data_offsets":[0,24]},)"
                             R"("big":{"dtype":"I64","shape":[1],"data_offsets":[24,32]}})";
  {
    std::ofstream out(path("ids.safetensors"), std::ios::binary);
    const uint64_t len = header.size();
    out.write(reinterpret_cast<const char*>(&len), 8);
    out << header;
    const int64_t vals[4] = {5, 0, 249999, int64_t(1) << 40};
    out.write(reinterpret_cast<const char*>(vals), sizeof vals);
  }
  const SafetensorsFile f = SafetensorsFile::open(path("ids.safetensors"));
  std::vector<int32_t> ids(3);
  f.read_elements(f.at("ids"), 0, 3, DType::I32, ids.data());
  EXPECT_EQ(ids, (std::vector<int32_t>{5, 0, 249999}));
  expect_error([&] { f.read_elements(f.at("big"), 0, 1, DType::I32, ids.data()); },
               {"ids.safetensors", "tensor big", "I32"});
  expect_error([&] { f.read_elements(f.at("ids"), 0, 3, DType::F32, ids.data()); },
               {"ids.safetensors", "tensor ids", "I64"});
}

class WriterTest : public TempDir {};

TEST_F(WriterTest, StreamsChunksAndRoundTrips) {
  // 5M floats (20 MB) cross the writer's 16 MB chunk boundary; fill must see consecutive ranges.
  const int64_t rows = 5000, cols = 1000;
  int64_t next = 0;
  TensorToWrite big;
  big.name = "transformer.h.0.mlp.dense_h_to_4h.weight";
  big.dtype = DType::F32;
  big.shape = {rows, cols};
  big.fill = [&next](int64_t elem0, int64_t n, void* dst) {
    EXPECT_EQ(elem0, next);
    next = elem0 + n;
    for (int64_t i = 0; i < n; ++i)
      static_cast<float*>(dst)[i] = static_cast<float>((elem0 + i) % 4099);
  };
  const std::vector<float> small = {1, 2, 3};
  write_safetensors(path("model.safetensors"),
                    {big, tensor_from("ln_f.bias", DType::F32, {3}, small.data())});
  EXPECT_EQ(next, rows * cols);
  EXPECT_FALSE(fs::exists(path("model.safetensors.tmp")));

  Checkpoint ck = Checkpoint::open(dir_.string(), "transformer.");
  const Checkpoint moved = std::move(ck);  // the mappings stay valid
  EXPECT_EQ(moved.names(), (std::vector<std::string>{"h.0.mlp.dense_h_to_4h.weight", "ln_f.bias"}));
  std::vector<float> back(static_cast<size_t>(rows * cols));
  moved.read("h.0.mlp.dense_h_to_4h.weight", DType::F32, back.data(), {rows, cols});
  for (int64_t i = 0; i < rows * cols; ++i)
    ASSERT_EQ(back[static_cast<size_t>(i)], static_cast<float>(i % 4099)) << i;
  std::vector<float> b(3);
  moved.read("transformer.ln_f.bias", DType::F32, b.data());
  EXPECT_EQ(b, small);

  // The header is JSON padded to 8 bytes with the format's metadata.
  std::ifstream in(path("model.safetensors"), std::ios::binary);
  uint64_t len = 0;
  in.read(reinterpret_cast<char*>(&len), 8);
  EXPECT_EQ(len % 8, 0u);
  std::string header(len, '\0');
  in.read(&header[0], static_cast<std::streamsize>(len));
  EXPECT_EQ(nlohmann::json::parse(header).at("__metadata__").at("format"), "pt");
}

TEST_F(WriterTest, RejectsBadTensorLists) {
  const float x = 1;
  expect_error(
      [&] {
        write_safetensors(path("a.safetensors"), {tensor_from("a", DType::F32, {1}, &x),
                                                  tensor_from("a", DType::F32, {1}, &x)});
      },
      {"a.safetensors", "tensor a", "twice"});
  expect_error(
      [&] {
        write_safetensors(path("b.safetensors"), {tensor_from("b", DType::F32, {1}, nullptr)});
      },
      {"b.safetensors", "tensor b"});
  EXPECT_FALSE(fs::exists(path("a.safetensors")));
  EXPECT_FALSE(fs::exists(path("a.safetensors.tmp")));
}

TEST_F(WriterTest, FailingFillLeavesNoFile) {
  TensorToWrite t;
  t.name = "w";
  t.dtype = DType::F32;
  t.shape = {5000, 1000};  // two chunks: the second fill throws while the first one is written
  t.fill = [](int64_t elem0, int64_t n, void* dst) {
    BLOOM_CHECK(elem0 == 0, "fill failed at element {}", elem0);
    std::memset(dst, 0, static_cast<size_t>(n) * 4);
  };
  expect_error([&] { write_safetensors(path("w.safetensors"), {t}); }, {"fill failed"});
  EXPECT_FALSE(fs::exists(path("w.safetensors")));
  EXPECT_FALSE(fs::exists(path("w.safetensors.tmp")));
}

class PrefixTest : public TempDir {};

TEST_F(PrefixTest, UnprefixedNamesAndAmbiguity) {
  const std::vector<float> v = {1, 2};
  write_safetensors(path("model.safetensors"),
                    {tensor_from("ln_f.weight", DType::F32, {2}, v.data())});
  const Checkpoint ck = Checkpoint::open(dir_.string(), "transformer.");
  EXPECT_TRUE(ck.has("ln_f.weight"));
  EXPECT_TRUE(ck.has("transformer.ln_f.weight"));
  EXPECT_EQ(ck.info("transformer.ln_f.weight").name, "ln_f.weight");
  // Without a prefix to fold, names are as stored.
  const Checkpoint plain = Checkpoint::open(dir_.string());
  EXPECT_TRUE(plain.has("ln_f.weight"));
  EXPECT_FALSE(plain.has("transformer.ln_f.weight"));

  write_safetensors(path("model.safetensors"),
                    {tensor_from("ln_f.weight", DType::F32, {2}, v.data()),
                     tensor_from("transformer.ln_f.weight", DType::F32, {2}, v.data())});
  expect_error([&] { Checkpoint::open(dir_.string(), "transformer."); },
               {"model.safetensors", "ln_f.weight", "transformer."});
  EXPECT_EQ(Checkpoint::open(dir_.string()).names().size(), 2u);
}

// ---- malformed files ---------------------------------------------------------------------------

class MalformedTest : public TempDir {
 protected:
  // Puts a single-file checkpoint with this raw content in the folder and expects open to fail.
  void expect_open_error(const std::string& header, size_t data_bytes,
                         const std::vector<std::string>& parts, int64_t header_len = -1) {
    write_raw(path("model.safetensors"), header, data_bytes, header_len);
    std::vector<std::string> all = parts;
    all.push_back(path("model.safetensors"));
    expect_error([&] { Checkpoint::open(dir_.string()); }, all);
  }
};

TEST_F(MalformedTest, TruncatedFile) {
  const std::vector<float> a(64, 1.0f), b(64, 2.0f);
  write_safetensors(path("model.safetensors"),
                    {tensor_from("ln_f.weight", DType::F32, {64}, a.data()),
                     tensor_from("ln_f.bias", DType::F32, {64}, b.data())});
  fs::resize_file(path("model.safetensors"), fs::file_size(path("model.safetensors")) - 100);
  expect_error([&] { Checkpoint::open(dir_.string()); },
               {path("model.safetensors"), "tensor ln_f.bias", "truncated"});
  fs::resize_file(path("model.safetensors"), 5);
  expect_error([&] { Checkpoint::open(dir_.string()); }, {path("model.safetensors"), "too short"});
}

TEST_F(MalformedTest, HeaderLengthPastEnd) {
  expect_open_error(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", 4,
                    {"header length 1000000", "past the end"}, 1000000);
}

TEST_F(MalformedTest, HeaderNotJson) {
  expect_open_error(R"({"a":{"dtype":"F32",)", 4, {"not valid JSON"});
}

TEST_F(MalformedTest, DataOffsetsOutOfRange) {
  expect_open_error(R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[8,24]}})", 16,
                    {"tensor w", "data_offsets [8, 24]", "16-byte data section"});
  expect_open_error(R"({"w":{"dtype":"F32","shape":[0],"data_offsets":[8,4]}})", 16,
                    {"tensor w", "[8, 4]"});
  expect_open_error(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0]}})", 16,
                    {"tensor w", "data_offsets"});
}

TEST_F(MalformedTest, OverlappingTensors) {
  expect_open_error(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},)"
                    R"("b":{"dtype":"F32","shape":[4],"data_offsets":[8,24]}})",
                    24, {"tensor b", "overlaps tensor a"});
}

TEST_F(MalformedTest, UnknownOrUnsupportedDtype) {
  expect_open_error(R"({"w":{"dtype":"Q7","shape":[4],"data_offsets":[0,16]}})", 16,
                    {"tensor w", "unknown dtype \"Q7\""});
  // F64 is a valid safetensors dtype, but not a BLOOM weight dtype.
  expect_open_error(R"({"w":{"dtype":"F64","shape":[2],"data_offsets":[0,16]}})", 16,
                    {"tensor w", "F64"});
  expect_open_error(R"({"w":{"dtype":"I8","shape":[16],"data_offsets":[0,16]}})", 16,
                    {"tensor w", "I8"});
  const SafetensorsFile f = SafetensorsFile::open(path("model.safetensors"));  // the I8 file
  std::vector<float> out(16);
  expect_error([&] { f.read_elements(f.at("w"), 0, 16, DType::F32, out.data()); },
               {path("model.safetensors"), "tensor w", "I8"});
}

TEST_F(MalformedTest, ShapeDoesNotMatchOffsets) {
  expect_open_error(R"({"w":{"dtype":"F16","shape":[3,2],"data_offsets":[0,16]}})", 16,
                    {"tensor w", "[3, 2]", "needs 12 bytes", "span 16"});
  expect_open_error(R"({"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", 16,
                    {"tensor w", "shape"});
  expect_open_error(
      R"({"w":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,16]}})", 16,
      {"tensor w", "shape"});
}

TEST_F(MalformedTest, NoCheckpointInFolder) {
  expect_error([&] { Checkpoint::open(dir_.string()); },
               {dir_.string(), "model.safetensors.index.json"});
  expect_error([&] { Checkpoint::open(path("nope")); }, {path("nope"), "does not exist"});
}

TEST_F(MalformedTest, IndexNamesMissingShard) {
  const std::vector<float> v = {1, 2};
  write_safetensors(path("model-00001-of-00002.safetensors"),
                    {tensor_from("transformer.ln_f.weight", DType::F32, {2}, v.data())});
  std::ofstream(path("model.safetensors.index.json"))
      << R"({"metadata":{},"weight_map":{)"
      << R"("transformer.ln_f.weight":"model-00001-of-00002.safetensors",)"
      << R"("transformer.ln_f.bias":"model-00002-of-00002.safetensors"}})";
  expect_error([&] { Checkpoint::open(dir_.string()); },
               {path("model.safetensors.index.json"), path("model-00002-of-00002.safetensors"),
                "transformer.ln_f.bias", "does not exist"});
  // The shard exists but lacks the tensor the index promises.
  write_safetensors(path("model-00002-of-00002.safetensors"),
                    {tensor_from("transformer.ln_f.weight", DType::F32, {2}, v.data())});
  expect_error([&] { Checkpoint::open(dir_.string()); },
               {path("model.safetensors.index.json"), "transformer.ln_f.bias",
                path("model-00002-of-00002.safetensors")});
  std::ofstream(path("model.safetensors.index.json"))
      << R"({"weight_map":{"a":"../x.safetensors"}})";
  expect_error([&] { Checkpoint::open(dir_.string()); },
               {"model.safetensors.index.json", "tensor a"});
}

}  // namespace
}  // namespace bloom::io

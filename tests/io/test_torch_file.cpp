// Tests for io/torch_file: files written by torch.save itself (tests/io/make_io_fixtures.py),
// every tensor checked against the same tensors written by safetensors; views with a storage
// offset, shared storages, tied names, Parameters, 0-d and empty tensors, plain dicts and
// protocol 4; and each file torch.save users may hand us that cannot be read in place, refused
// with the file and the tensor (or the global) named. The hostile pickles prove the refusal
// happens before anything runs: the file their call would create stays absent.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <vector>

#include "core/check.h"
#include "tests/test_support.h"
#include "io/safetensors.h"
#include "io/torch_file.h"
#include "tests/io/io_fixtures.h"

namespace bloom::io {
namespace {

using fixtures::io_fixture;
namespace fs = std::filesystem;

using ::bloom::testing::error_of;

void expect_parts(const std::string& msg, const std::vector<std::string>& parts) {
  for (const auto& p : parts) EXPECT_NE(msg.find(p), std::string::npos) << "'" << p << "' not in: " << msg;
}

std::vector<float> as_f32(const TorchTensor& t) {
  std::vector<float> out(static_cast<size_t>(t.numel()));
  read_mapped(t.data, t.dtype, t.numel(), DType::F32, out.data());
  return out;
}

std::vector<float> expected(const std::string& name) {
  static const SafetensorsFile ref = SafetensorsFile::open(io_fixture("expect.safetensors"));
  const SafetensorsEntry& e = ref.at(name);
  std::vector<float> out(static_cast<size_t>(e.numel()));
  ref.read_elements(e, 0, e.numel(), DType::F32, out.data());
  return out;
}

void expect_matches_oracle(const TorchFile& f) {
  const SafetensorsFile ref = SafetensorsFile::open(io_fixture("expect.safetensors"));
  for (const SafetensorsEntry& e : ref.entries()) {
    const TorchTensor* t = f.find(e.name);
    ASSERT_NE(t, nullptr) << e.name;
    EXPECT_EQ(t->shape, e.shape) << e.name;
    EXPECT_EQ(safetensors_dtype_name(t->dtype), e.dtype) << e.name;
    EXPECT_EQ(as_f32(*t), expected(e.name)) << e.name;
  }
}

TEST(TorchFile, StateDictMatchesSafetensorsOracle) {
  const TorchFile f = TorchFile::open(io_fixture("plain.bin"));
  std::vector<std::string> names;
  for (const TorchTensor& t : f.tensors()) names.push_back(t.name);
  EXPECT_EQ(names, (std::vector<std::string>{"a", "view", "base", "c", "p", "tied", "scalar",
                                             "empty", "big"}));
  expect_matches_oracle(f);
  // The view starts 2 elements into its base's storage; the tied name is the same bytes.
  EXPECT_EQ(f.find("view")->data, f.find("base")->data + 2 * 2);
  EXPECT_EQ(f.find("tied")->data, f.find("a")->data);
  EXPECT_EQ(f.find("c")->storage_type, "BFloat16Storage");
  EXPECT_TRUE(f.find("scalar")->shape.empty());
  // file_offset is where the bytes are in the file.
  const TorchTensor& a = *f.find("a");
  std::ifstream in(io_fixture("plain.bin"), std::ios::binary);
  in.seekg(static_cast<std::streamoff>(a.file_offset));
  std::vector<float> raw(12);
  in.read(reinterpret_cast<char*>(raw.data()), 48);
  EXPECT_EQ(raw, expected("a"));
}

TEST(TorchFile, ArchiveNameDictAndProtocol4) {
  expect_matches_oracle(TorchFile::open(io_fixture("buffer.bin")));     // "archive/data.pkl"
  expect_matches_oracle(TorchFile::open(io_fixture("dict_proto4.bin")));  // dict, FRAME, MEMOIZE
}

TEST(TorchFile, LayoutsThatCannotBeReadInPlace) {
  expect_parts(error_of([] { TorchFile::open(io_fixture("noncontig.bin")); }),
               {io_fixture("noncontig.bin"), "tensor t", "stride [1, 3]", "not contiguous"});
  expect_parts(error_of([] { TorchFile::open(io_fixture("compressed.bin")); }),
               {io_fixture("compressed.bin"), "tensor a", "compressed"});
  expect_parts(error_of([] { TorchFile::open(io_fixture("legacy.bin")); }),
               {io_fixture("legacy.bin"), "legacy format"});
  // Integer storages are read (they are data), and marked as not a float tensor.
  const TorchFile ids = TorchFile::open(io_fixture("long.bin"));
  EXPECT_FALSE(ids.find("ids")->is_float);
  EXPECT_EQ(ids.find("ids")->storage_type, "LongStorage");
}

TEST(TorchFile, DamagedFilesNameTheFileAndTensor) {
  expect_parts(error_of([] { TorchFile::open(io_fixture("truncated.bin")); }),
               {io_fixture("truncated.bin"), "end-of-central-directory", "truncated"});
  expect_parts(error_of([] { TorchFile::open(io_fixture("short_storage.bin")); }),
               {io_fixture("short_storage.bin"), "tensor a", "plain/data/0", "24 bytes",
                "shorter than"});
}

TEST(TorchFile, ForeignGlobalsAreRefusedAndNeverRun) {
  for (const char* name : {"hostile2.bin", "hostile4.bin"}) {
    const std::string msg = error_of([&] { TorchFile::open(io_fixture(name)); });
    expect_parts(msg, {io_fixture(name), "archive/data.pkl", "posix.system", "Nothing"});
    EXPECT_FALSE(fs::exists(io_fixture("pwned"))) << name;
  }
}

}  // namespace
}  // namespace bloom::io

// Tests for io/torch_pickle: the interpreter on small pickles written here opcode by opcode (the
// shapes torch.save's output takes are tested on real files in test_torch_file.cpp): a minimal
// state dict, every refusal (foreign globals by GLOBAL and STACK_GLOBAL, callables used in ways
// torch.save never does, opcodes outside the set, truncation, structures that are not a state
// dict), each naming the origin and the byte.
#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include "core/check.h"
#include "tests/test_support.h"
#include "io/torch_pickle.h"

namespace bloom::io {
namespace {

using ::bloom::testing::error_of;

std::vector<PickledTensor> run(const std::string& p) {
  return read_state_dict_pickle(reinterpret_cast<const uint8_t*>(p.data()), p.size(), "t.pkl");
}

std::string unicode(const std::string& s) {  // BINUNICODE
  std::string out = "X";
  for (int i = 0; i < 4; ++i) out += static_cast<char>((s.size() >> (8 * i)) & 0xff);
  return out + s;
}

// One tensor entry as torch.save writes it: key, _rebuild_tensor_v2 over a persistent storage.
std::string tensor(const std::string& key, const std::string& storage, const std::string& type,
                   int numel, int offset, const std::string& size_tuple,
                   const std::string& stride_tuple) {
  return unicode(key) + "ctorch._utils\n_rebuild_tensor_v2\n" + "((" + unicode("storage") +
         "ctorch\n" + type + "\n" + unicode(storage) + unicode("cpu") + "K" +
         static_cast<char>(numel) + "tQ" + "K" + static_cast<char>(offset) + size_tuple +
         stride_tuple + "\x89" + "ccollections\nOrderedDict\n)R" + "tR";
}

const std::string kHead = "\x80\x02" "ccollections\nOrderedDict\n)R(";
const std::string kSize23 = std::string("K\x02K\x03\x86"), kStride31 = std::string("K\x03K\x01\x86");

TEST(TorchPickle, MinimalStateDict) {
  const auto t = run(kHead + tensor("w", "0", "HalfStorage", 8, 2, kSize23, kStride31) +
                     tensor("b", "1", "FloatStorage", 3, 0, "K\x03\x85", "K\x01\x85") + "u.");
  ASSERT_EQ(t.size(), 2u);
  EXPECT_EQ(t[0].name, "w");
  EXPECT_EQ(t[0].storage_key, "0");
  EXPECT_EQ(t[0].storage_type, "HalfStorage");
  EXPECT_EQ(t[0].storage_numel, 8);
  EXPECT_EQ(t[0].offset, 2);
  EXPECT_EQ(t[0].shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(t[0].stride, (std::vector<int64_t>{3, 1}));
  EXPECT_EQ(t[1].shape, (std::vector<int64_t>{3}));
  // A plain dict, memo references, and a state dict's _metadata (BUILD) are fine too.
  const auto d = run("\x80\x02}q\x01(" + tensor("w", "0", "BFloat16Storage", 6, 0, kSize23, kStride31) +
                     "u}(" + unicode("_metadata") + "h\x01ub.");
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].storage_type, "BFloat16Storage");
}

TEST(TorchPickle, ForeignGlobalsAreRefusedByName) {
  for (const std::string& g : {std::string("cposix\nsystem\n"), std::string("cbuiltins\neval\n"),
                               std::string("csubprocess\nPopen\n"),
                               std::string("ctorch\nload\n")}) {
    const std::string msg = error_of([&] { run("\x80\x02" + g + "X\x02\x00\x00\x00ls\x85R."); });
    const std::string name = g.substr(1, g.find('\n') - 1) + "." +
                             g.substr(g.find('\n') + 1, g.rfind('\n') - g.find('\n') - 1);
    EXPECT_NE(msg.find("t.pkl: refuses the pickle global '" + name + "'"), std::string::npos) << msg;
  }
  // Protocol 4's STACK_GLOBAL takes module and name from the stack.
  const std::string msg = error_of([] {
    run("\x80\x04\x8c\x05posix\x94\x8c\x06system\x94\x93\x94\x8c\x02ls\x85R.");
  });
  EXPECT_NE(msg.find("'posix.system'"), std::string::npos) << msg;
}

TEST(TorchPickle, AllowedGlobalsUsedOtherwiseAreRefused) {
  // A storage type called like a function; OrderedDict called with arguments; a wrong arity.
  EXPECT_NE(error_of([] { run("\x80\x02" "ctorch\nFloatStorage\n)R."); })
                .find("is not called by a torch.save state dict"),
            std::string::npos);
  EXPECT_NE(error_of([] { run("\x80\x02" "ccollections\nOrderedDict\nK\x01\x85R."); })
                .find("OrderedDict is called with arguments"),
            std::string::npos);
  EXPECT_NE(error_of([] { run("\x80\x02" "ctorch._utils\n_rebuild_tensor_v2\nK\x01\x85R."); })
                .find("takes 6 or 7 arguments"),
            std::string::npos);
  // A persistent id that is not a storage.
  EXPECT_NE(error_of([] { run("\x80\x02K\x01Q."); }).find("persistent id is an int"),
            std::string::npos);
}

TEST(TorchPickle, MalformedPicklesNameTheByte) {
  EXPECT_NE(error_of([] { run("\x80\x02}"); }).find("ends before its STOP"), std::string::npos);
  EXPECT_NE(error_of([] { run(std::string("\x80\x02X\xff\x00\x00\x00" "ab", 9)); })
                .find("byte 2: the pickle ends inside"),
            std::string::npos);
  EXPECT_NE(error_of([] { run("\x80\x02}S'x'\n."); }).find("opcode 0x53"), std::string::npos);
  EXPECT_NE(error_of([] { run("\x80\x02h\x07."); }).find("memo entry 7 was never stored"),
            std::string::npos);
  EXPECT_NE(error_of([] { run("\x80\x02" "0."); }).find("pops more values"), std::string::npos);
  EXPECT_NE(error_of([] { run("\x80\x02t."); }).find("closes a MARK it never opened"),
            std::string::npos);
  EXPECT_NE(error_of([] { run("\x80\x09}."); }).find("protocol 9"), std::string::npos);
  EXPECT_NE(error_of([] { run("\x80\x02\x8a\x09" "123456789."); }).find("more than 64 bits"),
            std::string::npos);
}

TEST(TorchPickle, StructuresThatAreNotAStateDict) {
  EXPECT_NE(error_of([] { run("\x80\x02]."); }).find("t.pkl: holds a list, not a state dict"),
            std::string::npos);
  EXPECT_NE(error_of([] { run("\x80\x02}" + unicode("step") + "K\x05s."); })
                .find("entry 'step' is an int, not a tensor"),
            std::string::npos);
  EXPECT_NE(error_of([] { run("\x80\x02}K\x01K\x02s."); }).find("key is an int"), std::string::npos);
  EXPECT_NE(error_of([] { run("\x80\x02}}."); }).find("2 values on its stack"), std::string::npos);
  const std::string twice = kHead + tensor("w", "0", "HalfStorage", 8, 0, kSize23, kStride31) +
                            tensor("w", "1", "HalfStorage", 8, 0, kSize23, kStride31) + "u.";
  EXPECT_NE(error_of([&] { run(twice); }).find("tensor w appears twice"), std::string::npos);
  const std::string clash = kHead + tensor("w", "0", "HalfStorage", 8, 0, kSize23, kStride31) +
                            tensor("v", "0", "FloatStorage", 8, 0, kSize23, kStride31) + "u.";
  EXPECT_NE(error_of([&] { run(clash); }).find("storage 0 is described twice"), std::string::npos);
}

}  // namespace
}  // namespace bloom::io

// Tests for io/ini_file: the config.ini FasterTransformer's converter writes (the fixture's own
// file) and configparser's dialect around it; every malformed line named by file and line.
#include <gtest/gtest.h>

#include <functional>
#include <string>

#include "core/check.h"
#include "tests/test_support.h"
#include "io/ini_file.h"

namespace bloom::io {
namespace {

using ::bloom::testing::error_of;

TEST(IniFile, ConvertersConfig) {
  const IniFile ini =
      IniFile::read(std::string(BLOOM_SOURCE_DIR) + "/tests/data/trained-bloom-ft/8-gpu/config.ini");
  EXPECT_TRUE(ini.has_section("gpt"));
  EXPECT_EQ(ini.get("gpt", "model_name"), "");
  EXPECT_EQ(ini.get_int("gpt", "head_num"), 8);
  EXPECT_EQ(ini.get_int("gpt", "tensor_para_size"), 8);
  EXPECT_EQ(ini.get("gpt", "weight_data_type"), "fp16");
  EXPECT_DOUBLE_EQ(ini.get_double("gpt", "layernorm_eps"), 1e-5);
  EXPECT_NE(ini.where("gpt", "head_num").find("config.ini:4"), std::string::npos);
}

TEST(IniFile, Dialect) {
  const IniFile ini = IniFile::parse(
      "# comment\n; another\n[a]\n  Key1 = v 1  \nkey2: 7\n\n[b b]\nx=\n", "t.ini");
  EXPECT_EQ(ini.get("a", "key1"), "v 1");
  EXPECT_EQ(ini.get("a", "KEY1"), "v 1");
  EXPECT_EQ(ini.get_int("a", "key2"), 7);
  EXPECT_EQ(ini.get("b b", "x"), "");
  EXPECT_EQ(ini.find("a", "x"), nullptr);
  EXPECT_EQ(ini.find("c", "x"), nullptr);
}

TEST(IniFile, ErrorsNameFileAndLine) {
  auto has = [](const std::string& msg, const std::string& part) {
    EXPECT_NE(msg.find(part), std::string::npos) << part << " not in " << msg;
  };
  has(error_of([] { IniFile::parse("k=v\n", "t.ini"); }), "t.ini:1: 'k=v' comes before any [section]");
  has(error_of([] { IniFile::parse("[a\n", "t.ini"); }), "t.ini:1: section header");
  has(error_of([] { IniFile::parse("[a]\nnovalue\n", "t.ini"); }), "t.ini:2: expected 'key = value'");
  has(error_of([] { IniFile::parse("[a]\nk=1\nK=2\n", "t.ini"); }), "t.ini:3: key 'k' of [a] is given twice (first at line 2)");
  has(error_of([] { IniFile::parse("[a]\n[a]\n", "t.ini"); }), "t.ini:2: section [a] appears twice");
  const IniFile ini = IniFile::parse("[a]\nn=12x\nf=abc\n", "t.ini");
  has(error_of([&] { ini.get_int("a", "n"); }), "t.ini:2: [a] n must be an integer, got '12x'");
  has(error_of([&] { ini.get_double("a", "f"); }), "t.ini:3: [a] f must be a number");
  has(error_of([&] { ini.get("a", "m"); }), "t.ini: [a] has no key 'm'");
  has(error_of([&] { ini.get("z", "m"); }), "t.ini: no [z] section");
  has(error_of([] { IniFile::read("/nonexistent/config.ini"); }), "/nonexistent/config.ini: cannot open");
}

}  // namespace
}  // namespace bloom::io

// io::Tokenizer against HF tokenizers 0.23: the ids and decoded text stored in tests/data for both
// fixtures (tiny-bloom, bloom-style-50k) and both merge formats, all of LAMBADA split as
// FasterTransformer does, added tokens, invalid UTF-8, thread safety, speed, and load errors.
#include "io/tokenizer.h"

#include <gtest/gtest.h>

#include <cctype>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <iostream>
#include <random>
#include <thread>

#include <nlohmann/json.hpp>

#include "core/check.h"
#include "io/unicode.h"

namespace bloom::io {
namespace {

using nlohmann::json;

std::string data_path(const std::string& rel) {
  return std::string(BLOOM_SOURCE_DIR) + "/tests/data/" + rel;
}

std::vector<json> read_jsonl(const std::string& path) {
  std::ifstream in(path);
  EXPECT_TRUE(in) << "cannot open " << path;
  std::vector<json> rows;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) rows.push_back(json::parse(line));
  }
  return rows;
}

// FasterTransformer's split: text.rstrip("\n").rsplit(" ", 1); target = " " + last word.
std::pair<std::string, std::string> split_passage(std::string text) {
  while (!text.empty() && text.back() == '\n') text.pop_back();
  std::size_t sp = text.rfind(' ');
  EXPECT_NE(sp, std::string::npos);
  return {text.substr(0, sp), " " + text.substr(sp + 1)};
}

const std::vector<std::string>& lambada_texts() {
  static const std::vector<std::string> texts = [] {
    std::vector<std::string> t;
    for (const json& row : read_jsonl(data_path("lambada/lambada_test.jsonl"))) {
      t.push_back(row.at("text").get<std::string>());
    }
    return t;
  }();
  return texts;
}

std::vector<int32_t> ids_of(const json& j) { return j.get<std::vector<int32_t>>(); }

struct FixtureFile {
  const char* fixture;
  const char* file;
};

class TokenizerFixture : public ::testing::TestWithParam<FixtureFile> {
 protected:
  std::string dir() const { return data_path(GetParam().fixture) + "/"; }
  Tokenizer load() const { return Tokenizer::from_file(dir() + GetParam().file); }
};

TEST_P(TokenizerFixture, StringsMatchHfIdsAndDecode) {
  Tokenizer tok = load();
  std::vector<json> rows = read_jsonl(dir() + "strings.jsonl");
  ASSERT_GE(rows.size(), 500u);
  int failures = 0;
  for (std::size_t i = 0; i < rows.size() && failures < 5; ++i) {
    const std::string text = rows[i].at("text").get<std::string>();
    std::vector<int32_t> ids = tok.encode(text);
    bool ok = ids == ids_of(rows[i].at("ids"));
    EXPECT_TRUE(ok) << "strings.jsonl line " << i + 1 << ": " << json(text).dump();
    std::string decoded = tok.decode(ids_of(rows[i].at("ids")));
    EXPECT_EQ(decoded, rows[i].at("decoded").get<std::string>()) << "line " << i + 1;
    failures += !ok || decoded != rows[i].at("decoded").get<std::string>();
  }
}

TEST_P(TokenizerFixture, LambadaContextsAndTargetsMatchHf) {
  Tokenizer tok = load();
  std::vector<json> rows = read_jsonl(dir() + "tokenization.jsonl");
  const auto& texts = lambada_texts();
  ASSERT_EQ(texts.size(), 5153u);
  ASSERT_EQ(rows.size(), texts.size());
  int failures = 0;
  for (const json& row : rows) {
    std::size_t index = row.at("index").get<std::size_t>();
    ASSERT_LT(index, texts.size());
    auto [context, target] = split_passage(texts[index]);
    bool ok = tok.encode(context) == ids_of(row.at("context_ids")) &&
              tok.encode(target) == ids_of(row.at("target_ids"));
    EXPECT_TRUE(ok) << "LAMBADA passage " << index;
    if (!ok && ++failures >= 5) break;
  }
}

INSTANTIATE_TEST_SUITE_P(
    HfFixtures, TokenizerFixture,
    ::testing::Values(FixtureFile{"tiny-bloom", "tokenizer.json"},
                      FixtureFile{"tiny-bloom", "tokenizer-legacy-merges.json"},
                      FixtureFile{"bloom-style-50k", "tokenizer.json"},
                      FixtureFile{"bloom-style-50k", "tokenizer-legacy-merges.json"}),
    [](const ::testing::TestParamInfo<FixtureFile>& info) {
      std::string name = std::string(info.param.fixture) + "_" + info.param.file;
      for (char& c : name) {
        if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
      }
      return name;
    });

Tokenizer tiny() { return Tokenizer::from_file(data_path("tiny-bloom/tokenizer.json")); }

TEST(Tokenizer, VocabularyAndSpecialTokens) {
  Tokenizer tok = tiny();
  EXPECT_EQ(tok.vocab_size(), 3000);
  EXPECT_EQ(Tokenizer::from_file(data_path("bloom-style-50k/tokenizer.json")).vocab_size(), 50260);
  EXPECT_EQ(tok.token_to_id("<unk>"), 0);
  EXPECT_EQ(tok.token_to_id("<s>"), 1);
  EXPECT_EQ(tok.token_to_id("</s>"), 2);
  EXPECT_EQ(tok.token_to_id("<pad>"), 3);
  EXPECT_EQ(tok.token_to_id("\xC4\xA0"), 224);  // "Ġ", the byte-level space
  EXPECT_FALSE(tok.token_to_id("no such token").has_value());
  EXPECT_EQ(tok.id_to_token(1), "<s>");
  EXPECT_FALSE(tok.id_to_token(3000).has_value());
  EXPECT_FALSE(tok.id_to_token(-1).has_value());
  EXPECT_TRUE(tok.is_special(3));
  EXPECT_FALSE(tok.is_special(224));
}

TEST(Tokenizer, EdgeCasesAgreeWithHf) {
  Tokenizer tok = tiny();
  EXPECT_TRUE(tok.encode("").empty());
  EXPECT_EQ(tok.decode({}), "");
  EXPECT_EQ(tok.encode("Hello world"), (std::vector<int32_t>{968, 566}));
  // Special tokens written in text are split out; decode skips them unless asked not to.
  EXPECT_EQ(tok.encode("<s><s>"), (std::vector<int32_t>{1, 1}));
  EXPECT_EQ(tok.decode({1, 5, 2}), "\"");
  EXPECT_EQ(tok.decode({1, 5, 2}, false), "<s>\"</s>");
  // Ids without a token are skipped as HF does; a lone UTF-8 lead byte decodes to U+FFFD.
  EXPECT_EQ(tok.decode({5, 99999, -7}), "\"");
  EXPECT_EQ(tok.decode({*tok.token_to_id("\xC3\x83")}), "\xEF\xBF\xBD");
}

TEST(Tokenizer, InvalidUtf8IsReplacedLikePythonErrorsReplace) {
  Tokenizer tok = tiny();
  // HF encode("a\ufffd b\ufffd\ufffd\ufffd"): ED A0 80 (a UTF-8 surrogate) is three maximal subparts.
  const std::vector<int32_t> hf = {68, 175, 127, 125, 273, 175, 127, 125, 175, 127, 125, 175, 127, 125};
  EXPECT_EQ(tok.encode("a\xFF b\xED\xA0\x80"), hf);
  EXPECT_EQ(tok.encode("a\xFF b\xED\xA0\x80"), tok.encode("a\uFFFD b\uFFFD\uFFFD\uFFFD"));
  EXPECT_EQ(tok.encode("x\xE6\x97"), tok.encode("x\uFFFD"));  // truncated at the end: one U+FFFD
  EXPECT_EQ(tok.encode("\xF0\x9F\x98" "c"), tok.encode("\uFFFD" "c"));
  EXPECT_EQ(tok.encode("\xC0\xAF\xF4\x90\x80\x80"),  // overlong, then above U+10FFFF
            tok.encode("\uFFFD\uFFFD\uFFFD\uFFFD\uFFFD\uFFFD"));
  std::mt19937 rng(7);
  for (int i = 0; i < 2000; ++i) {  // random bytes never crash and give in-range ids
    std::string s(rng() % 40, '\0');
    for (char& c : s) c = static_cast<char>(rng());
    for (int32_t id : tok.encode(s)) ASSERT_TRUE(id >= 0 && id < tok.vocab_size());
    tok.decode(tok.encode(s));
  }
}

TEST(Tokenizer, UnicodeWhiteSpaceSplitsWords) {
  Tokenizer tok = tiny();
  // White_Space code points (HF's Oniguruma \s) stand alone between two words.
  const char* spaces[] = {"\t", "\n", "\v", "\f", "\r", "\u0085", "\u00A0", "\u1680", "\u2000",
                          "\u2005", "\u200A", "\u2028", "\u2029", "\u202F", "\u205F", "\u3000"};
  for (const char* ws : spaces) {
    std::vector<int32_t> want = tok.encode("ab");
    for (int32_t id : tok.encode(ws)) want.push_back(id);
    for (int32_t id : tok.encode("cd")) want.push_back(id);
    EXPECT_EQ(tok.encode(std::string("ab") + ws + "cd"), want) << json(ws).dump();
  }
}

TEST(Unicode, ByteAlphabetAndWhiteSpace) {
  int mapped = 0;
  for (int b = 0; b < 256; ++b) {
    EXPECT_EQ(unicode::char_to_byte(unicode::byte_to_char(static_cast<uint8_t>(b))), b);
  }
  for (char32_t c = 0; c < 0x200; ++c) mapped += unicode::char_to_byte(c).has_value();
  EXPECT_EQ(mapped, 256);
  EXPECT_EQ(unicode::byte_to_char(' '), 0x120u);  // "Ġ"
  EXPECT_FALSE(unicode::char_to_byte(' ').has_value());
  int white = 0;
  for (char32_t c = 0; c < 0x110000; ++c) white += unicode::is_white_space(c);
  EXPECT_EQ(white, 25);  // the set HF tokenizers' Oniguruma \s splits on (probed code point by code point)
}

std::string tiny_json_with(const std::function<void(json&)>& edit) {
  std::ifstream in(data_path("tiny-bloom/tokenizer.json"));
  json j = json::parse(in);
  edit(j);
  return j.dump();
}

TEST(Tokenizer, AddedTokensWithStripAndNormalizedFlagsMatchHf) {
  // HF: add_special_tokens([AddedToken("<mask>", lstrip=True, rstrip=True, normalized=False)]).
  Tokenizer mask = Tokenizer::from_json_text(tiny_json_with([](json& j) {
    j["added_tokens"].push_back({{"id", 3000}, {"content", "<mask>"}, {"single_word", false},
                                 {"lstrip", true}, {"rstrip", true}, {"normalized", false},
                                 {"special", true}});
  }), "mask");
  EXPECT_EQ(mask.vocab_size(), 3001);
  EXPECT_EQ(mask.encode("a <mask> b"), (std::vector<int32_t>{68, 3000, 69}));
  EXPECT_EQ(mask.encode("a  <mask>\u3000\u00A0 b"), (std::vector<int32_t>{68, 3000, 69}));
  EXPECT_EQ(mask.encode("<mask><mask>"), (std::vector<int32_t>{3000, 3000}));
  EXPECT_EQ(mask.encode("x<mask>"), (std::vector<int32_t>{91, 3000}));
  EXPECT_EQ(mask.encode(" <mask>"), (std::vector<int32_t>{3000}));
  EXPECT_EQ(mask.decode({68, 3000, 69}), "ab");
  EXPECT_EQ(mask.decode({68, 3000, 69}, false), "a<mask>b");
  // HF: add_tokens([AddedToken("ab", normalized=True), AddedToken("abc", normalized=False)]).
  Tokenizer ab = Tokenizer::from_json_text(tiny_json_with([](json& j) {
    j["added_tokens"].push_back({{"id", 351}, {"content", "ab"}, {"normalized", true}});
    j["added_tokens"].push_back({{"id", 1014}, {"content", "abc"}, {"normalized", false}});
  }), "ab");
  EXPECT_EQ(ab.encode("xabcx abx"), (std::vector<int32_t>{91, 1014, 91, 224, 351, 91}));
}

TEST(Tokenizer, ConcurrentEncodeGivesTheSameIds) {
  Tokenizer tok = Tokenizer::from_file(data_path("bloom-style-50k/tokenizer.json"));
  const auto& texts = lambada_texts();
  std::vector<std::vector<int32_t>> want;
  for (std::size_t i = 0; i < 400; ++i) want.push_back(Tokenizer(tok).encode(texts[i]));
  Tokenizer fresh = Tokenizer::from_file(data_path("bloom-style-50k/tokenizer.json"));
  std::vector<int> mismatches(4, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (std::size_t i = 0; i < want.size(); ++i) {
        std::size_t k = (i + t * 97) % want.size();
        mismatches[t] += fresh.encode(texts[k]) != want[k];
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int m : mismatches) EXPECT_EQ(m, 0);
}

TEST(Tokenizer, LambadaEncodeSpeed) {
  auto t_load = std::chrono::steady_clock::now();
  Tokenizer tok = Tokenizer::from_file(data_path("bloom-style-50k/tokenizer.json"));
  std::cout << "[ speed    ] bloom-style-50k tokenizer.json loaded in "
            << std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t_load).count()
            << " ms\n";
  const auto& texts = lambada_texts();
  for (int pass = 0; pass < 2; ++pass) {
    std::size_t n_tokens = 0;
    auto t0 = std::chrono::steady_clock::now();
    for (const std::string& text : texts) {
      auto [context, target] = split_passage(text);
      n_tokens += tok.encode(context).size() + tok.encode(target).size();
    }
    double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    std::cout << "[ speed    ] bloom-style-50k, " << (pass ? "warm" : "cold") << " cache: "
              << texts.size() << " LAMBADA passages, " << n_tokens << " tokens in " << ms
              << " ms = " << texts.size() / (ms / 1000.0) << " passages/s\n";
    EXPECT_EQ(n_tokens, 456190u);
    EXPECT_LT(ms, 10000.0);  // a loose bound for sanitizer/debug builds; Release is far below 1 s
  }
}

// ---- load errors name the file and the key ----

std::string write_temp(const std::string& name, const std::string& text) {
  std::string path = ::testing::TempDir() + "bloom_tokenizer_test_" + name;
  std::ofstream(path, std::ios::binary) << text;
  return path;
}

// The error message of loading `path`, "" if it loaded.
std::string load_error(const std::string& path) {
  try {
    Tokenizer::from_file(path);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

void expect_load_error(const std::string& name, const std::string& text, const std::string& key) {
  std::string path = write_temp(name, text);
  std::string what = load_error(path);
  EXPECT_NE(what.find(path), std::string::npos) << name << ": " << what;
  EXPECT_NE(what.find(key), std::string::npos) << name << ": " << what;
  std::remove(path.c_str());
}

TEST(TokenizerErrors, MissingFile) {
  std::string what = load_error("/nonexistent/dir/tokenizer.json");
  EXPECT_NE(what.find("/nonexistent/dir/tokenizer.json"), std::string::npos) << what;
  EXPECT_NE(what.find("cannot open"), std::string::npos) << what;
}

TEST(TokenizerErrors, BadFilesNameFileAndKey) {
  expect_load_error("not_json", "{\"model\": [1, 2", "not valid JSON");
  expect_load_error("no_model", tiny_json_with([](json& j) { j.erase("model"); }), "model");
  expect_load_error("wordpiece", tiny_json_with([](json& j) { j["model"]["type"] = "WordPiece"; }),
                    "model.type");
  expect_load_error("merge_unknown", tiny_json_with([](json& j) {
    j["model"]["merges"][5] = json::array({"\xC4\xA0", "qqq"});
  }), "model.merges[5]");
  expect_load_error("legacy_unknown", tiny_json_with([](json& j) {
    j["model"]["merges"] = json::array({"h e", "zz top"});
  }), "model.merges[1]");
  expect_load_error("merged_unknown", tiny_json_with([](json& j) {
    j["model"]["merges"][0] = json::array({"<s>", "<s>"});
  }), "model.merges[0]");
  expect_load_error("vocab_id", tiny_json_with([](json& j) { j["model"]["vocab"]["a"] = 3000; }),
                    "model.vocab[\"a\"]");
  expect_load_error("pretok", tiny_json_with([](json& j) {
    j["pre_tokenizer"] = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", true}};
  }), "pre_tokenizer");
  expect_load_error("normalizer", tiny_json_with([](json& j) { j["normalizer"] = {{"type", "NFC"}}; }),
                    "normalizer");
  expect_load_error("added_id", tiny_json_with([](json& j) {
    j["added_tokens"].push_back({{"id", 5000}, {"content", "<x>"}, {"special", true}});
  }), "added_tokens[4].id");
  expect_load_error("dropout", tiny_json_with([](json& j) { j["model"]["dropout"] = 0.1; }),
                    "model.dropout");
}

}  // namespace
}  // namespace bloom::io

// LAMBADA reader: FasterTransformer's split, errors that name the file and line, and a dataset
// that can be read only once (a pipe, /dev/stdin), read twice by a run.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "core/check.h"
#include "io/dataset.h"

namespace bloom::io {
namespace {

std::string write_temp(const std::string& text) {
  char path[] = "/tmp/bloom_dataset_XXXXXX";
  const int fd = mkstemp(path);
  EXPECT_GE(fd, 0);
  ::close(fd);
  std::ofstream(path, std::ios::binary) << text;
  return path;
}

std::string error_of(const std::string& text) {
  const std::string p = write_temp(text);
  try {
    read_lambada(p);
  } catch (const Error& e) {
    std::remove(p.c_str());
    return e.what();
  }
  std::remove(p.c_str());
  return "";
}

TEST(Dataset, SplitsAtTheLastSpace) {
  const Example e = split_passage("he said the word  again\n", "x");
  EXPECT_EQ(e.context, "he said the word ");
  EXPECT_EQ(e.target, " again");
}

TEST(Dataset, ReadsTheWholeLambadaTestSet) {
  const auto ex = read_lambada(std::string(BLOOM_SOURCE_DIR) + "/tests/data/lambada/lambada_test.jsonl");
  ASSERT_EQ(ex.size(), 5153u);
  EXPECT_EQ(ex[0].index, 0);
  EXPECT_EQ(ex[5152].line, 5153);
  for (const Example& e : ex) {
    ASSERT_GT(e.target.size(), 1u);
    ASSERT_EQ(e.target[0], ' ');
    ASSERT_EQ(e.target.find(' ', 1), std::string::npos);
  }
}

TEST(Dataset, LimitAndBlankLines) {
  const std::string p = write_temp("{\"text\": \"a b\"}\n\n{\"text\": \"c d e\"}\n{\"text\": \"f g\"}\n");
  const auto ex = read_lambada(p, 2);
  ASSERT_EQ(ex.size(), 2u);
  EXPECT_EQ(ex[1].index, 1);
  EXPECT_EQ(ex[1].line, 3);
  EXPECT_EQ(ex[1].target, " e");
  std::remove(p.c_str());
}

TEST(Dataset, BadLinesNameTheLine) {
  EXPECT_NE(error_of("{\"text\": \"a b\"}\n{\"text\": \"a b\"\n").find(":2: not a JSON line"), std::string::npos);
  EXPECT_NE(error_of("[1, 2]\n").find(":1: expected a JSON object"), std::string::npos);
  EXPECT_NE(error_of("{\"txt\": \"a b\"}\n").find(":1: the object has no string field \"text\""), std::string::npos);
  EXPECT_NE(error_of("{\"text\": \"a b\"}\n{\"text\": \"nospace\"}\n").find(":2: passage has no space"), std::string::npos);
  EXPECT_NE(error_of("{\"text\": \"ends with space \"}\n").find("last word is empty"), std::string::npos);
  EXPECT_NE(error_of("{\"text\": \" word\"}\n").find("no context"), std::string::npos);
  EXPECT_NE(error_of("").find("holds no passages"), std::string::npos);
  try {
    read_lambada("/nonexistent/lambada.jsonl");
    FAIL() << "no error for a missing file";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/lambada.jsonl"), std::string::npos);
  }
}

TEST(Dataset, TwoTextFieldsAreRefused) {
  // nlohmann keeps only the last of two equal keys: the passage would be chosen silently.
  EXPECT_NE(error_of("{\"text\": \"a b\"}\n{\"text\": \"c d\", \"text\": \"e f\"}\n")
                .find(":2: the object has 2 \"text\" fields"), std::string::npos);
  // A "text" inside another field is not the passage's.
  const std::string p = write_temp("{\"meta\": {\"text\": 1}, \"text\": \"g h\"}\n");
  EXPECT_EQ(read_lambada(p).at(0).target, " h");
  std::remove(p.c_str());
}

TEST(Dataset, APipeIsReadOnceAndKept) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  const std::string text = "{\"text\": \"a b\"}\n{\"text\": \"c d e\"}\n";
  ASSERT_EQ(write(fds[1], text.data(), text.size()), static_cast<ssize_t>(text.size()));
  ::close(fds[1]);
  const std::string path = "/dev/fd/" + std::to_string(fds[0]);
  EXPECT_FALSE(is_regular_file(path));
  const auto first = read_lambada(path, 1);  // preflight counts
  const auto second = read_lambada(path);    // the run reads them all
  ASSERT_EQ(first.size(), 1u);
  ASSERT_EQ(second.size(), 2u);
  EXPECT_EQ(second[1].target, " e");
  ::close(fds[0]);
  EXPECT_NE(error_of("").find("holds no passages"), std::string::npos);
  EXPECT_TRUE(is_regular_file(std::string(BLOOM_SOURCE_DIR) + "/tests/data/lambada/lambada_test.jsonl"));
  try {
    read_lambada("/tmp");
    FAIL() << "a directory was read as a dataset";
  } catch (const Error& e) {
    EXPECT_NE(e.message().find("'/tmp': it is a directory"), std::string::npos) << e.message();
  }
}

}  // namespace
}  // namespace bloom::io

// LAMBADA JSON-lines reader (see dataset.h for the split rule).
#include "io/dataset.h"

#include <fstream>

#include <nlohmann/json.hpp>

#include "core/check.h"

namespace bloom::io {

Example split_passage(const std::string& raw, const std::string& where) {
  std::string text = raw;
  while (!text.empty() && text.back() == '\n') text.pop_back();  // rstrip("\n")
  const size_t space = text.rfind(' ');
  BLOOM_CHECK(space != std::string::npos,
              "{}: passage has no space to split a last word off: \"{}\"", where,
              text.substr(0, 80));
  Example e;
  e.context = text.substr(0, space);
  e.target = text.substr(space);  // keeps the leading space: " " + word
  BLOOM_CHECK(!e.context.empty(), "{}: passage has no context before its last word", where);
  BLOOM_CHECK(e.target.size() > 1, "{}: passage ends with a space, so its last word is empty",
              where);
  return e;
}

std::vector<Example> read_lambada(const std::string& path, int64_t limit) {
  std::ifstream in(path, std::ios::binary);
  BLOOM_CHECK(in.good(), "cannot open dataset '{}'", path);
  std::vector<Example> out;
  std::string line;
  int64_t lineno = 0;
  while ((limit < 0 || static_cast<int64_t>(out.size()) < limit) && std::getline(in, line)) {
    ++lineno;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    const std::string where = path + ":" + std::to_string(lineno);
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(line);
    } catch (const std::exception& e) {
      BLOOM_FAIL("{}: not a JSON line ({})", where, e.what());
    }
    BLOOM_CHECK(j.is_object(), "{}: expected a JSON object with a \"text\" field", where);
    BLOOM_CHECK(j.contains("text") && j["text"].is_string(),
                "{}: the object has no string field \"text\"", where);
    Example e = split_passage(j["text"].get<std::string>(), where);
    e.index = static_cast<int64_t>(out.size());
    e.line = lineno;
    out.push_back(std::move(e));
  }
  BLOOM_CHECK(!out.empty(), "dataset '{}' holds no passages", path);
  return out;
}

}  // namespace bloom::io

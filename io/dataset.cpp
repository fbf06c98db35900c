// LAMBADA JSON-lines reader (see dataset.h for the split rule).
#include "io/dataset.h"

#include <sys/stat.h>

#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>

#include <nlohmann/json.hpp>

#include "core/check.h"

namespace bloom::io {

namespace {

// A dataset that is not a regular file (/dev/stdin, a pipe, a process substitution) can be read
// only once, but a run reads its dataset twice (the preflight count, then the passages): the
// first read keeps the bytes for the later ones.
std::shared_ptr<const std::string> read_once(const std::string& path) {
  static std::mutex mutex;
  static std::map<std::string, std::shared_ptr<const std::string>> kept;
  const std::lock_guard<std::mutex> lock(mutex);
  auto it = kept.find(path);
  if (it != kept.end()) return it->second;
  std::ifstream in(path, std::ios::binary);
  BLOOM_CHECK(in.good(), "cannot open dataset '{}'", path);
  std::ostringstream text;
  text << in.rdbuf();
  auto bytes = std::make_shared<const std::string>(text.str());
  kept[path] = bytes;
  return bytes;
}

// Parses one line; counts the top-level "text" keys (nlohmann keeps only the last of two).
nlohmann::json parse_line(const std::string& line, const std::string& where) {
  int n_text = 0;
  const nlohmann::json::parser_callback_t count_text =
      [&n_text](int depth, nlohmann::json::parse_event_t event, nlohmann::json& parsed) {
        if (event == nlohmann::json::parse_event_t::key && depth == 1 && parsed == "text") ++n_text;
        return true;
      };
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(line, count_text);
  } catch (const std::exception& e) {
    BLOOM_FAIL("{}: not a JSON line ({})", where, e.what());
  }
  BLOOM_CHECK(n_text <= 1, "{}: the object has {} \"text\" fields: which passage is meant? Keep "
              "one", where, n_text);
  return j;
}

}  // namespace

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

bool is_regular_file(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

std::vector<Example> read_lambada(const std::string& path, int64_t limit) {
  std::unique_ptr<std::istream> in;
  std::shared_ptr<const std::string> kept;
  struct stat st {};
  BLOOM_CHECK(::stat(path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode),
              "cannot open dataset '{}': it is a directory", path);
  if (is_regular_file(path)) {
    in = std::make_unique<std::ifstream>(path, std::ios::binary);
  } else {
    kept = read_once(path);
    in = std::make_unique<std::istringstream>(*kept);
  }
  BLOOM_CHECK(in->good(), "cannot open dataset '{}'", path);
  std::vector<Example> out;
  std::string line;
  int64_t lineno = 0;
  while ((limit < 0 || static_cast<int64_t>(out.size()) < limit) && std::getline(*in, line)) {
    ++lineno;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    const std::string where = path + ":" + std::to_string(lineno);
    const nlohmann::json j = parse_line(line, where);
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

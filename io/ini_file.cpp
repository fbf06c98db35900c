// INI reader (see ini_file.h).
#include "io/ini_file.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "core/check.h"

namespace bloom::io {

namespace {

std::string strip(const std::string& s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return s.substr(b, e - b);
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

IniFile IniFile::read(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  BLOOM_CHECK(in.good(), "{}: cannot open: {}", path, std::strerror(errno));
  std::stringstream ss;
  ss << in.rdbuf();
  return parse(ss.str(), path);
}

IniFile IniFile::parse(const std::string& text, const std::string& origin) {
  IniFile f;
  f.origin_ = origin;
  std::istringstream in(text);
  std::string raw, section;
  bool in_section = false;
  for (int n = 1; std::getline(in, raw); ++n) {
    const std::string line = strip(raw);
    if (line.empty() || line[0] == '#' || line[0] == ';') continue;
    if (line[0] == '[') {
      BLOOM_CHECK(line.back() == ']', "{}:{}: section header '{}' has no closing ']'", origin, n,
                  line);
      section = strip(line.substr(1, line.size() - 2));
      BLOOM_CHECK(f.sections_.emplace(section, std::map<std::string, Entry>{}).second,
                  "{}:{}: section [{}] appears twice", origin, n, section);
      in_section = true;
      continue;
    }
    BLOOM_CHECK(in_section, "{}:{}: '{}' comes before any [section] header", origin, n, line);
    const size_t sep = line.find_first_of("=:");
    BLOOM_CHECK(sep != std::string::npos && sep > 0,
                "{}:{}: expected 'key = value', got '{}'", origin, n, line);
    const std::string key = lower(strip(line.substr(0, sep)));
    BLOOM_CHECK(!key.empty(), "{}:{}: a line with no key", origin, n);
    auto [it, fresh] = f.sections_[section].emplace(key, Entry{strip(line.substr(sep + 1)), n});
    BLOOM_CHECK(fresh, "{}:{}: key '{}' of [{}] is given twice (first at line {})", origin, n,
                key, section, it->second.line);
  }
  return f;
}

bool IniFile::has_section(const std::string& section) const {
  return sections_.count(section) > 0;
}

const std::string* IniFile::find(const std::string& section, const std::string& key) const {
  auto s = sections_.find(section);
  if (s == sections_.end()) return nullptr;
  auto k = s->second.find(lower(key));
  return k == s->second.end() ? nullptr : &k->second.value;
}

const std::string& IniFile::get(const std::string& section, const std::string& key) const {
  BLOOM_CHECK(has_section(section), "{}: no [{}] section", origin_, section);
  const std::string* v = find(section, key);
  BLOOM_CHECK(v != nullptr, "{}: [{}] has no key '{}'", origin_, section, key);
  return *v;
}

std::string IniFile::where(const std::string& section, const std::string& key) const {
  auto s = sections_.find(section);
  if (s != sections_.end()) {
    auto k = s->second.find(lower(key));
    if (k != s->second.end()) return fmt::format("{}:{}", origin_, k->second.line);
  }
  return origin_;
}

int64_t IniFile::get_int(const std::string& section, const std::string& key) const {
  const std::string& v = get(section, key);
  errno = 0;
  char* end = nullptr;
  const long long x = std::strtoll(v.c_str(), &end, 10);
  BLOOM_CHECK(!v.empty() && end == v.c_str() + v.size() && errno == 0,
              "{}: [{}] {} must be an integer, got '{}'", where(section, key), section, key, v);
  return x;
}

double IniFile::get_double(const std::string& section, const std::string& key) const {
  const std::string& v = get(section, key);
  errno = 0;
  char* end = nullptr;
  const double x = std::strtod(v.c_str(), &end);
  BLOOM_CHECK(!v.empty() && end == v.c_str() + v.size() && errno == 0,
              "{}: [{}] {} must be a number, got '{}'", where(section, key), section, key, v);
  return x;
}

}  // namespace bloom::io

// IniFile: the INI dialect Python's configparser writes, which is how FasterTransformer's
// converters write `config.ini` ([section] headers, `key=value` or `key: value` lines, `#` and
// `;` comment lines, keys case-insensitive, values stripped, empty values allowed). Continuation
// lines and interpolation are not read; a duplicate section or key is an error, as in
// configparser's strict mode. Our own few lines: the GPU machine's image has no libinih (see
// zip_archive.h for the same reason).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace bloom::io {

class IniFile {
 public:
  /// Reads `path`; errors name the file and the line.
  static IniFile read(const std::string& path);
  /// Parses `text`; `origin` names it in messages.
  static IniFile parse(const std::string& text, const std::string& origin);

  const std::string& origin() const { return origin_; }
  bool has_section(const std::string& section) const;
  /// nullptr when the section or the key is absent (keys compare case-insensitively).
  const std::string* find(const std::string& section, const std::string& key) const;
  /// Throws "FILE: [section] has no key 'key'" when absent.
  const std::string& get(const std::string& section, const std::string& key) const;
  /// The value as an integer / a number; a malformed value is an error naming file and line.
  int64_t get_int(const std::string& section, const std::string& key) const;
  double get_double(const std::string& section, const std::string& key) const;
  /// "FILE:LINE" of a key, for messages about its value.
  std::string where(const std::string& section, const std::string& key) const;

 private:
  struct Entry {
    std::string value;
    int line = 0;
  };
  std::string origin_;
  std::map<std::string, std::map<std::string, Entry>> sections_;
};

}  // namespace bloom::io

// LAMBADA as JSON lines ({"text": ...}), split exactly as FasterTransformer's bloom_lambada.py:
//   context, word = text.rstrip("\n").rsplit(" ", 1);  target = " " + word
// Context and target are tokenized separately with no special tokens (see runner/driver).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace bloom::io {

struct Example {
  int64_t index = 0;  // position in the dataset (0-based, blank lines not counted)
  int64_t line = 0;   // 1-based line number in the file, for messages
  std::string context;
  std::string target;  // " " + last word
};

/// Splits one passage; throws with `where` (e.g. "file.jsonl:12") in the message when the
/// text has no space to split at or the last word is empty.
Example split_passage(const std::string& text, const std::string& where);

/// Reads at most `limit` passages (limit < 0: all). Errors name the file and line: not JSON,
/// not an object, no string "text" (or two), nothing to split. Blank lines are skipped.
/// A path that is not a regular file (/dev/stdin, a pipe) is read once per process; later
/// calls for it get the same passages.
std::vector<Example> read_lambada(const std::string& path, int64_t limit = -1);

/// `path` names a regular file (not a pipe, FIFO, device or folder; false when it does not exist).
bool is_regular_file(const std::string& path);

}  // namespace bloom::io

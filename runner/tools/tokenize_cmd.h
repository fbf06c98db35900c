// `runner tokenize --tokenizer FILE`: tokenizes lines of text with io::Tokenizer (the differential
// test against HF tokenizers, tests/io/tokenizer_diff.py, drives it).
#pragma once

#include <iosfwd>
#include <string>

#include "runner/command.h"

namespace bloom {

/// Registers `tokenize --tokenizer FILE` (stdin to stdout; needs no MPI).
Command add_tokenize_command(CLI::App& app);

/// Reads `in` line by line. A line that parses as a JSON object with a string "text" is that text;
/// any other line is taken raw (without its trailing "\n"). Writes one JSON array of token ids per
/// line to `out`. Returns 0; throws bloom::Error on a bad tokenizer file, on a JSON object whose
/// "text" is not a string, or on a stream error.
int tokenize_main(const std::string& tokenizer_path, std::istream& in, std::ostream& out);

}  // namespace bloom

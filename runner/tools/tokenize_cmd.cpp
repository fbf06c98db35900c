// `runner tokenize`: one JSON array of token ids per input line (see tokenize_cmd.h).
#include "runner/tools/tokenize_cmd.h"

#include <iostream>
#include <memory>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "core/check.h"
#include "io/tokenizer.h"

namespace bloom {

Command add_tokenize_command(CLI::App& app) {
  auto tokenizer_path = std::make_shared<std::string>();
  CLI::App* cli = app.add_subcommand("tokenize", "Read lines of text on stdin (a line holding a "
                                                 "JSON object with a \"text\" field is taken as "
                                                 "that text) and print one JSON array of token "
                                                 "ids per line.");
  cli->add_option("--tokenizer", *tokenizer_path, "HF tokenizer.json")->required();
  return {cli, /*needs_mpi=*/false, [tokenizer_path](const CommandContext&) {
            return tokenize_main(*tokenizer_path, std::cin, std::cout);
          }};
}

int tokenize_main(const std::string& tokenizer_path, std::istream& in, std::ostream& out) {
  const io::Tokenizer tokenizer = io::Tokenizer::from_file(tokenizer_path);
  std::string line, text_buf, row;
  for (std::size_t line_no = 1; std::getline(in, line); ++line_no) {
    std::string_view text = line;
    if (!line.empty() && line[0] == '{') {
      // parse(..., allow_exceptions=false): a line that is not JSON is simply raw text.
      nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
      if (j.is_object() && j.contains("text")) {
        BLOOM_CHECK(j["text"].is_string(), "tokenize: input line {}: \"text\" is not a string: {}",
                    line_no, j["text"].dump());
        text_buf = j["text"].get<std::string>();
        text = text_buf;
      }
    }
    row.clear();
    row += '[';
    for (int32_t id : tokenizer.encode(text)) {
      if (row.size() > 1) row += ',';
      row += std::to_string(id);
    }
    row += "]\n";
    out << row;
    BLOOM_CHECK(out.good(), "tokenize: cannot write the output (line {})", line_no);
  }
  BLOOM_CHECK(!in.bad(), "tokenize: error reading the input");
  out.flush();
  return 0;
}

}  // namespace bloom

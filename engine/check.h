// Error handling for every library of the project: checks throw bloom::Error, which carries the
// failed expression, file:line, the message and (once known) this process's rank and hostname.
// Only runner/main.cpp catches: it logs, flushes and aborts the MPI job (never exit() in a library).
#pragma once

#include <stdexcept>
#include <string>

#include <fmt/format.h>

namespace bloom {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

/// "rank 3 on node17" once set_error_origin() was called by the runner; empty before.
const std::string& error_origin();
void set_error_origin(int world_rank, const std::string& hostname);

[[noreturn]] void throw_error(const char* file, int line, const char* expr, const std::string& msg);

}  // namespace bloom

/// BLOOM_CHECK(cond, "fmt {}", args...): throw bloom::Error with the formatted message when !cond.
#define BLOOM_CHECK(cond, ...)                                                        \
  do {                                                                                \
    if (!(cond)) ::bloom::throw_error(__FILE__, __LINE__, #cond, fmt::format(__VA_ARGS__)); \
  } while (0)

/// BLOOM_FAIL("fmt {}", args...): unconditional error.
#define BLOOM_FAIL(...) ::bloom::throw_error(__FILE__, __LINE__, nullptr, fmt::format(__VA_ARGS__))

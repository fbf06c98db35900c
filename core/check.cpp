// bloom::Error and the origin (rank, host) every error carries; see check.h.
#include "core/check.h"

namespace bloom {

namespace {
std::string& origin_storage() {
  static std::string origin;
  return origin;
}
}  // namespace

const std::string& error_origin() { return origin_storage(); }

void set_error_origin(int world_rank, const std::string& hostname) {
  origin_storage() = fmt::format("rank {} on {}", world_rank, hostname);
}

void throw_error(const char* file, int line, const char* expr, const std::string& msg) {
  // Messages are for users first: the message, then where the check sits for developers.
  std::string where = fmt::format("{}:{}", file, line);
  if (expr) where += fmt::format(", check `{}`", expr);
  if (!error_origin().empty()) where += ", " + error_origin();
  throw Error(msg, where, error_origin());
}

std::string error_message(const std::exception& e) {
  if (const auto* b = dynamic_cast<const Error*>(&e)) return b->message();
  return e.what();
}

}  // namespace bloom

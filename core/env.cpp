// Knobs read from the environment (see env.h).
#include "core/env.h"

#include <cstdlib>

#include "core/check.h"

namespace bloom {

double env_seconds(std::initializer_list<const char*> names, double fallback) {
  for (const char* name : names) {
    const char* v = std::getenv(name);
    if (v == nullptr || *v == '\0') continue;
    char* end = nullptr;
    const double s = std::strtod(v, &end);
    BLOOM_CHECK(end != v && *end == '\0' && s > 0.0 && s < 1e9,
                "{}='{}' is not a positive number of seconds", name, v);
    return s;
  }
  return fallback;
}

}  // namespace bloom

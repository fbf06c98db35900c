// Knobs read from the environment: a duration in seconds, under one name or older ones.
#pragma once

#include <initializer_list>

namespace bloom {

/// The first of `names` that is set and non-empty, as seconds (> 0); `fallback` when none is.
/// Throws bloom::Error "NAME='VALUE' is not a positive number of seconds" for any other value.
double env_seconds(std::initializer_list<const char*> names, double fallback);

}  // namespace bloom

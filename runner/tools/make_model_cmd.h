// `runner make-model`: the command line of make_model (runner/tools/make_model.h): a preset
// shape, overrides, dtype, output folder, shard size and writer threads.
#pragma once

#include "runner/command.h"

namespace bloom {

/// Registers `make-model --like NAME --out DIR ...` (needs no MPI).
Command add_make_model_command(CLI::App& app);

}  // namespace bloom

// `runner inspect MODEL_PATH`: what a model folder holds, without loading any weight: the format
// (safetensors, PyTorch .bin, FasterTransformer), its files, the stored dtypes, the config, the
// parameter count and bytes, the tensor-parallel sizes it can run with, warnings (tensors the
// config does not account for) and every problem that would stop a run (a missing tensor, a
// shape the config does not give). Registers itself on the command line (add_inspect_command).
#pragma once

#include <iosfwd>
#include <string>

#include "runner/command.h"

namespace bloom {

struct InspectOptions {
  std::string path;
  std::string format = "auto";  // auto | safetensors | bin | ft
  bool all_files = false;       // list every file (default: the first few)
};

/// Registers `runner inspect MODEL_PATH` (runner/command.h).
Command add_inspect_command(CLI::App& app);

/// Prints the report to `out`. Returns 0 when the model would load, 1 when a problem would stop
/// a run; throws bloom::Error when the folder cannot be opened at all (naming the file).
int inspect_main(const InspectOptions& o, std::ostream& out);

}  // namespace bloom

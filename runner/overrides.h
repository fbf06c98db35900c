// The command-line overrides of `runner run` and `runner validate`: `--set KEY=VALUE`
// (repeatable, any job key), `--limit N` (dataset.limit), `--output PATH` (output.path),
// `--overwrite` and `--resume` (output.overwrite / output.resume; each turns the other off, so
// the command line wins over the file). They become job_spec Overrides, applied in that order
// (the named options after every --set), validated as the YAML's values are and recorded in the
// results file (run attribute `overrides`).
#pragma once

#include <string>
#include <vector>

#include "runner/job_spec.h"

namespace CLI {
class App;
}

namespace bloom {

struct OverrideOptions {
  std::vector<std::string> set;  ///< KEY=VALUE, in the order given
  std::string limit;             ///< text, so that the job file's validation judges it
  std::string output;
  bool overwrite = false, resume = false;
};

/// Registers --set, --limit, --output, --overwrite and --resume on `cli`, filling `options`.
void add_override_options(CLI::App& cli, OverrideOptions& options);

/// The overrides the options ask for; throws for a --set without KEY=.
std::vector<Override> overrides_of(const OverrideOptions& options);

}  // namespace bloom

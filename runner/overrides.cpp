// Command-line overrides of a job (see overrides.h).
#include "runner/overrides.h"

#include <CLI/CLI.hpp>

namespace bloom {

void add_override_options(CLI::App& cli, OverrideOptions& o) {
  cli.add_option("--set", o.set, "override a job key: --set KEY=VALUE (repeatable; dotted keys "
                                 "as in jobs/README.md, e.g. --set model.dtype=bf16; a swept key "
                                 "is fixed to that value)")
      ->allow_extra_args(false);
  cli.add_option("--limit", o.limit, "evaluate the first N passages (dataset.limit; 0: all)");
  cli.add_option("--output", o.output, "results file (output.path)");
  auto* overwrite = cli.add_flag("--overwrite", o.overwrite,
                                 "replace an existing results file (output.overwrite)");
  cli.add_flag("--resume", o.resume, "continue an existing results file, skipping finished "
                                     "runs and rows (output.resume)")
      ->excludes(overwrite);
}

std::vector<Override> overrides_of(const OverrideOptions& o) {
  std::vector<Override> out;
  for (const std::string& s : o.set) out.push_back(parse_set_option(s));
  if (!o.limit.empty()) out.push_back({"dataset.limit", o.limit, "--limit " + o.limit});
  if (!o.output.empty()) out.push_back({"output.path", o.output, "--output " + o.output});
  if (o.overwrite) {
    out.push_back({"output.overwrite", "true", "--overwrite"});
    out.push_back({"output.resume", "false", "--overwrite"});
  }
  if (o.resume) {
    out.push_back({"output.resume", "true", "--resume"});
    out.push_back({"output.overwrite", "false", "--resume"});
  }
  return out;
}

}  // namespace bloom

// JobSpec: a YAML job file -> plain structs, validated with the key path in every message.
// A spec may carry `sweep:` (dotted key -> list of values); expand_runs() turns it into the
// cartesian product of RunSpecs, each a fully resolved, validated configuration.
// `${VAR}` and `${VAR:-default}` in string values are replaced from the environment.
// Command-line overrides (`runner run JOB.yaml --set batch.size=8 --limit 100`) replace or add
// keys before the runs are made, with the same validation and messages as the file; an override
// of a swept key fixes it (the sweep loses that axis).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace bloom {

struct RunSpec {
  std::string name;  // run group name in the results file
  std::vector<std::pair<std::string, std::string>> sweep_values;  // this point of the sweep
  struct {
    std::string path;
    std::string dtype = "fp32";    // fp32 | fp16 | bf16
    std::string backend = "cpu";   // cpu | cuda
    std::string tokenizer;         // default: <path>/tokenizer.json
    std::string format = "auto";   // auto | safetensors | bin | ft
  } model;
  struct {
    std::string path;
    int64_t limit = 0;       // 0: all passages
    int64_t max_tokens = 0;  // longer passages lose the start of their context (0: no cut)
  } dataset;
  struct {
    int64_t size = 16;        // sequences per batch (cap)
    int64_t max_tokens = 0;   // tokens per batch (0: derived: CPU 4096, CUDA from free memory)
  } batch;
  struct {
    int64_t tp = 1;
    int64_t dp = 0;  // 0: world size / tp
  } parallelism;
  struct {
    std::string path;
    bool resume = false;
    bool overwrite = false;
  } output;
  std::string method = "teacher_forced";  // the only method so far
  int64_t load_threads = 0;  // 0: auto (this node's cores over its ranks, at most 16)
  std::string yaml;  // resolved_spec(*this): stored in the results file as the run's `spec`
};

/// One command-line override of a job key.
struct Override {
  std::string key;     ///< dotted job key, e.g. batch.size
  std::string value;   ///< as it would be written in the YAML file
  std::string origin;  ///< the option as given ("--set batch.size=8", "--limit 100"): starts messages
};

struct JobSpec {
  std::string name;
  std::string source_path;
  std::string source_text;
  std::vector<RunSpec> runs;  // one per sweep point (one when there is no sweep)
  std::string overrides;      // the overrides applied, as given ("--set batch.size=8 --limit 100")
};

/// Parses and validates a job file; every error names the file, the key path and the line (or the
/// override that gave the value).
JobSpec load_job_spec(const std::string& path, const std::vector<Override>& overrides = {});
/// Why `path` cannot be a job file (missing, a directory, a FIFO or other non-regular file,
/// unreadable), or "" when it can. Never blocks (a FIFO is not opened). Also a CLI11 check.
std::string job_file_problem(const std::string& path);
/// Same, from text (`origin` names it in messages).
JobSpec parse_job_spec(const std::string& text, const std::string& origin,
                       const std::vector<Override>& overrides = {});
/// `KEY=VALUE` of a `--set` option -> Override; throws naming the option when there is no '=' or
/// no key.
Override parse_set_option(const std::string& text);
/// A run's spec as a YAML job file with every key, defaults filled in and paths absolute:
/// evaluating it alone repeats the run (output.* says how that attempt opened the file).
std::string resolved_spec(const RunSpec& run);
/// `path` made absolute against the current folder and normalised (symlinks kept); "" stays "".
std::string absolute_path(const std::string& path);
/// The keys a job file may hold (dotted), for help texts and suggestions.
const std::vector<std::string>& job_spec_keys();

}  // namespace bloom

// `runner validate` (see validate_cmd.h): preflight, then the runs as lines or as JSON.
#include "runner/tools/validate_cmd.h"

#include <cstdlib>
#include <iostream>
#include <memory>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "runner/job_spec.h"
#include "runner/overrides.h"
#include "runner/preflight.h"
#include "runner/select_runs.h"
#include "runner/topology.h"

namespace bloom {

namespace {

using nlohmann::ordered_json;

// The job as validate reports it: every run of the file, the ones BLOOM_RUNS keeps, and what
// preflight found out about those.
struct Validated {
  JobSpec job;                  // after BLOOM_RUNS
  size_t n_job_runs = 0;        // before BLOOM_RUNS
  std::vector<size_t> index;    // each kept run's position in the whole job
  std::string selector;         // $BLOOM_RUNS
  Inspection found;             // preflight's findings, one RunCheck per kept run
};

bool ready(const Validated& v) { return v.found.missing.empty() && v.found.not_here.empty(); }

void print_lines(const ValidateOptions& o, const Validated& v, std::ostream& out) {
  const std::string selected =
      v.selector.empty() ? "" : fmt::format(" (BLOOM_RUNS={}: of {})", v.selector, v.n_job_runs);
  const std::string& folder = v.found.output_folder_to_create;
  out << fmt::format("{}: {} run(s){} -> {}{}\n", o.job_path, v.job.runs.size(), selected,
                     v.job.runs[0].output.path,
                     folder.empty() ? "" : fmt::format(" (run creates the folder {})", folder));
  for (size_t i = 0; i < v.job.runs.size(); ++i) {
    const RunSpec& r = v.job.runs[i];
    const RunCheck& c = v.found.runs[i];
    const std::string model =
        c.config.n_layer > 0 ? fmt::format("({}, {} layers, hidden {}, {} heads)",
                                           model_format_name(c.format), c.config.n_layer,
                                           c.config.hidden, c.config.n_head)
                             : "(not there yet)";
    out << fmt::format("  {}: model {} {} {} on {}, tp {} x dp {} ({} ranks), batch {} "
                       "sequences / {} tokens, dataset {}{}\n",
                       r.name, r.model.path, model, r.model.dtype, r.model.backend, c.tp, c.dp,
                       c.world, r.batch.size,
                       r.batch.max_tokens ? std::to_string(r.batch.max_tokens) : "auto",
                       r.dataset.path,
                       r.dataset.limit ? fmt::format(" (first {})", r.dataset.limit) : "");
  }
  if (ready(v)) out << "ok\n";
}

// What keeps a valid job from running here, for stderr.
void print_not_ready(const ValidateOptions& o, const Validated& v, std::ostream& err) {
  const size_t n_runs = v.job.runs.size();
  if (!v.found.missing.empty()) {
    err << fmt::format("{}: the job is valid, but {} input(s) are not there yet:\n", o.job_path,
                       v.found.missing.size());
    for (const MissingInput& m : v.found.missing) {
      const std::string runs = m.runs.size() == n_runs
                                   ? (n_runs == 1 ? "" : fmt::format(" (all {} runs)", n_runs))
                                   : fmt::format(" (runs {})", fmt::join(m.runs, "; "));
      err << fmt::format("  {} '{}'{} does not exist: {}\n", m.key, m.path, runs, m.how);
    }
  }
  if (!v.found.not_here.empty()) {
    err << fmt::format("{}: the job cannot run on this machine:\n", o.job_path);
    for (const std::string& why : v.found.not_here)
      err << fmt::format("  {} (validating for other machines? add --no-device-check)\n", why);
  }
}

ordered_json run_json(const RunSpec& r, const RunCheck& c, size_t index) {
  ordered_json sweep = ordered_json::object();
  for (const auto& [key, value] : r.sweep_values) sweep[key] = value;
  const bool known = c.config.n_layer > 0;  // config.json was read
  auto size = [&](int64_t x) { return known ? ordered_json(x) : ordered_json(nullptr); };
  return {{"index", index},
          {"name", r.name},
          {"sweep", sweep},
          {"method", r.method},
          {"model", {{"path", r.model.path}, {"format", model_format_name(c.format)},
                     {"tokenizer", r.model.tokenizer},
                     {"dtype", r.model.dtype}, {"backend", r.model.backend},
                     {"n_layer", size(c.config.n_layer)}, {"hidden", size(c.config.hidden)},
                     {"n_head", size(c.config.n_head)}, {"vocab", size(c.config.vocab)}}},
          {"layout", {{"world", c.world}, {"tp", c.tp}, {"dp", c.dp}}},
          {"batch", {{"size", r.batch.size}, {"max_tokens", r.batch.max_tokens}}},
          {"dataset", {{"path", r.dataset.path}, {"limit", r.dataset.limit},
                       {"max_tokens", r.dataset.max_tokens},
                       {"passages", c.n_passages > 0 ? ordered_json(c.n_passages)
                                                     : ordered_json(nullptr)}}}};
}

void print_json(const ValidateOptions& o, const Validated& v, std::ostream& out) {
  const RunSpec& first = v.job.runs[0];
  ordered_json doc = {{"runner_version", o.runner_version},
                      {"job", o.job_path},
                      {"name", v.job.name},
                      {"run_selector", v.selector},
                      {"n_job_runs", v.n_job_runs},
                      {"ready", ready(v)},
                      {"missing", ordered_json::array()},
                      {"not_here", v.found.not_here},
                      {"output", {{"path", first.output.path}, {"resume", first.output.resume},
                                  {"overwrite", first.output.overwrite},
                                  {"folder_to_create", v.found.output_folder_to_create}}},
                      {"runs", ordered_json::array()}};
  for (const MissingInput& m : v.found.missing)
    doc["missing"].push_back({{"key", m.key}, {"path", m.path}, {"how", m.how}, {"runs", m.runs}});
  for (size_t i = 0; i < v.job.runs.size(); ++i)
    doc["runs"].push_back(run_json(v.job.runs[i], v.found.runs[i], v.index[i]));
  out << doc.dump(2, ' ', false, ordered_json::error_handler_t::replace) << "\n";
}

}  // namespace

Command add_validate_command(CLI::App& app) {
  auto o = std::make_shared<ValidateOptions>();
  auto overrides = std::make_shared<OverrideOptions>();
  CLI::App* cli = app.add_subcommand("validate", "Expand and check a job file without running "
                                                 "it (BLOOM_RUNS applied); print the runs it "
                                                 "would make.");
  cli->add_option("job", o->job_path, "YAML job file")->required()->check(job_file_problem);
  cli->add_option("--world", o->world,
                  "number of MPI ranks to check the layout against (default: the ranks of this "
                  "launch under mpirun/srun, else tp x dp of each run)");
  cli->add_flag("--json", o->json, "print one JSON document (runs, names, layout, model, "
                                   "output, missing inputs) for scripts instead of lines");
  cli->add_flag("!--no-device-check", o->check_devices,
                "do not check this machine's GPUs (validating on a login node for GPU nodes)");
  add_override_options(*cli, *overrides);
  return {cli, /*needs_mpi=*/true, [o, overrides](const CommandContext& ctx) {
            ValidateOptions opt = *o;
            opt.overrides = overrides_of(*overrides);
            opt.runner_version = ctx.runner_version;
            if (opt.world <= 0 && ctx.mpi->world_size() > 1) opt.world = ctx.mpi->world_size();
            const bool root = ctx.mpi->world_rank() == 0;
            return validate_main(opt, root ? &std::cout : nullptr, root ? &std::cerr : nullptr);
          }};
}

int validate_main(const ValidateOptions& o, std::ostream* out, std::ostream* err) {
  Validated v;
  const JobSpec whole = load_job_spec(o.job_path, o.overrides);
  v.n_job_runs = whole.runs.size();
  const char* env = std::getenv("BLOOM_RUNS");
  v.selector = env ? env : "";
  if (v.selector.find_first_not_of(" \t") == std::string::npos) v.selector.clear();  // all runs
  v.job = select_runs(whole, v.selector);
  for (const RunSpec& r : v.job.runs) {
    size_t i = 0;
    while (i < whole.runs.size() && whole.runs[i].name != r.name) ++i;
    v.index.push_back(i);
  }
  v.found = inspect_job(v.job, o.world > 0 ? o.world : 0, o.check_devices);
  if (out != nullptr) {
    if (o.json) print_json(o, v, *out);
    else print_lines(o, v, *out);
    out->flush();
  }
  if (ready(v)) return kExitOk;
  if (err != nullptr) print_not_ready(o, v, *err);
  return kExitFailed;
}

}  // namespace bloom

// `runner report`: the run table (terminal, CSV, JSON) and the plots (see report_cmd.h).
// Reading the files and the derived numbers: report_data.cpp; passage listings:
// report_examples.cpp; drawing: report_plots.py, run with the report's JSON.
#include "runner/report/report_cmd.h"

#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "core/check.h"
#include "runner/report/report_data.h"

extern char** environ;

namespace bloom {
namespace {

using report::Report;
using report::RunSummary;

std::string seconds(double s) { return s < 100 ? fmt::format("{:.3f}", s) : fmt::format("{:.1f}", s); }
std::string perplexity(double p) { return p < 1000 ? fmt::format("{:.3f}", p) : fmt::format("{:.1f}", p); }
std::string batching(const io::RunAttributes& a) {
  return fmt::format("{} / {}", a.batch_size, a.max_tokens > 0 ? std::to_string(a.max_tokens) : "auto");
}

std::string accuracy_cell(const RunSummary& r) {
  if (r.complete) return fmt::format("{:.2f}% ({}/{})", 100.0 * r.accuracy, r.n_correct, r.n_rows);
  return fmt::format("{:.2f}% ({}/{} done)", 100.0 * r.accuracy, r.n_correct, r.n_done);
}
std::string interval_cell(const RunSummary& r) {
  return fmt::format("{:.2f}-{:.2f}%", 100.0 * r.stats.accuracy_ci95_low, 100.0 * r.stats.accuracy_ci95_high);
}
// Throughput is compared only for complete runs evaluated in one attempt.
std::string throughput_cell(const RunSummary& r, const std::string& value) {
  return !r.complete ? "-" : r.throughput_partial ? value + "*" : value;
}

std::string notes(const Report& rep, size_t i) {
  const RunSummary& r = rep.runs[i];
  std::string s;
  auto add = [&](const std::string& t) { s += (s.empty() ? "" : ", ") + t; };
  if (r.accuracy_flag) add("! accuracy");
  if (!r.complete) add(fmt::format("incomplete ({}/{} rows)", r.n_done, r.n_rows));
  if (static_cast<int>(i) == rep.baseline) add("baseline");
  if (r.throughput_partial && r.schema_version >= 2)
    add(fmt::format("resumed: * = last attempt only ({}/{} passages)", r.attrs.n_evaluated, r.n_rows));
  else if (r.attempts > 1)
    add(fmt::format("resumed ({} attempts){}", r.attempts, r.throughput_partial ? ": * = last attempt only" : ""));
  return s;
}

void print_table(const Report& rep, std::ostream& out) {
  for (const report::FileSummary& f : rep.files) {
    out << fmt::format("{}: schema {}, runner {}, created {}, {} run(s), {}\n", f.path, f.info.schema,
                       f.info.runner_version, f.info.created, f.n_runs,
                       f.info.complete ? "complete" : "INCOMPLETE (job unfinished, failed or running)");
  }
  struct Col {
    const char* title;
    bool right;
    std::vector<std::string> cells;
  };
  std::vector<Col> cols = {{"run", false, {}},        {"model", false, {}},      {"dtype", false, {}},
                           {"backend", false, {}},    {"tp x dp", false, {}},    {"batch / tokens", false, {}},
                           {"accuracy", true, {}},    {"stderr", true, {}},      {"95% CI", true, {}},
                           {"ppl/token", true, {}},   {"ppl/passage", true, {}}, {"passages/s", true, {}},
                           {"tokens/s", true, {}},    {"evaluate s", true, {}},  {"wall s", true, {}},
                           {"load s", true, {}},      {"peak mem", true, {}},    {"speed-up", true, {}},
                           {"notes", false, {}}};
  for (size_t i = 0; i < rep.runs.size(); ++i) {
    const RunSummary& r = rep.runs[i];
    const io::RunAttributes& a = r.attrs;
    const bool c = r.complete;
    const std::vector<std::string> cells = {
        r.label, r.model_short(), a.dtype, a.backend, fmt::format("{} x {}", a.tp, a.dp), batching(a),
        accuracy_cell(r), fmt::format("{:.2f}%", 100.0 * r.stats.accuracy_stderr), interval_cell(r),
        perplexity(r.stats.token_perplexity), perplexity(r.stats.passage_perplexity),
        throughput_cell(r, fmt::format("{:.1f}", a.passages_per_second)),
        throughput_cell(r, fmt::format("{:.0f}", a.tokens_per_second)),
        throughput_cell(r, seconds(a.evaluate_seconds)),
        c ? seconds(a.wall_seconds) : "-", c ? seconds(a.load_seconds) : "-",
        c ? report::human_bytes(a.peak_device_bytes) : "-",
        r.speedup ? fmt::format("{:.2f}x", *r.speedup) : "-", notes(rep, i)};
    for (size_t k = 0; k < cols.size(); ++k) cols[k].cells.push_back(cells[k]);
  }
  std::vector<size_t> width;
  for (const Col& c : cols) {
    size_t w = report::display_width(c.title);
    for (const std::string& s : c.cells) w = std::max(w, report::display_width(s));
    width.push_back(w);
  }
  auto line = [&](auto cell) {
    std::string s;
    for (size_t k = 0; k < cols.size(); ++k)
      s += (k ? "  " : "") + report::pad(cell(k), k + 1 == cols.size() ? 0 : width[k], cols[k].right);
    while (!s.empty() && s.back() == ' ') s.pop_back();
    out << s << "\n";
  };
  out << "\n";
  line([&](size_t k) { return std::string(cols[k].title); });
  for (size_t i = 0; i < rep.runs.size(); ++i) line([&](size_t k) { return cols[k].cells[i]; });
  out << "\n";

  // Footnotes: the statistics, what the speed-up is relative to, and the accuracy check.
  out << "stderr: sqrt(p(1-p)/(n-1)) (lm-eval's); 95% CI: Wilson score interval; ppl/token = "
         "exp(-sum logprob / target tokens), ppl/passage = exp(-mean logprob) (lm-eval's lambada "
         "perplexity)\n";
  for (const RunSummary& r : rep.runs) {
    if (r.throughput_partial)
      out << fmt::format("partial: run {} was resumed; passages/s, tokens/s and evaluate s (*) count only "
                         "its last attempt{} and are left out of speed-ups and plots\n", r.label,
                         r.schema_version >= 2 ? fmt::format(" ({} of {} passages)", r.attrs.n_evaluated, r.n_rows) : "");
  }
  if (rep.baseline >= 0) {
    const RunSummary& b = rep.runs[static_cast<size_t>(rep.baseline)];
    out << fmt::format("speed-up: passages/s relative to run {} ({:.1f} passages/s), {}\n", b.label,
                       b.attrs.passages_per_second,
                       rep.baseline_rule == "slowest" ? "the slowest (--baseline NAME picks another)"
                                                      : "chosen by --baseline");
  }
  bool any_group = false, any_flag = false;
  for (const RunSummary& r : rep.runs) any_group |= r.group_size > 1, any_flag |= r.accuracy_flag;
  for (const RunSummary& r : rep.runs) {
    if (!r.accuracy_flag) continue;
    out << report::wrap(
               fmt::format("! accuracy: run {} has {} of {} passages correct; the {} other run(s) of {} on "
                           "these passages have a median of {:g}: {:g} apart, more than the tolerance "
                           "of {} passages.", r.label, r.n_correct, r.n_rows, r.group_size - 1,
                           r.model_short(), r.others_median_correct,
                           std::abs(static_cast<double>(r.n_correct) - r.others_median_correct), r.tolerance),
               100, "  ")
        << "\n";
    if (r.reference_run >= 0) {
      const RunSummary& o = rep.runs[static_cast<size_t>(r.reference_run)];
      out << fmt::format("  the passages that changed: runner report {}{} --run '{}' --diff '{}'\n", r.file,
                         o.file == r.file ? "" : " " + o.file, r.label, o.label);
    }
  }
  if (any_flag) {
    out << "  " << report::wrap(std::string("Why: ") + (rep.tolerance_overridden ? "tolerance set by --tolerance"
                                                                                 : report::tolerance_rule()) + ".",
                                98, "  ")
        << "\n";
  } else if (any_group) {
    out << "accuracy: every complete run is within the tolerance of the other runs of its model ("
        << (rep.tolerance_overridden ? "--tolerance" : "max(3, 0.2% of the passages)") << ")\n";
  }
  for (const RunSummary& r : rep.runs) {
    if (!r.complete)
      out << fmt::format("incomplete: run {}: accuracy and perplexity over the {} rows done so far; "
                         "no throughput yet (resume the job with output.resume: true)\n", r.label, r.n_done);
  }
}

void print_csv(const Report& rep, std::ostream& out) {
  out << "file,run,model,dtype,backend,tp,dp,batch_size,max_tokens,n_examples,n_done,n_correct,"
         "accuracy,accuracy_stderr,accuracy_ci95_low,accuracy_ci95_high,token_perplexity,"
         "passage_perplexity,passages_per_second,tokens_per_second,evaluate_seconds,wall_seconds,"
         "load_seconds,tokenize_seconds,peak_device_bytes,speedup,forward_seconds,comm_seconds,"
         "idle_seconds,complete,baseline,accuracy_flag,accuracy_tolerance,n_evaluated,throughput_partial\n";
  using report::csv_field;
  for (size_t i = 0; i < rep.runs.size(); ++i) {
    const RunSummary& r = rep.runs[i];
    const io::RunAttributes& a = r.attrs;
    out << fmt::format("{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},", csv_field(r.file),
                       csv_field(r.name), csv_field(a.model), csv_field(a.dtype), csv_field(a.backend), a.tp,
                       a.dp, a.batch_size, a.max_tokens, r.n_rows, r.n_done, r.n_correct, r.accuracy,
                       r.stats.accuracy_stderr, r.stats.accuracy_ci95_low, r.stats.accuracy_ci95_high,
                       r.stats.token_perplexity, r.stats.passage_perplexity);
    out << fmt::format("{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}\n", a.passages_per_second, a.tokens_per_second,
                       a.evaluate_seconds, a.wall_seconds, a.load_seconds, a.tokenize_seconds,
                       a.peak_device_bytes, r.speedup ? fmt::format("{}", *r.speedup) : "",
                       r.forward_seconds, r.comm_seconds, r.idle_seconds, r.complete ? 1 : 0,
                       static_cast<int>(i) == rep.baseline ? 1 : 0, r.accuracy_flag ? 1 : 0, r.tolerance,
                       a.n_evaluated, r.throughput_partial ? 1 : 0);
  }
}

std::string find_plot_script(const ReportOptions& opt) {
  if (!opt.plot_script.empty()) return opt.plot_script;
  if (const char* env = std::getenv("BLOOM_REPORT_PLOTS"); env && *env) return env;
  std::vector<std::string> candidates;
  std::error_code ec;
  const std::filesystem::path exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) candidates.push_back((exe.parent_path() / "report_plots.py").string());  // installed beside
#ifdef BLOOM_REPORT_PLOTS_SCRIPT
  candidates.push_back(BLOOM_REPORT_PLOTS_SCRIPT);  // the source tree this runner was built from
#endif
  for (const std::string& c : candidates)
    if (std::filesystem::is_regular_file(c, ec)) return c;
  std::string tried;
  for (const std::string& c : candidates) tried += (tried.empty() ? "" : ", ") + c;
  BLOOM_FAIL("--plot: cannot find report_plots.py (tried {}); set BLOOM_REPORT_PLOTS to its path",
             tried.empty() ? "nothing" : tried);
}

// Writes DIR/report.json (the --json document) and runs `python3 report_plots.py` on it; the
// script's output goes to stderr so that --json / --csv on stdout stay clean.
void make_plots(const Report& rep, const ReportOptions& opt) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::create_directories(opt.plot_dir, ec);
  BLOOM_CHECK(fs::is_directory(opt.plot_dir), "--plot: cannot create folder '{}': {}", opt.plot_dir,
              ec ? ec.message() : "not a folder");
  const std::string data = (fs::path(opt.plot_dir) / "report.json").string();
  {
    std::ofstream f(data);
    f << report::report_json(rep).dump(1, ' ', false, nlohmann::ordered_json::error_handler_t::replace) << "\n";
    BLOOM_CHECK(f.good(), "--plot: cannot write '{}'", data);
  }
  const std::string script = find_plot_script(opt);
  std::string python = opt.python;
  if (python.empty()) python = std::getenv("BLOOM_PYTHON") && *std::getenv("BLOOM_PYTHON") ? std::getenv("BLOOM_PYTHON") : "python3";
  std::vector<std::string> args = {python, script, data, opt.plot_dir};
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, STDERR_FILENO, STDOUT_FILENO);
  std::fflush(nullptr);
  pid_t pid = 0;
  const int rc = posix_spawnp(&pid, python.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  BLOOM_CHECK(rc == 0, "--plot needs Python 3 with matplotlib: cannot run '{}': {} (set --python or "
              "BLOOM_PYTHON; Debian: apt install python3-matplotlib, or pip install matplotlib)",
              python, std::strerror(rc));
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  BLOOM_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0,
              "--plot: '{} {}' failed ({}); its message is above", python, script,
              WIFEXITED(status) ? fmt::format("exit status {}", WEXITSTATUS(status))
                                : fmt::format("signal {}", WTERMSIG(status)));
}

}  // namespace

int report_main(const ReportOptions& opt, std::ostream& out, std::ostream& err) {
  BLOOM_CHECK(opt.format == "table" || opt.format == "csv" || opt.format == "json",
              "report: unknown format '{}' (table, csv or json)", opt.format);
  const bool passages = opt.examples || opt.wrong || !opt.diff.empty();
  const bool lm_eval = opt.lm_eval || !opt.samples.empty();
  BLOOM_CHECK(!passages || !opt.run.empty(), "report: --examples, --wrong and --diff need --run NAME");
  BLOOM_CHECK(!(passages && lm_eval), "report: --lm-eval and --samples do not combine with "
              "--examples, --wrong or --diff");
  BLOOM_CHECK(opt.limit >= 0, "report: --limit must be >= 0");
  BLOOM_CHECK(opt.context_chars >= 0, "report: --context-chars must be >= 0");
  const Report rep = report::load_report(opt.files, opt.baseline, opt.tolerance, opt.run);
  if (passages) {
    report::list_passages(rep, opt, out, err);
  } else if (lm_eval) {
    report::write_lm_eval(rep, opt, out, err);
  } else if (opt.format == "json") {
    out << report::report_json(rep).dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace) << "\n";
  } else if (opt.format == "csv") {
    print_csv(rep, out);
  } else {
    print_table(rep, out);
  }
  out.flush();
  if (!opt.plot_dir.empty()) make_plots(rep, opt);
  return 0;
}

Command add_report_command(CLI::App& app) {
  struct Args {
    ReportOptions rep;
    bool csv = false, json = false;
  };
  auto args = std::make_shared<Args>();
  ReportOptions& rep = args->rep;
  CLI::App* cli = app.add_subcommand("report", "Summarise results files: one row per run "
                                               "(accuracy, perplexity, throughput, times, memory, "
                                               "speed-up), plots, and the passages of a run. "
                                               "runner/report/REPORT.md documents it.");
  cli->add_option("results", rep.files, "results files (HDF5, schema bloom-eval/2 or /1)")->required();
  auto* csv_flag = cli->add_flag("--csv", args->csv, "comma-separated values instead of a table");
  cli->add_flag("--json", args->json, "JSON instead of a table")->excludes(csv_flag);
  cli->add_option("--baseline", rep.baseline, "run the speed-up is relative to (NAME or "
                                              "FILE:NAME; default: the slowest run)");
  cli->add_option("--plot", rep.plot_dir, "write PNG plots (matplotlib) to this folder");
  cli->add_option("--run", rep.run, "the run (NAME or FILE:NAME) of --examples/--wrong/--diff "
                                    "and of the per-rank plot");
  cli->add_flag("--examples", rep.examples, "list the passages of --run");
  cli->add_flag("--wrong", rep.wrong, "list only the passages --run got wrong (with --diff: "
                                      "that either run got wrong)");
  cli->add_option("--diff", rep.diff, "list the passages where --run and this run disagree "
                                      "(predicted ids or correctness)");
  cli->add_option("--limit", rep.limit, "list at most this many passages (0: all)");
  cli->add_option("--tolerance", rep.tolerance, "flag runs whose correct count differs from the "
                                                "other runs of the model by more than this many "
                                                "passages (default: max(3, 0.2% of them))");
  cli->add_option("--context-chars", rep.context_chars, "context tail shown per passage")
      ->default_val(60);
  cli->add_option("--tokenizer", rep.tokenizer, "tokenizer.json to decode with (default: the "
                                                "run's `tokenizer` attribute)");
  cli->add_option("--dataset", rep.dataset, "dataset file with the passages (default: the run's "
                                            "`dataset` attribute)");
  cli->add_flag("--lm-eval", rep.lm_eval, "print lm-evaluation-harness's results JSON for --run "
                                          "(task lambada_openai: acc, acc_stderr, perplexity, "
                                          "perplexity_stderr; n-samples, config, versions)");
  cli->add_option("--samples", rep.samples, "write one JSON line per passage of --run to this file, "
                                            "as lm-eval's --log_samples does");
  cli->add_option("--python", rep.python, "Python with matplotlib for --plot (default: "
                                          "$BLOOM_PYTHON or python3)");
  return {cli, /*needs_mpi=*/false, [args](const CommandContext&) {
            args->rep.format = args->csv ? "csv" : args->json ? "json" : "table";
            return report_main(args->rep, std::cout, std::cerr);
          }};
}

}  // namespace bloom

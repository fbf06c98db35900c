// runner inspect: a model folder described from its config and file headers (see inspect_cmd.h).
// The counts come from the parameter table (engine/bloom_params.h), the problems from the same
// checks BloomWeights::load runs before reading anything.
#include "runner/tools/inspect_cmd.h"

#include <iostream>
#include <memory>

#include <filesystem>
#include <map>
#include <ostream>
#include <set>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "engine/bloom_params.h"
#include "engine/bloom_weights.h"
#include "io/safetensors.h"

namespace bloom {

namespace fs = std::filesystem;

namespace {

constexpr size_t kFilesShown = 8;

// Decimal units, as HF and the file listings print sizes.
std::string gb(double bytes) {
  if (bytes < 1e6) return fmt::format("{:.1f} kB", bytes / 1e3);
  if (bytes < 1e9) return fmt::format("{:.2f} MB", bytes / 1e6);
  return fmt::format("{:.2f} GB", bytes / 1e9);
}

std::string with_commas(int64_t n) {
  std::string s = std::to_string(n);
  for (int i = static_cast<int>(s.size()) - 3; i > 0; i -= 3) s.insert(static_cast<size_t>(i), ",");
  return s;
}

std::string format_line(const ModelSource& src) {
  switch (src.location.format) {
    case ModelFormat::Safetensors: return "safetensors (HF)";
    case ModelFormat::Bin: return "bin (PyTorch torch.save files, read without running their pickle)";
    case ModelFormat::Ft:
      return fmt::format("ft (FasterTransformer folder, converted with tensor_para_size {})",
                         src.config.ft_tensor_para_size);
    default: return "?";
  }
}

void print_files(const ModelSource& src, bool all, std::ostream& out) {
  const std::vector<std::string> files = src.checkpoint.files();
  uint64_t total = 0;
  for (const std::string& f : files) total += fs::file_size(f);
  out << fmt::format("files:      {} in {} ({})\n", files.size(), src.location.dir, gb(total));
  for (size_t i = 0; i < files.size() && (all || i < kFilesShown); ++i)
    out << fmt::format("            {} ({})\n", fs::path(files[i]).filename().string(),
                       gb(fs::file_size(files[i])));
  if (!all && files.size() > kFilesShown)
    out << fmt::format("            ... and {} more (--all-files lists them)\n",
                       files.size() - kFilesShown);
}

void print_dtypes(const ModelSource& src, std::ostream& out) {
  std::map<std::string, std::pair<int, uint64_t>> by_dtype;  // dtype -> tensors, bytes
  for (const std::string& name : src.checkpoint.names()) {
    const io::TensorInfo t = src.checkpoint.info(name);
    auto& [n, bytes] = by_dtype[io::safetensors_dtype_name(t.dtype)];
    ++n;
    bytes += t.nbytes();
  }
  std::string s;
  for (const auto& [d, nb] : by_dtype)
    s += fmt::format("{}{} x {} tensors ({})", s.empty() ? "" : ", ", d, nb.first, gb(nb.second));
  out << "stored:     " << s
      << (src.config.stored_dtype.empty() ? "" : " (the config says " + src.config.stored_dtype + ")")
      << "\n";
}

std::string tp_sizes(const BloomConfig& c) {
  std::string s;
  for (int64_t t = 1; t <= c.n_head; ++t)
    if (c.n_head % t == 0) s += (s.empty() ? "" : ", ") + std::to_string(t);
  return s;
}

}  // namespace

Command add_inspect_command(CLI::App& app) {
  auto o = std::make_shared<InspectOptions>();
  CLI::App* cmd = app.add_subcommand(
      "inspect", "Describe a model folder without loading its weights: format, files, stored "
                 "dtypes, config, parameter count and bytes, the tensor-parallel sizes it runs "
                 "with, and any problem found. Exit code 1 when a problem would stop a run.");
  cmd->add_option("model", o->path, "model folder: HF (safetensors or pytorch_model*.bin) or a "
                                    "FasterTransformer <N>-gpu folder (or the folder holding one)")
      ->required();
  cmd->add_option("--format", o->format, "auto, safetensors, bin or ft (as model.format)")
      ->default_val("auto");
  cmd->add_flag("--all-files", o->all_files, "list every file");
  return {cmd, /*needs_mpi=*/false,
          [o](const CommandContext&) { return inspect_main(*o, std::cout); }};
}

int inspect_main(const InspectOptions& o, std::ostream& out) {
  const ModelSource src = ModelSource::open(o.path, parse_model_format(o.format));
  const BloomConfig& c = src.config;
  out << fmt::format("model:      {}\n", o.path);
  out << fmt::format("format:     {}\n", format_line(src));
  out << fmt::format("config:     {}: {} layers, hidden {}, {} heads (head dim {}), vocab {}, "
                     "eps {:g}, {} residuals, {} lm_head\n",
                     c.source, c.n_layer, c.hidden, c.n_head, c.head_dim(), c.vocab, c.eps,
                     c.residual_post_layernorm ? "post-layernorm" : "pre-layernorm",
                     c.tie_word_embeddings ? "tied (the embedding)" : "untied");
  print_files(src, o.all_files, out);
  print_dtypes(src, out);
  const int64_t n = c.total_params();
  out << fmt::format("parameters: {} ({} in the body), {} in fp16/bf16, {} in fp32\n",
                     with_commas(n), with_commas(c.body_params()), gb(2.0 * n), gb(4.0 * n));
  out << fmt::format("runs with:  parallelism.tp {} (the divisors of its {} heads){}\n",
                     tp_sizes(c), c.n_head,
                     src.location.format == ModelFormat::Ft
                         ? "; each rank re-splits the rank files at load time"
                         : "");
  for (const std::string& w : src.warnings) out << "warning:    " << w << "\n";
  const std::vector<std::string> problems = src.problems();
  for (const std::string& p : problems) out << "problem:    " << p << "\n";
  out << (problems.empty() ? "ok: loads\n"
                           : fmt::format("{} problem(s): a run would stop\n", problems.size()));
  return problems.empty() ? 0 : 1;
}

}  // namespace bloom

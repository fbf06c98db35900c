// `runner make-model` options -> MakeModelOptions -> make_model_main (see make_model_cmd.h).
#include "runner/tools/make_model_cmd.h"

#include <memory>
#include <string>

#include <CLI/CLI.hpp>

#include "runner/log.h"
#include "runner/tools/make_model.h"

namespace bloom {

Command add_make_model_command(CLI::App& app) {
  struct Args {
    MakeModelOptions mm;
    std::string shard = "5GB";  // parsed after the command line: errors name the value
  };
  auto args = std::make_shared<Args>();
  std::string presets;
  for (const std::string& p : make_model_presets()) presets += (presets.empty() ? "" : ", ") + p;
  MakeModelOptions& mm = args->mm;
  CLI::App* cli = app.add_subcommand("make-model", "Write a BLOOM checkpoint with random weights "
                                                   "in HF's format (config.json + safetensors), "
                                                   "for tests and benchmarks.");
  cli->add_option("--like", mm.like, "shape preset: " + presets)->required();
  cli->add_option("--dtype", mm.dtype, "fp32, fp16 or bf16")->default_val("fp16");
  cli->add_option("--out", mm.out, "output folder")->required();
  cli->add_option("--tokenizer", mm.tokenizer, "tokenizer.json to copy into the folder");
  cli->add_option("--seed", mm.seed, "random seed")->default_val(0);
  cli->add_option("--n-layer", mm.n_layer, "override the preset's layer count");
  cli->add_option("--hidden", mm.hidden, "override the preset's hidden size");
  cli->add_option("--n-head", mm.n_head, "override the preset's head count");
  cli->add_option("--vocab", mm.vocab, "override the preset's vocabulary size");
  cli->add_option("--max-shard-size", args->shard, "shard files above this size (e.g. 5GB)");
  cli->add_option("--threads", mm.threads, "writer threads (0: all cores)");
  return {cli, /*needs_mpi=*/false, [args](const CommandContext& ctx) {
            setup_logging(0, ctx.verbosity);
            args->mm.max_shard_bytes = parse_byte_size(args->shard);
            return make_model_main(args->mm);
          }};
}

}  // namespace bloom

// `runner validate JOB.yaml`: expands a job (sweeps included) and checks each run against what
// exists (model config, tokenizer, dataset, output folder) and the layout, without loading
// weights or evaluating. Prints one line per run. Returns 0 when every run is valid.
#pragma once

#include <string>

namespace bloom {

/// world: ranks to check the layout against (0: tp x dp of each run, or tp when dp is unset).
int validate_main(const std::string& job_path, int world, bool print);

}  // namespace bloom

// libFuzzer target: the YAML job spec parser (runner/job_spec.h, bloom::parse_job_spec). Only
// bloom::Error may come out; a spec that parses has at least one run, unique run names, one
// output path, and every value inside its documented range.
#include <cstdint>
#include <set>
#include <string>

#include "runner/job_spec.h"
#include "tests/fuzz/fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  BLOOM_FUZZ_EXPECT_ONLY_BLOOM_ERRORS({
    const bloom::JobSpec job = bloom::parse_job_spec(text, "fuzz.yaml");
    if (job.runs.empty()) bloom::fuzz::violated("no runs");
    std::set<std::string> names;
    for (const bloom::RunSpec& r : job.runs) {
      if (!names.insert(r.name).second) bloom::fuzz::violated("two runs named", r.name);
      if (r.name.empty() || r.model.path.empty() || r.dataset.path.empty() || r.output.path.empty())
        bloom::fuzz::violated("empty required value");
      if (r.output.path != job.runs[0].output.path) bloom::fuzz::violated("output path differs");
      if (r.batch.size < 1 || r.batch.max_tokens < 0 || r.parallelism.tp < 1 ||
          r.parallelism.dp < 0 || r.dataset.limit < 0 || r.load_threads < 0)
        bloom::fuzz::violated("value out of range");
      if (r.output.resume && r.output.overwrite) bloom::fuzz::violated("resume and overwrite");
    }
  });
  return 0;
}

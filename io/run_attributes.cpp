// The attributes of /runs/<name> in a results file (see run_attributes.h): one table of the
// fixed ones, walked by write(), read() and the check that no extra takes a fixed name; the table
// also says how a bloom-eval/1 file holds each one.
#include "io/run_attributes.h"

#include <algorithm>
#include <iterator>
#include <string>
#include <type_traits>
#include <variant>
#include <vector>

#include "io/results_integrity.h"

namespace bloom::io::run_attributes {
namespace {

// The fixed attributes, in the order RESULTS.md lists them. The field's type is the attribute's
// type: std::string -> string, int64_t -> int64, double -> double, bool -> uint8 (0/1).
// `in_v1` says how a bloom-eval/1 file holds it: always, maybe (written as an extra by /1 runners,
// read when there), or never (left empty); `v1_name` is its name there when it differs.
using RunField = std::variant<std::string RunAttributes::*, int64_t RunAttributes::*,
                              double RunAttributes::*, bool RunAttributes::*>;
enum class InV1 { Always, Maybe, Never };
struct RunAttribute {
  const char* name;
  RunField field;
  InV1 in_v1 = InV1::Always;
  const char* v1_name = nullptr;
};
const RunAttribute kRunAttributes[] = {
    {"model", &RunAttributes::model},
    {"dtype", &RunAttributes::dtype},
    {"backend", &RunAttributes::backend},
    {"batch_size", &RunAttributes::batch_size},
    {"max_tokens", &RunAttributes::max_tokens},
    {"tp", &RunAttributes::tp},
    {"dp", &RunAttributes::dp},
    {"n_examples", &RunAttributes::n_examples},
    {"n_correct", &RunAttributes::n_correct},
    {"accuracy", &RunAttributes::accuracy},
    {"accuracy_stderr", &RunAttributes::accuracy_stderr, InV1::Never},
    {"accuracy_ci95_low", &RunAttributes::accuracy_ci95_low, InV1::Never},
    {"accuracy_ci95_high", &RunAttributes::accuracy_ci95_high, InV1::Never},
    {"token_perplexity", &RunAttributes::token_perplexity, InV1::Always, "perplexity"},
    {"passage_perplexity", &RunAttributes::passage_perplexity, InV1::Never},
    {"load_seconds", &RunAttributes::load_seconds},
    {"tokenize_seconds", &RunAttributes::tokenize_seconds},
    {"evaluate_seconds", &RunAttributes::evaluate_seconds},
    {"wall_seconds", &RunAttributes::wall_seconds},
    {"tokens_per_second", &RunAttributes::tokens_per_second},
    {"passages_per_second", &RunAttributes::passages_per_second},
    {"n_evaluated", &RunAttributes::n_evaluated, InV1::Never},
    {"peak_device_bytes", &RunAttributes::peak_device_bytes},
    {"method", &RunAttributes::method, InV1::Maybe},
    {"tokenizer", &RunAttributes::tokenizer, InV1::Maybe},
    {"dataset", &RunAttributes::dataset, InV1::Maybe},
    {"spec", &RunAttributes::spec, InV1::Maybe},
    {"overrides", &RunAttributes::overrides, InV1::Never},
    {"started_utc", &RunAttributes::started_utc, InV1::Never},
    {"finished_utc", &RunAttributes::finished_utc, InV1::Never},
    {"environment", &RunAttributes::environment, InV1::Never},
    {"config_sha256", &RunAttributes::config_sha256, InV1::Never},
    {"tokenizer_sha256", &RunAttributes::tokenizer_sha256, InV1::Never},
    {"dataset_sha256", &RunAttributes::dataset_sha256, InV1::Never},
    {"weights_fingerprint", &RunAttributes::weights_fingerprint, InV1::Never},
    {"complete", &RunAttributes::complete},
};

bool is_fixed_run_attribute(const std::string& name) {
  if (name == integrity::kAttributesChecksum) return true;  // the writer's, like `complete`
  return std::any_of(std::begin(kRunAttributes), std::end(kRunAttributes),
                     [&](const RunAttribute& fixed) { return name == fixed.name; });
}

}  // namespace

void write(hid_t run, const RunAttributes& a, int64_t n_examples, bool complete) {
  std::vector<std::string> extras;
  for (const auto& kv : a.extra_strings) extras.push_back(kv.first);
  for (const auto& kv : a.extra_numbers) extras.push_back(kv.first);
  for (const auto& kv : a.extra_ints) extras.push_back(kv.first);
  std::sort(extras.begin(), extras.end());
  for (size_t i = 0; i < extras.size(); ++i) {
    BLOOM_CHECK(!extras[i].empty() && !is_fixed_run_attribute(extras[i]) &&
                    (i == 0 || extras[i] != extras[i - 1]),
                "extra attribute name '{}' of {} is empty, a fixed run attribute or given twice",
                extras[i], h5::describe(run));
  }
  // n_examples and complete are the writer's, whatever `a` says.
  RunAttributes fixed = a;
  fixed.n_examples = n_examples;
  fixed.complete = complete;
  for (const RunAttribute& attr : kRunAttributes) {
    std::visit([&](auto field) {
      using T = std::decay_t<decltype(fixed.*field)>;
      if constexpr (std::is_same_v<T, bool>) h5::write_attribute(run, attr.name, uint8_t{fixed.*field});
      else h5::write_attribute(run, attr.name, fixed.*field);
    }, attr.field);
  }
  for (const auto& [key, value] : a.extra_strings) h5::write_attribute(run, key, value);
  for (const auto& [key, value] : a.extra_numbers) h5::write_attribute(run, key, value);
  for (const auto& [key, value] : a.extra_ints) h5::write_attribute(run, key, value);
}

RunAttributes read(hid_t g, int schema_version) {
  RunAttributes a;
  const bool v1 = schema_version == 1;
  for (const RunAttribute& attr : kRunAttributes) {
    if (v1 && attr.in_v1 == InV1::Never) continue;
    const char* name = v1 && attr.v1_name ? attr.v1_name : attr.name;
    if (v1 && attr.in_v1 == InV1::Maybe && !h5::has_attribute(g, name)) continue;
    std::visit([&](auto field) {
      using T = std::decay_t<decltype(a.*field)>;
      if constexpr (std::is_same_v<T, std::string>) a.*field = h5::read_string_attribute(g, name);
      else if constexpr (std::is_same_v<T, double>) a.*field = h5::read_double_attribute(g, name);
      else if constexpr (std::is_same_v<T, int64_t>) a.*field = h5::read_int_attribute(g, name);
      else a.*field = h5::read_int_attribute(g, name) == 1;
    }, attr.field);
  }
  for (const std::string& key : h5::attribute_names(g)) {
    if (is_fixed_run_attribute(key) || (v1 && key == "perplexity")) continue;
    switch (h5::attribute_class(g, key)) {
      case H5T_STRING: a.extra_strings[key] = h5::read_string_attribute(g, key); break;
      case H5T_FLOAT: a.extra_numbers[key] = h5::read_double_attribute(g, key); break;
      case H5T_INTEGER: a.extra_ints[key] = h5::read_int_attribute(g, key); break;
      default: break;  // other types are not part of the schema: ignored
    }
  }
  return a;
}

}  // namespace bloom::io::run_attributes

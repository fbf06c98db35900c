// The attributes of /runs/<name> in a results file (see run_attributes.h): one table of the
// fixed ones, walked by write(), read() and the check that no extra takes a fixed name.
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
using RunField = std::variant<std::string RunAttributes::*, int64_t RunAttributes::*,
                              double RunAttributes::*, bool RunAttributes::*>;
struct RunAttribute {
  const char* name;
  RunField field;
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
    {"perplexity", &RunAttributes::perplexity},
    {"load_seconds", &RunAttributes::load_seconds},
    {"tokenize_seconds", &RunAttributes::tokenize_seconds},
    {"evaluate_seconds", &RunAttributes::evaluate_seconds},
    {"wall_seconds", &RunAttributes::wall_seconds},
    {"tokens_per_second", &RunAttributes::tokens_per_second},
    {"passages_per_second", &RunAttributes::passages_per_second},
    {"peak_device_bytes", &RunAttributes::peak_device_bytes},
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

RunAttributes read(hid_t g) {
  RunAttributes a;
  for (const RunAttribute& attr : kRunAttributes) {
    std::visit([&](auto field) {
      using T = std::decay_t<decltype(a.*field)>;
      if constexpr (std::is_same_v<T, std::string>) a.*field = h5::read_string_attribute(g, attr.name);
      else if constexpr (std::is_same_v<T, double>) a.*field = h5::read_double_attribute(g, attr.name);
      else if constexpr (std::is_same_v<T, int64_t>) a.*field = h5::read_int_attribute(g, attr.name);
      else a.*field = h5::read_int_attribute(g, attr.name) == 1;
    }, attr.field);
  }
  for (const std::string& key : h5::attribute_names(g)) {
    if (is_fixed_run_attribute(key)) continue;
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

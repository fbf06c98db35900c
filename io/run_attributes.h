// The attributes of /runs/<name> in a results file, schema bloom-eval/2 (io/RESULTS.md, "Run
// attributes"): the fixed ones, each a field of RunAttributes, and extras of three kinds (string,
// double, int64). Files of schema bloom-eval/1 are read too (the fixed attributes it lacked read
// as empty). Internal to bloom_io, like io/hdf5_util.h: io/results_file.cpp, which owns the
// file, hands in the run's group.
#pragma once

#include <cstdint>

#include "io/hdf5_util.h"
#include "io/results_file.h"

namespace bloom::io::run_attributes {

/// Writes (replacing) every fixed attribute of `run` from `a`, except n_examples and complete,
/// which are the arguments, then the extras. Throws bloom::Error when an extra's name is empty,
/// given twice or a fixed attribute's name.
void write(hid_t run, const RunAttributes& a, int64_t n_examples, bool complete);

/// Reads every fixed attribute of `run` (of a file of schema version 2 or 1), and every other
/// string, float or integer attribute as an extra (other types are not part of the schema and
/// are skipped).
RunAttributes read(hid_t run, int schema_version);

}  // namespace bloom::io::run_attributes

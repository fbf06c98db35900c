// Shared by the units of ResultsFile (io/results_file.cpp, results_read.cpp, results_verify.cpp;
// internal to bloom_io): how a run name becomes its group.
#pragma once

#include <string>

#include "io/hdf5_util.h"

namespace bloom::io {

/// Throws unless `name` can name an HDF5 group (non-empty, no '/', not "." or "..").
void check_run_name(const std::string& name);
/// /runs/<name> of `file`; throws naming `path` when the run is not there.
h5::Handle open_run(hid_t file, const std::string& path, const std::string& name);

}  // namespace bloom::io

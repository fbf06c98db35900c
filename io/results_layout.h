// Shared by the units of ResultsFile (io/results_file.cpp, results_read.cpp, results_verify.cpp,
// results_write.cpp; internal to bloom_io): how a run name becomes its group.
#pragma once

#include <string>

#include "io/hdf5_util.h"
#include "io/results_file.h"

namespace bloom::io {

/// Throws, naming `path` and `what` was asked, when the file was opened ReadOnly.
void check_writable(OpenMode mode, const std::string& path, const char* what);
/// Throws unless `name` can name an HDF5 group (non-empty, no '/', not "." or "..").
void check_run_name(const std::string& name);
/// /runs/<name> of `file`; throws naming `path` when the run is not there.
h5::Handle open_run(hid_t file, const std::string& path, const std::string& name);

}  // namespace bloom::io

// The accuracy a run ends with, as users of the workflow we replace read it: FasterTransformer's
// line (bloom_lambada.py prints it after its evaluation loop; scripts grep for it) and the
// threshold of `runner run --min-accuracy X` (FT's --acc-threshold, which takes a percentage).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "io/results_file.h"
#include "runner/command.h"  // kExitBelowMinAccuracy

namespace bloom {

/// "0.35" or "35%" -> 0.35. Throws naming the option for anything else, or outside [0, 1].
double parse_min_accuracy(const std::string& text);

/// FasterTransformer's line, in its exact format:
/// "Accuracy: 50.9800% (2627/5153) (elapsed time: 9.0600 sec)".
std::string ft_accuracy_line(int64_t n_correct, int64_t n, double elapsed_seconds);

/// One message per run of `names` in `file` whose `accuracy` attribute is below `min_accuracy`
/// ("run NAME: accuracy 0.5098 (2627/5153) is below --min-accuracy 0.6000"); empty if none.
std::vector<std::string> runs_below(const io::ResultsFile& file, const std::vector<std::string>& names,
                                    double min_accuracy);

}  // namespace bloom

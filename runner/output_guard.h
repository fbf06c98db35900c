// The results file must never be one of the job's inputs: with output.overwrite (or a resume of
// the wrong file) the runner would replace the dataset, a model file, the tokenizer or the job
// file itself with an HDF5 file. Checked in preflight, before anything is opened for writing:
// output.path, and the "<path>.lock" and "<path>.partial" files the writer makes beside it,
// against every input, by real path (symbolic links and ".." resolved) and by file identity
// (device and inode: hard links, bind mounts).
#pragma once

#include "runner/job_spec.h"

namespace bloom {

/// Throws naming the output path, the input it would replace and the job-file key of that input.
void check_output_is_no_input(const JobSpec& job);

}  // namespace bloom

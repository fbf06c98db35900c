// Ranks agree on their inputs before they start. Every rank fingerprints what it will read for
// every run of the job (runner/fingerprint.h: model config, weights, tokenizer, dataset) and the
// job itself as it resolved it (the settings of runner/resume.h, environment substitutions done,
// the input paths aside: their bytes count, not their names); world rank 0 compares every rank
// with its own. Ranks that see different node-local copies would otherwise write one results file
// of mixed rows; instead the job stops before any work, naming each rank, its host, what differs
// and the paths on both sides.
#pragma once

#include <vector>

#include "runner/fingerprint.h"
#include "runner/job_spec.h"
#include "runner/topology.h"

namespace bloom {

/// Collective over MPI_COMM_WORLD. Returns the fingerprints of each run's inputs (one per run of
/// `job`, in order; the same on every rank once it returns). Throws on every rank when any rank
/// differs (rank 0's message names them all) or cannot read an input (that rank's message).
std::vector<Fingerprints> agree_on_inputs(const JobSpec& job, const MpiSession& mpi);

}  // namespace bloom

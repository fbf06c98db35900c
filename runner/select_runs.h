// select_runs: keep some of a job's runs, so that one launch evaluates one point of a sweep
// (Slurm job arrays: slurm/sweep_array.sh gives each array task one run through BLOOM_RUNS).
#pragma once

#include <string>

#include "runner/job_spec.h"

namespace bloom {

/// Keeps the runs `selector` names, in the job's order:
/// - 0-based indices and ranges in the order `runner validate` lists the runs: "3", "0-3,7";
/// - or run names separated by ';' ("tp=2,dtype=fp16,size=16;tp=1,dtype=bf16,size=64").
/// A selector made only of digits, ',', '-' and spaces is read as indices. Empty: every run.
/// Throws, listing the job's runs, when an index is out of range or a name is not a run.
JobSpec select_runs(JobSpec job, const std::string& selector);

/// select_runs(job, $BLOOM_RUNS); unset or empty leaves the job as it is. Logs what it kept.
JobSpec select_runs_from_env(JobSpec job);

}  // namespace bloom

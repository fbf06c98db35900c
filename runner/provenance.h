// Provenance of a run: what a results file records so that a number can be traced to the inputs,
// the machines and the software that produced it (io/RESULTS.md, "Provenance").
//   environment  JSON: per rank its host, CPU model and device (GPU model and NVIDIA driver when
//                the run is on CUDA); the distinct hosts, CPU and GPU models; the versions of the
//                runner, compiler, MPI, HDF5, CUDA runtime and driver API, cuBLAS(Lt) and NCCL
//                this binary uses, and the operating system;
//   inputs       absolute model, tokenizer and dataset paths, the run's spec with every default
//                filled in, the command-line overrides; the input fingerprints
//                (runner/fingerprint.h) come with the resume record (runner/resume.h);
//   times        UTC start and end of the attempt that finished the run.
#pragma once

#include <mpi.h>

#include <string>

#include "core/context.h"
#include "io/results_file.h"
#include "runner/job_spec.h"

namespace bloom {

/// Collective over `world`: every rank describes its host and device; world rank 0 gets the JSON
/// document, the other ranks "".
std::string collect_environment(const Context& ctx, MPI_Comm world, const std::string& runner_version);

/// The current time, ISO 8601 UTC to the second: "2026-12-01T23:20:02Z".
std::string utc_now();

/// Sets the inputs part of a run's attributes: absolute paths (model, tokenizer, dataset), method,
/// spec and overrides. The fingerprints, which the ranks compare first, come with the run's
/// resume record (runner/resume.h: add_resume_record).
void set_inputs(io::RunAttributes& attrs, const RunSpec& run, const std::string& overrides);

}  // namespace bloom

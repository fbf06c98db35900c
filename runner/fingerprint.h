// Fingerprints of a run's inputs: what a results file records (provenance), what resume checks
// against the job (a file written for other inputs is refused), and what the ranks of a launch
// compare before they start (node-local copies that differ abort the job).
//   config, tokenizer, dataset: sha256 of the whole file (small files: milliseconds);
//   weights: sha256 over every file of the model folder (config and tokenizer aside) of its
//   relative path, size, and sha256 of its first and last 64 KiB: the headers of safetensors,
//   the zip directory of torch .bin files, any truncation. It costs no read of the tensor data,
//   so a change inside tensor data with headers and sizes kept is not seen (documented).
#pragma once

#include <string>
#include <vector>

namespace bloom {

struct RunSpec;

/// sha256 of a file's bytes as 64 hex digits; throws naming the file when it cannot be read.
std::string sha256_file(const std::string& path);
/// sha256 of a string, as 64 hex digits.
std::string sha256_text(const std::string& text);

struct Fingerprints {
  std::string config;     ///< sha256 of the model's config file (config.json or config.ini)
  std::string tokenizer;  ///< sha256 of tokenizer.json
  std::string dataset;    ///< sha256 of the dataset file
  std::string weights;    ///< see the file comment

  /// Named pairs in a fixed order, as stored in results files: {"config_sha256", ...}.
  std::vector<std::pair<std::string, std::string>> items() const;
};

/// The fingerprints of one run's inputs (model folder, tokenizer, dataset).
Fingerprints fingerprint_inputs(const RunSpec& run);
/// The weights part alone: a model folder (or a single checkpoint file's folder).
std::string fingerprint_weights(const std::string& model_path);

/// "tokenizer (sha256 ab12.. vs cd34..), dataset (...)": every field that differs; empty if none.
std::string describe_differences(const Fingerprints& recorded, const Fingerprints& now);

}  // namespace bloom

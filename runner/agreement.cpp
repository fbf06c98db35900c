// Agreement on inputs (see agreement.h): each rank's fingerprints, gathered as text on rank 0.
#include "runner/agreement.h"

#include <chrono>
#include <map>
#include <sstream>
#include <thread>
#include <tuple>

#include "core/check.h"
#include "runner/resume.h"

namespace bloom {
namespace {

// One thing ranks must agree on: its digest over every run, and what a message shows of it.
struct Item {
  std::string name, digest, detail;
};

std::vector<Item> items_of(const JobSpec& job, const std::vector<Fingerprints>& fps, int world) {
  std::string settings, config, weights, tokenizer, dataset;
  for (size_t i = 0; i < job.runs.size(); ++i) {
    const RunSpec& r = job.runs[i];
    ResumeRecord rec = resume_record(r, world, fps[i]);
    rec.settings.erase(rec.settings.begin(), rec.settings.begin() + 3);  // the three input paths
    settings += r.name + "\n" + settings_yaml(rec) + "\n";
    config += fps[i].config + "\n";
    weights += fps[i].weights + "\n";
    tokenizer += fps[i].tokenizer + "\n";
    dataset += fps[i].dataset + "\n";
  }
  const RunSpec& r0 = job.runs.front();
  const Fingerprints& f0 = fps.front();
  auto shown = [](const std::string& path, const std::string& fp) {
    return fmt::format("'{}' {:.12}", path, fp);
  };
  return {{"job settings", sha256_text(settings), "(resolved from the job file and environment)"},
          {"model config", sha256_text(config), shown(r0.model.path, f0.config)},
          {"weights", sha256_text(weights), shown(r0.model.path, f0.weights)},
          {"tokenizer", sha256_text(tokenizer), shown(r0.model.tokenizer, f0.tokenizer)},
          {"dataset", sha256_text(dataset), shown(r0.dataset.path, f0.dataset)}};
}

std::string serialize(const std::string& host, const std::vector<Item>& items) {
  std::string out = host + "\n";
  for (const Item& it : items) out += it.name + "\t" + it.digest + "\t" + it.detail + "\n";
  return out;
}

std::pair<std::string, std::vector<Item>> parse(const std::string& text) {
  std::istringstream in(text);
  std::string host, line;
  std::getline(in, host);
  std::vector<Item> items;
  while (std::getline(in, line)) {
    const size_t a = line.find('\t'), b = line.find('\t', a + 1);
    items.push_back({line.substr(0, a), line.substr(a + 1, b - a - 1), line.substr(b + 1)});
  }
  return {host, items};
}

}  // namespace

std::vector<Fingerprints> agree_on_inputs(const JobSpec& job, const MpiSession& mpi) {
  // Runs of a sweep share inputs: each file is fingerprinted once.
  std::map<std::tuple<std::string, std::string, std::string>, Fingerprints> seen;
  std::vector<Fingerprints> fps;
  for (const RunSpec& r : job.runs) {
    const auto key = std::make_tuple(r.model.path, r.model.tokenizer, r.dataset.path);
    if (!seen.count(key)) seen[key] = fingerprint_inputs(r);
    fps.push_back(seen[key]);
  }
  const int size = mpi.world_size(), rank = mpi.world_rank();
  if (size == 1 || job.runs.empty()) return fps;

  const std::vector<Item> mine = items_of(job, fps, size);
  const std::string text = serialize(mpi.hostname(), mine);
  int length = static_cast<int>(text.size());
  std::vector<int> lengths(static_cast<size_t>(size)), offsets(static_cast<size_t>(size));
  BLOOM_MPI_CHECK(MPI_Gather(&length, 1, MPI_INT, lengths.data(), 1, MPI_INT, 0, MPI_COMM_WORLD));
  std::string all;
  if (rank == 0) {
    int total = 0;
    for (int i = 0; i < size; ++i) offsets[static_cast<size_t>(i)] = total, total += lengths[static_cast<size_t>(i)];
    all.resize(static_cast<size_t>(total));
  }
  BLOOM_MPI_CHECK(MPI_Gatherv(text.data(), length, MPI_CHAR, all.data(), lengths.data(),
                              offsets.data(), MPI_CHAR, 0, MPI_COMM_WORLD));
  std::string problems;
  if (rank == 0) {
    for (int q = 1; q < size; ++q) {
      const auto [host, theirs] = parse(all.substr(static_cast<size_t>(offsets[static_cast<size_t>(q)]),
                                                   static_cast<size_t>(lengths[static_cast<size_t>(q)])));
      for (size_t i = 0; i < mine.size() && i < theirs.size(); ++i) {
        if (theirs[i].digest == mine[i].digest) continue;
        problems += fmt::format("\n  rank {} on {}: {} {} (rank 0 on {}: {})", q, host,
                                mine[i].name, theirs[i].detail, mpi.hostname(), mine[i].detail);
      }
    }
  }
  int failed = problems.empty() ? 0 : 1;
  BLOOM_MPI_CHECK(MPI_Bcast(&failed, 1, MPI_INT, 0, MPI_COMM_WORLD));
  if (failed && rank != 0) {
    // Rank 0 prints what differs and aborts the job; an abort from here first would kill it
    // before it says so. This rank ends by itself only if that abort never comes.
    std::this_thread::sleep_for(std::chrono::seconds(10));
    BLOOM_FAIL("the ranks of this job see different inputs (world rank 0 names them)");
  }
  BLOOM_CHECK(!failed, "the ranks of this job see different inputs, so their rows would not "
              "belong together; nothing was evaluated:{}\nGive every rank the same copy (node-local "
              "copies, environment variables in the job file)", problems);
  return fps;
}

}  // namespace bloom

// Provenance of a run (see provenance.h). Library versions are asked of the libraries at run time
// (what is loaded, not what was compiled against), except the compiler's.
#include "runner/provenance.h"

#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <ctime>
#include <fstream>
#include <set>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/check.h"
#ifdef BLOOM_WITH_CUDA
#include <cublasLt.h>
#include <cuda_runtime_api.h>
#endif
#ifdef BLOOM_WITH_NCCL
#include <nccl.h>
#endif

namespace bloom {
namespace {

using json = nlohmann::ordered_json;

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ' || s.back() == '\t')) s.pop_back();
  size_t start = s.find_first_not_of(" \t");
  return start == std::string::npos ? "" : s.substr(start);
}

std::string host_name() {
  char name[256] = {};
  gethostname(name, sizeof(name) - 1);
  return name;
}

// /proc/cpuinfo's "model name" (x86) or "Model"/"CPU part" elsewhere; else the machine type.
std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    const size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    const std::string key = trim(line.substr(0, colon));
    if (key == "model name" || key == "Model") return trim(line.substr(colon + 1));
  }
  utsname u{};
  return uname(&u) == 0 ? u.machine : "unknown";
}

// The NVIDIA kernel module's version ("550.54.15"), "" without one.
std::string nvidia_driver() {
  std::ifstream in("/proc/driver/nvidia/version");
  std::string line;
  if (!std::getline(in, line)) return "";
  const size_t at = line.find("Kernel Module");
  if (at == std::string::npos) return trim(line);
  std::string rest = trim(line.substr(at + 13));
  return rest.substr(0, rest.find(' '));
}

std::string compiler() {
#if defined(__clang__)
  return "clang " __clang_version__;
#elif defined(__GNUC__)
  return "GCC " __VERSION__;
#else
  return "unknown";
#endif
}

std::string mpi_library() {
  char text[MPI_MAX_LIBRARY_VERSION_STRING] = {};
  int len = 0;
  MPI_Get_library_version(text, &len);
  const std::string s(text, static_cast<size_t>(std::max(0, len)));
  return trim(s.substr(0, s.find_first_of(std::string("\n\0", 2))));  // len may count the NUL
}

// "12.4" from 12040 (CUDA's major * 1000 + minor * 10 encoding).
[[maybe_unused]] std::string cuda_version(int v) {
  return v > 0 ? fmt::format("{}.{}", v / 1000, (v % 1000) / 10) : "none";
}

json versions(const std::string& runner_version) {
  json v;
  v["runner"] = runner_version;
  v["compiler"] = compiler();
  v["mpi"] = mpi_library();
  v["hdf5"] = io::hdf5_library_version();
#ifdef BLOOM_WITH_CUDA
  int runtime = 0, driver = 0;
  if (cudaRuntimeGetVersion(&runtime) != cudaSuccess) runtime = 0;
  if (cudaDriverGetVersion(&driver) != cudaSuccess) driver = 0;
  v["cuda_runtime"] = cuda_version(runtime);
  v["cuda_driver_api"] = cuda_version(driver);  // the newest CUDA the installed driver supports
  int major = 0, minor = 0, patch = 0;
  cublasLtGetProperty(MAJOR_VERSION, &major);
  cublasLtGetProperty(MINOR_VERSION, &minor);
  cublasLtGetProperty(PATCH_LEVEL, &patch);
  v["cublas"] = fmt::format("{}.{}.{}", major, minor, patch);
  cudaGetLastError();  // a machine without a driver leaves an error behind: not ours to report
#else
  v["cuda_runtime"] = "not built";
#endif
#ifdef BLOOM_WITH_NCCL
  int nccl = 0;
  ncclGetVersion(&nccl);
  v["nccl"] = fmt::format("{}.{}.{}", nccl / 10000, (nccl % 10000) / 100, nccl % 100);
#else
  v["nccl"] = "not built";
#endif
  utsname u{};
  if (uname(&u) == 0) v["os"] = fmt::format("{} {} {}", u.sysname, u.release, u.machine);
  return v;
}

// This rank's line of the environment: host, CPU, device.
json describe_rank(const Context& ctx, int rank) {
  json r;
  r["rank"] = rank;
  r["host"] = host_name();
  r["cpu"] = cpu_model();
  r["cpu_threads"] = std::thread::hardware_concurrency();
  if (ctx.device() == Device::CPU) {
    r["device"] = "cpu";
    return r;
  }
  r["device"] = fmt::format("cuda:{}", ctx.cuda_device());
#ifdef BLOOM_WITH_CUDA
  cudaDeviceProp p{};
  if (cudaGetDeviceProperties(&p, ctx.cuda_device()) == cudaSuccess) {
    r["gpu"] = p.name;
    r["gpu_memory_bytes"] = static_cast<int64_t>(p.totalGlobalMem);
    r["gpu_compute_capability"] = fmt::format("{}.{}", p.major, p.minor);
  }
#endif
  r["nvidia_driver"] = nvidia_driver();
  return r;
}

}  // namespace

std::string collect_environment(const Context& ctx, MPI_Comm world, const std::string& runner_version) {
  int rank = 0, size = 1;
  BLOOM_MPI_CHECK(MPI_Comm_rank(world, &rank));
  BLOOM_MPI_CHECK(MPI_Comm_size(world, &size));
  const std::string mine = describe_rank(ctx, rank).dump();
  int len = static_cast<int>(mine.size());
  std::vector<int> lens(static_cast<size_t>(size)), displs(static_cast<size_t>(size));
  BLOOM_MPI_CHECK(MPI_Gather(&len, 1, MPI_INT, lens.data(), 1, MPI_INT, 0, world));
  std::string all;
  if (rank == 0) {
    int total = 0;
    for (int i = 0; i < size; ++i) displs[static_cast<size_t>(i)] = total, total += lens[static_cast<size_t>(i)];
    all.resize(static_cast<size_t>(total));
  }
  BLOOM_MPI_CHECK(MPI_Gatherv(mine.data(), len, MPI_CHAR, all.data(), lens.data(), displs.data(),
                              MPI_CHAR, 0, world));
  if (rank != 0) return "";
  json doc;
  json ranks = json::array();
  std::vector<std::string> hosts, cpus, gpus;
  auto add_unique = [](std::vector<std::string>& v, const std::string& s) {
    if (!s.empty() && std::find(v.begin(), v.end(), s) == v.end()) v.push_back(s);
  };
  for (int i = 0; i < size; ++i) {
    json r = json::parse(all.substr(static_cast<size_t>(displs[static_cast<size_t>(i)]),
                                    static_cast<size_t>(lens[static_cast<size_t>(i)])));
    add_unique(hosts, r["host"].get<std::string>());
    add_unique(cpus, r["cpu"].get<std::string>());
    if (r.contains("gpu")) add_unique(gpus, r["gpu"].get<std::string>());
    ranks.push_back(std::move(r));
  }
  doc["hosts"] = hosts;
  doc["cpu_models"] = cpus;
  doc["gpu_models"] = gpus;
  doc["versions"] = versions(runner_version);
  doc["ranks"] = std::move(ranks);
  return doc.dump();
}

std::string utc_now() {
  const std::time_t now = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&now, &utc);
  char text[32];
  std::strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%SZ", &utc);
  return text;
}

void set_inputs(io::RunAttributes& a, const RunSpec& r, const std::string& overrides) {
  a.model = absolute_path(r.model.path);
  a.tokenizer = absolute_path(r.model.tokenizer);
  a.dataset = absolute_path(r.dataset.path);
  a.method = r.method;
  a.spec = r.yaml;
  a.overrides = overrides;
}

}  // namespace bloom

// Preflight (see preflight.h). Messages name the run and the job-file key; the results file is
// checked by io::ResultsFile::check_openable, the check its constructor makes itself.
#include "runner/preflight.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <utility>

#ifdef BLOOM_WITH_CUDA
#include <cuda_runtime.h>
#endif

#include "core/check.h"
#include "engine/bloom_weights.h"
#include "io/dataset.h"
#include "io/results_file.h"
#include "runner/output_guard.h"
#include "runner/topology.h"

namespace bloom {

namespace {

namespace fs = std::filesystem;

// Where the checks of one job put what they find; `collect` null: throw at the first problem.
struct Findings {
  Inspection* collect = nullptr;
  bool check_devices = true;

  // Records (or throws) that `key` of `run` names `path`, which does not exist.
  void missing(const RunSpec& run, const std::string& key, const std::string& path,
               const std::string& what) {
    if (collect == nullptr)
      BLOOM_FAIL("run {}: {} '{}' does not exist ({}); {}", run.name, key, path, what,
                 how_to_make(run, key));
    for (MissingInput& m : collect->missing) {
      if (m.key == key && m.path == path) {
        m.runs.push_back(run.name);
        return;
      }
    }
    collect->missing.push_back({key, path, how_to_make(run, key), {run.name}});
  }
};

bool exists(const std::string& path) {
  std::error_code ec;
  return fs::exists(path, ec);
}

// The last path component, without trailing slashes: "models/bloom-7b1/" -> "bloom-7b1".
std::string base_name(std::string path) {
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  return fs::path(path).filename().string();
}

void check_tokenizer(const RunSpec& r, ModelFormat format) {
  std::error_code ec;
  // An ifstream opens a folder without complaint on Linux; say what reading it would say.
  const int err = fs::is_directory(r.model.tokenizer, ec) ? EISDIR : 0;
  std::ifstream tok(r.model.tokenizer, std::ios::binary);
  BLOOM_CHECK(err == 0 && tok.good(), "run {}: model.tokenizer '{}' cannot be opened: {}{}", r.name,
              r.model.tokenizer, std::strerror(err ? err : errno),
              format == ModelFormat::Ft
                  ? " (model.path is a FasterTransformer folder, and the tokenizer is not part "
                    "of one: set model.tokenizer to the model's tokenizer.json)"
                  : "");
}

// Memory the weights of one rank take, against what the machine has: a config.json that asks
// for absurd sizes (another model's file, a typo) gets a message naming its keys, instead of an
// allocation failure deep in the loader that names nothing.
void check_weight_memory(const RunSpec& r, const BloomConfig& c, int tp) {
  const bool cpu = r.model.backend == "cpu";
  // CPU keeps fp32 weights whatever the dtype; CUDA keeps the compute dtype.
  const double elem = cpu || r.model.dtype == "fp32" ? 4.0 : 2.0;
  const double h = static_cast<double>(c.hidden), v = static_cast<double>(c.vocab);
  const double embedding = v / tp * h * elem;
  const double layers = static_cast<double>(c.n_layer) * (12.0 * h * h / tp + 13.0 * h) * elem;
  const double need = embedding + layers;
  double have = 0.0;
  std::string where;
  if (cpu) {
    have = static_cast<double>(sysconf(_SC_PHYS_PAGES)) * static_cast<double>(sysconf(_SC_PAGESIZE));
    where = "memory on this machine";
  } else {
#ifdef BLOOM_WITH_CUDA
    cudaDeviceProp prop{};
    if (cudaGetDeviceProperties(&prop, 0) == cudaSuccess) {
      have = static_cast<double>(prop.totalGlobalMem);
      where = fmt::format("memory on GPU 0 ({})", prop.name);
    }
#endif
  }
  if (have <= 0.0 || need <= have) return;
  BLOOM_FAIL("run {}: {}/config.json asks for {:.1f} GB of weights per rank ({} x {} bytes): "
             "vocab_size {} x hidden_size {}{} = {:.1f} GB for the embedding, n_layer {} x 12 x "
             "hidden_size^2{} = {:.1f} GB for the layers; this is more than the {:.1f} GB of {}. "
             "Is config.json this checkpoint's? (A larger parallelism.tp divides it.)", r.name,
             r.model.path, need / 1e9, r.model.backend, elem, c.vocab, c.hidden,
             tp > 1 ? fmt::format(" / tp {}", tp) : "", embedding / 1e9, c.n_layer,
             tp > 1 ? fmt::format(" / tp {}", tp) : "", layers / 1e9, have / 1e9, where);
}

// Why backend cuda cannot run on this machine, or "".
std::string no_gpu_here() {
#ifdef BLOOM_WITH_CUDA
  int n = 0;
  const cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess)
    return fmt::format("no usable GPU on this machine ({}: {})", cudaGetErrorName(e),
                       cudaGetErrorString(e));
  if (n == 0) return "no GPU on this machine";
  return "";
#else
  return "this runner was built without CUDA (reconfigure with -DBLOOM_WITH_CUDA=ON where the "
         "CUDA toolkit is installed)";
#endif
}

// The results file's folder: `run` creates it when missing (as mkdir -p); validate only says so.
void check_output(const JobSpec& job, Inspection* collect) {
  if (job.runs.empty()) return;
  const RunSpec& r = job.runs.front();
  const fs::path dir = fs::path(r.output.path).parent_path();
  if (!dir.empty() && !exists(dir.string())) {
    // The nearest folder that exists must be a folder we may write into.
    fs::path up = dir;
    while (!up.empty() && !exists(up.string())) up = up.parent_path();
    const std::string base = up.empty() ? "." : up.string();
    std::error_code ec;
    BLOOM_CHECK(fs::is_directory(base, ec), "cannot create results file '{}': '{}' is not a "
                "directory", r.output.path, base);
    BLOOM_CHECK(access(base.c_str(), W_OK) == 0, "cannot create results file '{}': directory "
                "'{}' is not writable ({})", r.output.path, base, std::strerror(errno));
    if (collect != nullptr) {
      collect->output_folder_to_create = dir.string();
      return;
    }
    fs::create_directories(dir, ec);
    BLOOM_CHECK(!ec, "cannot create the folder '{}' of results file '{}': {}", dir.string(),
                r.output.path, ec.message());
  }
  io::ResultsFile::check_openable(r.output.path, output_mode(r));
}

std::vector<RunCheck> check_job(const JobSpec& job, int world_size, Findings& f) {
  std::vector<RunCheck> checks;
  std::map<std::pair<std::string, int64_t>, int64_t> passages;  // (path, limit) -> count
  for (const RunSpec& r : job.runs) {
    RunCheck c;
    c.tp = static_cast<int>(r.parallelism.tp);
    const int dp = static_cast<int>(r.parallelism.dp);
    c.world = world_size > 0 ? world_size : c.tp * (dp > 0 ? dp : 1);
    const bool model_there = exists(r.model.path);
    if (!model_there) {
      f.missing(r, "model.path", r.model.path, "a HF BLOOM checkpoint folder: config.json, "
                "tokenizer.json, *.safetensors or pytorch_model*.bin; or a FasterTransformer "
                "<N>-gpu folder");
      c.ready = false;
      check_layout(c.world, c.tp, dp, 0);  // the heads are checked once config.json is there
    } else {
      BLOOM_CHECK(fs::is_directory(r.model.path),
                  "run {}: model.path '{}' is not a folder (a HF BLOOM checkpoint folder: "
                  "config.json, tokenizer.json, *.safetensors or pytorch_model*.bin; or a "
                  "FasterTransformer <N>-gpu folder)", r.name, r.model.path);
      const ModelLocation loc = locate_model(r.model.path, parse_model_format(r.model.format));
      c.config = read_model_config(loc);
      c.format = loc.format;
      check_weight_memory(r, c.config, c.tp);
      check_layout(c.world, c.tp, dp, static_cast<int>(c.config.n_head));
      const ModelSource src = ModelSource::open(r.model.path, parse_model_format(r.model.format));
      for (const std::string& problem : src.problems()) BLOOM_FAIL("run {}: {}", r.name, problem);
    }
    c.dp = c.world / c.tp;
    if (f.collect != nullptr && !exists(r.model.tokenizer)) {
      // One inside a model folder that is missing comes with the folder.
      if (model_there || fs::path(r.model.tokenizer).parent_path() != fs::path(r.model.path))
        f.missing(r, "model.tokenizer", r.model.tokenizer, "the model's tokenizer.json");
      c.ready = false;
    } else {
      check_tokenizer(r, c.format);
    }
    if (r.model.backend == "cuda" && f.check_devices) {
      const std::string why = no_gpu_here();
      if (!why.empty()) {
        BLOOM_CHECK(f.collect != nullptr, "run {}: model.backend is cuda, but {}", r.name, why);
        const std::string line = "model.backend cuda: " + why;
        if (std::find(f.collect->not_here.begin(), f.collect->not_here.end(), line) ==
            f.collect->not_here.end())
          f.collect->not_here.push_back(line);
      }
    }
    if (!exists(r.dataset.path) && f.collect != nullptr) {
      f.missing(r, "dataset.path", r.dataset.path, "LAMBADA as JSON lines");
      c.ready = false;
    } else {
      // mpirun hands stdin to rank 0 alone, and a pipe is read once: every rank needs a file.
      BLOOM_CHECK(c.world == 1 || !exists(r.dataset.path) || io::is_regular_file(r.dataset.path),
                  "run {}: dataset.path '{}' is not a regular file (a pipe or a device): each of "
                  "the {} ranks reads the dataset, and a pipe can be read only once; write it to "
                  "a file first", r.name, r.dataset.path, c.world);
      const auto key = std::make_pair(r.dataset.path, r.dataset.limit);
      if (passages.count(key) == 0) {
        passages[key] = static_cast<int64_t>(
            io::read_lambada(r.dataset.path, r.dataset.limit > 0 ? r.dataset.limit : -1).size());
      }
      c.n_passages = passages[key];
      BLOOM_CHECK(c.n_passages >= c.dp,
                  "run {}: {} data-parallel groups ({} ranks / tp {}) but only {} passage(s) in "
                  "'{}'{}: launch fewer ranks or evaluate more passages", r.name, c.dp, c.world,
                  c.tp, c.n_passages, r.dataset.path,
                  r.dataset.limit > 0 ? fmt::format(" (dataset.limit {})", r.dataset.limit) : "");
    }
    checks.push_back(c);
  }
  if (!job.runs.empty()) check_output_is_no_input(job);
  check_output(job, f.collect);
  return checks;
}

}  // namespace

io::OpenMode output_mode(const RunSpec& r) {
  return r.output.resume ? io::OpenMode::Resume
         : r.output.overwrite ? io::OpenMode::Overwrite
                              : io::OpenMode::CreateNew;
}

std::string how_to_make(const RunSpec& r, const std::string& key) {
  if (key == "model.path") {
    // The released sizes (bigscience/<name> on the HF hub), each also a make-model preset
    // (tests/runner/tools/test_validate_cmd.py checks that they still are).
    static const char* const kReleased[] = {"bloom-560m", "bloom-1b1", "bloom-1b7",
                                            "bloom-3b",   "bloom-7b1", "bloom"};
    const std::string name = base_name(r.model.path);
    bool bloom_name = false;
    for (const char* released : kReleased) bloom_name = bloom_name || name == released;
    // A tokenizer the job names elsewhere is already there; else make-model copies one in.
    const bool tokenizer_inside =
        fs::path(r.model.tokenizer).parent_path() == fs::path(r.model.path) ||
        !exists(r.model.tokenizer);
    // The shipped BLOOM-like tokenizer (a 50k vocabulary) when run from the repository.
    const std::string shipped = "tests/data/bloom-style-50k/tokenizer.json";
    const std::string make = fmt::format(
        "runner make-model --like {} --dtype {} --out {}{}", bloom_name ? name : "PRESET",
        r.model.dtype, r.model.path,
        !tokenizer_inside ? ""
        : exists(shipped) ? " --tokenizer " + shipped
                          : " --tokenizer TOKENIZER.json");
    std::string how = fmt::format("make random weights of this shape with `{}`{}", make,
                                  bloom_name ? "" : " (presets: `runner make-model --help`)");
    if (bloom_name)
      how += fmt::format(", or download the real ones: `huggingface-cli download bigscience/{} "
                         "--local-dir {}`", name, r.model.path);
    return how;
  }
  if (key == "model.tokenizer")
    return "copy the model's tokenizer.json there (from its HF repository), or set "
           "model.tokenizer";
  return "the LAMBADA test set ships as tests/data/lambada/lambada_test.jsonl";
}

std::vector<RunCheck> preflight(const JobSpec& job, int world_size) {
  Findings f;
  return check_job(job, world_size, f);
}

Inspection inspect_job(const JobSpec& job, int world_size, bool check_devices) {
  Inspection out;
  Findings f;
  f.collect = &out;
  f.check_devices = check_devices;
  out.runs = check_job(job, world_size, f);
  return out;
}

}  // namespace bloom

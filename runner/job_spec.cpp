// YAML job file parsing. Shape of a job file (jobs/README.md documents every key):
//   name, model.{path,dtype,backend,tokenizer,format}, dataset.{path,limit,max_tokens},
//   batch.{size,max_tokens},
//   parallelism.{tp,dp}, output.{path,resume,overwrite}, method, load.threads, sweep.
#include "runner/job_spec.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include <yaml-cpp/yaml.h>

#include "core/check.h"

namespace bloom {

namespace {

const std::vector<std::string> kKeys = {
    "name",           "model.path",       "model.dtype",    "model.backend",    "model.tokenizer",
    "dataset.path",   "dataset.limit",    "dataset.max_tokens", "batch.size",   "batch.max_tokens",
    "parallelism.tp", "parallelism.dp",   "output.path",    "output.resume",    "output.overwrite",
    "method",         "load.threads",     "model.format"};

constexpr int64_t kMaxLoadThreads = 256;

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j)
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] != b[j - 1])});
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

// The closest known key to `key`; with `sections`, section names ("model", "batch", ...) count too.
std::string suggestion(const std::string& key, bool sections = false) {
  std::vector<std::string> candidates = kKeys;
  if (sections)
    for (const std::string& k : kKeys) candidates.push_back(k.substr(0, k.find('.')));
  std::string best;
  size_t best_d = 4;
  for (const std::string& k : candidates) {
    const size_t d = std::min(edit_distance(key, k),
                              edit_distance(key.substr(key.rfind('.') + 1), k.substr(k.rfind('.') + 1)) +
                                  (key.substr(0, key.rfind('.') + 1) == k.substr(0, k.rfind('.') + 1) ? 0 : 3));
    if (d < best_d) {
      best_d = d;
      best = k;
    }
  }
  return best.empty() ? "" : fmt::format(" (did you mean '{}'?)", best);
}

std::string where(const std::string& origin, const YAML::Node& n) {
  const YAML::Mark m = n.Mark();
  if (m.line < 0) return origin;
  return fmt::format("{}:{}:{}", origin, m.line + 1, m.column + 1);
}

std::string expand_env(const std::string& s, const std::string& at) {
  static const std::regex re(R"(\$\{([A-Za-z_][A-Za-z0-9_]*)(:-([^}]*))?\})");
  std::string out;
  auto begin = std::sregex_iterator(s.begin(), s.end(), re);
  size_t last = 0;
  for (auto it = begin; it != std::sregex_iterator(); ++it) {
    const std::smatch& m = *it;
    out += s.substr(last, static_cast<size_t>(m.position(0)) - last);
    const char* v = std::getenv(m[1].str().c_str());
    if (v && *v) {
      out += v;
    } else if (m[2].matched) {
      out += m[3].str();
    } else {
      BLOOM_FAIL("{}: environment variable {} is not set (write ${{{}:-default}} for a default)",
                 at, m[1].str(), m[1].str());
    }
    last = static_cast<size_t>(m.position(0) + m.length(0));
  }
  return out + s.substr(last);
}

// Flattens a mapping into dotted keys -> scalar nodes, rejecting unknown keys.
void flatten(const YAML::Node& n, const std::string& prefix, const std::string& origin,
             std::map<std::string, YAML::Node>& out) {
  // YAML forbids repeated keys but yaml-cpp keeps both: a second `model:` section would be
  // merged into the first, a second value would win silently.
  std::map<std::string, int> seen;  // this mapping's keys -> line of the first
  for (auto it = n.begin(); it != n.end(); ++it) {
    BLOOM_CHECK(it->first.IsScalar(), "{}: keys must be plain names", where(origin, it->first));
    const std::string key = prefix + it->first.as<std::string>();
    const auto [first_seen, fresh] = seen.emplace(key, it->first.Mark().line + 1);
    BLOOM_CHECK(fresh, "{}: '{}' is given twice (first at line {})", where(origin, it->first), key,
                first_seen->second);
    if (key == "sweep") continue;
    if (it->second.IsMap()) {
      bool is_section = false;
      for (const std::string& k : kKeys) is_section |= k.rfind(key + ".", 0) == 0;
      BLOOM_CHECK(is_section, "{}: unknown key '{}'{}", where(origin, it->first), key,
                  suggestion(key, true));
      flatten(it->second, key + ".", origin, out);
      continue;
    }
    const bool known = std::find(kKeys.begin(), kKeys.end(), key) != kKeys.end();
    if (!known) {
      bool is_section = false;
      for (const std::string& k : kKeys) is_section |= k.rfind(key + ".", 0) == 0;
      BLOOM_CHECK(!is_section, "{}: '{}' must be a mapping (with keys such as {}.path)",
                  where(origin, it->first), key, key);
      BLOOM_FAIL("{}: unknown key '{}'{}", where(origin, it->first), key, suggestion(key, true));
    }
    BLOOM_CHECK(it->second.IsScalar(), "{}: '{}' must be a single value, not a list or mapping",
                where(origin, it->second), key);
    out[key] = it->second;
  }
}

// A swept value as a part of a run name, which is an HDF5 group name: a path gives its last
// component ("models/bloom-560m/" -> "bloom-560m"; two paths with one last component are
// refused as two runs of one name).
std::string name_part(std::string value) {
  while (value.size() > 1 && value.back() == '/') value.pop_back();
  const size_t slash = value.rfind('/');
  return slash == std::string::npos ? value : value.substr(slash + 1);
}

struct Value {
  std::string text;
  std::string at;  // file:line:col
};

int64_t as_int(const Value& v, const std::string& key, int64_t min,
               int64_t max = std::numeric_limits<int64_t>::max()) {
  int64_t x = 0;
  size_t used = 0;
  try {
    x = std::stoll(v.text, &used);
  } catch (...) {
    used = 0;
  }
  BLOOM_CHECK(used == v.text.size() && !v.text.empty(), "{}: {} must be an integer, got '{}'",
              v.at, key, v.text);
  BLOOM_CHECK(x >= min, "{}: {} must be >= {}, got {}", v.at, key, min, x);
  BLOOM_CHECK(x <= max, "{}: {} must be <= {}, got {}", v.at, key, max, x);
  return x;
}

bool as_bool(const Value& v, const std::string& key) {
  if (v.text == "true" || v.text == "True" || v.text == "yes") return true;
  if (v.text == "false" || v.text == "False" || v.text == "no") return false;
  BLOOM_FAIL("{}: {} must be true or false, got '{}'", v.at, key, v.text);
}

std::string one_of(const Value& v, const std::string& key, std::initializer_list<const char*> ok) {
  std::string list;
  for (const char* o : ok) {
    if (v.text == o) return v.text;
    list += (list.empty() ? "" : ", ") + std::string(o);
  }
  BLOOM_FAIL("{}: {} must be one of {}, got '{}'", v.at, key, list, v.text);
}

RunSpec make_run(const std::map<std::string, Value>& kv, const std::string& origin) {
  RunSpec r;
  auto get = [&](const std::string& k) -> const Value* {
    auto it = kv.find(k);
    return it == kv.end() ? nullptr : &it->second;
  };
  auto need = [&](const std::string& k) -> const Value& {
    const Value* v = get(k);
    BLOOM_CHECK(v && !v->text.empty(), "{}: missing required key '{}'", origin, k);
    return *v;
  };
  r.name = need("name").text;
  r.model.path = need("model.path").text;
  if (auto* v = get("model.dtype")) r.model.dtype = one_of(*v, "model.dtype", {"fp32", "fp16", "bf16", "fp8"});
  if (auto* v = get("model.backend")) r.model.backend = one_of(*v, "model.backend", {"cpu", "cuda"});
  if (auto* v = get("model.format"))
    r.model.format = one_of(*v, "model.format", {"auto", "safetensors", "bin", "ft"});
  r.model.tokenizer = get("model.tokenizer") ? get("model.tokenizer")->text
                                             : r.model.path + "/tokenizer.json";
  r.dataset.path = need("dataset.path").text;
  if (auto* v = get("dataset.limit")) r.dataset.limit = as_int(*v, "dataset.limit", 0);
  // A cut needs room for a target and some context (2 tokens); 0 keeps every passage whole.
  if (auto* v = get("dataset.max_tokens")) {
    r.dataset.max_tokens = as_int(*v, "dataset.max_tokens", 0);
    BLOOM_CHECK(r.dataset.max_tokens == 0 || r.dataset.max_tokens >= 2,
                "{}: dataset.max_tokens must be 0 (no cut) or >= 2, got {}", v->at,
                r.dataset.max_tokens);
  }
  if (auto* v = get("batch.size")) r.batch.size = as_int(*v, "batch.size", 1);
  if (auto* v = get("batch.max_tokens")) r.batch.max_tokens = as_int(*v, "batch.max_tokens", 0);
  if (auto* v = get("parallelism.tp")) r.parallelism.tp = as_int(*v, "parallelism.tp", 1);
  if (auto* v = get("parallelism.dp")) r.parallelism.dp = as_int(*v, "parallelism.dp", 0);
  r.output.path = need("output.path").text;
  if (auto* v = get("output.resume")) r.output.resume = as_bool(*v, "output.resume");
  if (auto* v = get("output.overwrite")) r.output.overwrite = as_bool(*v, "output.overwrite");
  BLOOM_CHECK(!(r.output.resume && r.output.overwrite), "{}: output.resume and output.overwrite "
              "exclude each other", origin);
  if (auto* v = get("method")) r.method = one_of(*v, "method", {"teacher_forced"});
  // Reading threads beyond a few hundred only contend for the file system (and each costs a
  // stack: 100000 of them exhaust the process).
  if (auto* v = get("load.threads"))
    r.load_threads = v->text == "auto" ? 0 : as_int(*v, "load.threads", 1, kMaxLoadThreads);
  return r;
}

// Overrides replace (or add) keys of the file; an override of a swept key removes that axis.
void apply_overrides(const std::vector<Override>& overrides, std::map<std::string, Value>& base,
                     std::vector<std::pair<std::string, std::vector<Value>>>& axes) {
  for (const Override& o : overrides) {
    BLOOM_CHECK(std::find(kKeys.begin(), kKeys.end(), o.key) != kKeys.end(), "{}: unknown key '{}'{}",
                o.origin, o.key, suggestion(o.key, true));
    base[o.key] = {expand_env(o.value, o.origin), o.origin};
    axes.erase(std::remove_if(axes.begin(), axes.end(), [&](const auto& axis) { return axis.first == o.key; }),
               axes.end());
  }
}

}  // namespace

const std::vector<std::string>& job_spec_keys() { return kKeys; }

JobSpec parse_job_spec(const std::string& text, const std::string& origin,
                       const std::vector<Override>& overrides) {
  YAML::Node root;
  try {
    // LoadAll: a second document (after `---`) must not be dropped silently, as Load would.
    // (Empty documents, such as a trailing `---`, hold nothing that could be lost.)
    std::vector<YAML::Node> docs;
    for (const YAML::Node& d : YAML::LoadAll(text))
      if (!d.IsNull()) docs.push_back(d);
    BLOOM_CHECK(docs.size() <= 1, "{}:{}: the job file holds {} YAML documents (`---` starts "
                "another): a job file is one document; put each job in a file of its own, or "
                "its variants in one `sweep:`", origin, docs.size() > 1 ? docs[1].Mark().line + 1 : 0,
                docs.size());
    if (!docs.empty()) root = docs[0];
  } catch (const YAML::Exception& e) {
    BLOOM_FAIL("{}:{}:{}: YAML syntax error: {}", origin, e.mark.line + 1, e.mark.column + 1, e.msg);
  }
  BLOOM_CHECK(root.IsMap(), "{}: a job file is a YAML mapping with keys such as name, model, "
              "dataset, output", origin);
  std::map<std::string, YAML::Node> nodes;
  flatten(root, "", origin, nodes);
  std::map<std::string, Value> base;
  for (const auto& [k, n] : nodes) {
    const std::string at = where(origin, n);
    base[k] = {expand_env(n.Scalar(), at), at};
  }

  // Sweep axes, in file order.
  std::vector<std::pair<std::string, std::vector<Value>>> axes;
  if (root["sweep"]) {
    const YAML::Node sw = root["sweep"];
    BLOOM_CHECK(sw.IsMap(), "{}: sweep must map dotted keys to lists of values", where(origin, sw));
    for (auto it = sw.begin(); it != sw.end(); ++it) {
      BLOOM_CHECK(it->first.IsScalar(), "{}: sweep keys must be plain dotted names such as "
                  "batch.size", where(origin, it->first));
      const std::string key = it->first.as<std::string>();
      const std::string at = where(origin, it->first);
      BLOOM_CHECK(std::find(kKeys.begin(), kKeys.end(), key) != kKeys.end() && key != "name",
                  "{}: unknown sweep key 'sweep.{}'{}", at, key, suggestion(key));
      for (const auto& axis : axes)
        BLOOM_CHECK(axis.first != key, "{}: sweep.{} is given twice", at, key);
      BLOOM_CHECK(it->second.IsSequence() && it->second.size() > 0,
                  "{}: sweep.{} must be a non-empty list of values", at, key);
      std::vector<Value> vals;
      // A copy: `it->second` lives in a proxy that dies before a range-for over it would run.
      const YAML::Node values = it->second;
      for (const YAML::Node& v : values) {
        BLOOM_CHECK(v.IsScalar(), "{}: sweep.{} values must be scalars", where(origin, v), key);
        vals.push_back({expand_env(v.Scalar(), where(origin, v)), where(origin, v)});
      }
      axes.push_back({key, std::move(vals)});
    }
  }

  apply_overrides(overrides, base, axes);

  // The product is expanded in memory: refuse absurd sweeps instead of exhausting it.
  constexpr size_t kMaxRuns = 10000;
  size_t n_runs = 1;
  for (const auto& axis : axes) {
    n_runs = std::min(n_runs * axis.second.size(), kMaxRuns + 1);
  }
  BLOOM_CHECK(n_runs <= kMaxRuns, "{}: the sweep makes more than {} runs; split it into several jobs",
              origin, kMaxRuns);

  JobSpec job;
  job.source_path = origin;
  job.source_text = text;
  std::string last;  // --overwrite and --resume give two overrides each: name the option once
  for (const Override& o : overrides) {
    if (o.origin != last) job.overrides += (job.overrides.empty() ? "" : " ") + o.origin;
    last = o.origin;
  }
  auto name_it = base.find("name");
  BLOOM_CHECK(name_it != base.end() && !name_it->second.text.empty(), "{}: missing required key 'name'",
              origin);
  job.name = name_it->second.text;
  BLOOM_CHECK(job.name.find('/') == std::string::npos, "{}: name must not contain '/'",
              name_it->second.at);
  // "." and ".." name the group itself and its parent in HDF5 paths: no run can be stored so.
  BLOOM_CHECK(job.name != "." && job.name != "..", "{}: name must not be '{}' (it names a group "
              "in the results file)", name_it->second.at, job.name);
  // Cartesian product, the last axis varying fastest.
  std::vector<size_t> pos(axes.size(), 0);
  std::set<std::string> seen;
  while (true) {
    std::map<std::string, Value> kv = base;
    std::string run_name = axes.empty() ? job.name : "";
    std::vector<std::pair<std::string, std::string>> point;
    for (size_t a = 0; a < axes.size(); ++a) {
      const Value& v = axes[a].second[pos[a]];
      kv[axes[a].first] = v;
      point.push_back({axes[a].first, v.text});
      run_name += (a ? "," : "") + axes[a].first.substr(axes[a].first.rfind('.') + 1) + "=" +
                  name_part(v.text);
    }
    RunSpec r = make_run(kv, origin);
    r.name = run_name;
    r.sweep_values = point;
    r.yaml = resolved_spec(r);
    BLOOM_CHECK(seen.insert(r.name).second, "{}: sweep gives two runs named '{}'", origin, r.name);
    job.runs.push_back(std::move(r));
    size_t a = axes.size();
    while (a > 0 && ++pos[a - 1] == axes[a - 1].second.size()) pos[--a] = 0;
    if (a == 0) break;
  }
  // Runs of one job share its output file.
  for (const RunSpec& r : job.runs)
    BLOOM_CHECK(r.output.path == job.runs[0].output.path, "{}: output.path cannot be swept", origin);
  return job;
}

std::string job_file_problem(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0)
    return errno == ENOENT ? fmt::format("job file '{}' does not exist", path)
                           : fmt::format("job file '{}' cannot be read: {}", path, std::strerror(errno));
  if (S_ISDIR(st.st_mode)) return fmt::format("job file '{}' is a directory, not a YAML file", path);
  // Opening a FIFO blocks until someone writes to it; under mpirun every rank reads the job
  // file, and a pipe can be read once.
  if (!S_ISREG(st.st_mode))
    return fmt::format("job file '{}' is {}, not a regular file: every rank reads the job file, so "
                       "write it to a file first", path,
                       S_ISFIFO(st.st_mode) ? "a named pipe (FIFO)"
                       : S_ISSOCK(st.st_mode) ? "a socket" : "a device");
  if (::access(path.c_str(), R_OK) != 0)
    return fmt::format("job file '{}' cannot be read: {}", path, std::strerror(errno));
  return "";
}

JobSpec load_job_spec(const std::string& path, const std::vector<Override>& overrides) {
  const std::string problem = job_file_problem(path);
  BLOOM_CHECK(problem.empty(), "{}", problem);
  std::ifstream in(path, std::ios::binary);
  BLOOM_CHECK(in.good(), "cannot open job file '{}'", path);
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_job_spec(ss.str(), path, overrides);
}

Override parse_set_option(const std::string& text) {
  const size_t eq = text.find('=');
  BLOOM_CHECK(eq != std::string::npos && eq > 0,
              "--set {}: expected KEY=VALUE with a dotted job key, e.g. --set batch.size=32", text);
  return {text.substr(0, eq), text.substr(eq + 1), "--set " + text};
}

std::string absolute_path(const std::string& path) {
  if (path.empty()) return path;
  std::error_code ec;
  const std::filesystem::path p = std::filesystem::absolute(path, ec);
  if (ec) return path;
  std::string out = p.lexically_normal().string();
  if (out.size() > 1 && out.back() == '/') out.pop_back();  // "/x/." normalises to "/x/"
  return out;
}

std::string resolved_spec(const RunSpec& r) {
  YAML::Emitter e;
  e << YAML::BeginMap;
  e << YAML::Key << "name" << YAML::Value << r.name;
  e << YAML::Key << "model" << YAML::Value << YAML::BeginMap
    << YAML::Key << "path" << YAML::Value << absolute_path(r.model.path)
    << YAML::Key << "dtype" << YAML::Value << r.model.dtype
    << YAML::Key << "backend" << YAML::Value << r.model.backend
    << YAML::Key << "tokenizer" << YAML::Value << absolute_path(r.model.tokenizer) << YAML::EndMap;
  e << YAML::Key << "dataset" << YAML::Value << YAML::BeginMap
    << YAML::Key << "path" << YAML::Value << absolute_path(r.dataset.path)
    << YAML::Key << "limit" << YAML::Value << r.dataset.limit << YAML::EndMap;
  e << YAML::Key << "batch" << YAML::Value << YAML::BeginMap
    << YAML::Key << "size" << YAML::Value << r.batch.size
    << YAML::Key << "max_tokens" << YAML::Value << r.batch.max_tokens << YAML::EndMap;
  e << YAML::Key << "parallelism" << YAML::Value << YAML::BeginMap
    << YAML::Key << "tp" << YAML::Value << r.parallelism.tp
    << YAML::Key << "dp" << YAML::Value << r.parallelism.dp << YAML::EndMap;
  e << YAML::Key << "output" << YAML::Value << YAML::BeginMap
    << YAML::Key << "path" << YAML::Value << absolute_path(r.output.path)
    << YAML::Key << "resume" << YAML::Value << r.output.resume
    << YAML::Key << "overwrite" << YAML::Value << r.output.overwrite << YAML::EndMap;
  e << YAML::Key << "method" << YAML::Value << r.method;
  e << YAML::Key << "load" << YAML::Value << YAML::BeginMap
    << YAML::Key << "threads" << YAML::Value
    << (r.load_threads > 0 ? std::to_string(r.load_threads) : std::string("auto")) << YAML::EndMap;
  e << YAML::EndMap;
  return std::string(e.c_str()) + "\n";
}

}  // namespace bloom

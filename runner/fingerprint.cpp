// Fingerprints (see fingerprint.h): OpenSSL's EVP sha256 over files and strings.
#include "runner/fingerprint.h"

#include <openssl/evp.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>

#include "core/check.h"
#include "runner/job_spec.h"

namespace bloom {

namespace fs = std::filesystem;

namespace {

class Sha256 {
 public:
  Sha256() : ctx_(EVP_MD_CTX_new(), EVP_MD_CTX_free) {
    BLOOM_CHECK(ctx_ && EVP_DigestInit_ex(ctx_.get(), EVP_sha256(), nullptr) == 1,
                "sha256: OpenSSL could not start a digest");
  }
  void add(const void* p, size_t n) { EVP_DigestUpdate(ctx_.get(), p, n); }
  void add(const std::string& s) { add(s.data(), s.size()); }
  std::string hex() {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_DigestFinal_ex(ctx_.get(), md, &len);
    static const char* digits = "0123456789abcdef";
    std::string out;
    for (unsigned int i = 0; i < len; ++i) {
      out += digits[md[i] >> 4];
      out += digits[md[i] & 15];
    }
    return out;
  }

 private:
  std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)> ctx_;
};

// sha256 of `n` bytes of `path` from `offset`.
std::string sha256_range(const std::string& path, uint64_t offset, uint64_t n) {
  std::ifstream in(path, std::ios::binary);
  BLOOM_CHECK(in.good(), "cannot read '{}': {}", path, std::strerror(errno));
  in.seekg(static_cast<std::streamoff>(offset));
  Sha256 h;
  std::vector<char> buf(1 << 16);
  while (n > 0 && in) {
    in.read(buf.data(), static_cast<std::streamsize>(std::min<uint64_t>(n, buf.size())));
    const auto got = in.gcount();
    if (got <= 0) break;
    h.add(buf.data(), static_cast<size_t>(got));
    n -= static_cast<uint64_t>(got);
  }
  BLOOM_CHECK(n == 0, "cannot read '{}': it ended early", path);
  return h.hex();
}

bool is_config_or_tokenizer(const std::string& name) {
  return name == "config.json" || name == "config.ini" || name.rfind("tokenizer", 0) == 0 ||
         name == "special_tokens_map.json" || name == "generation_config.json";
}

}  // namespace

std::string sha256_file(const std::string& path) {
  std::error_code ec;
  const uint64_t size = fs::file_size(path, ec);
  BLOOM_CHECK(!ec, "cannot read '{}': {}", path, ec.message());
  return sha256_range(path, 0, size);
}

std::string sha256_text(const std::string& text) {
  Sha256 h;
  h.add(text);
  return h.hex();
}

std::string fingerprint_weights(const std::string& model_path) {
  constexpr uint64_t kEdge = 64 * 1024;
  const fs::path root = fs::is_directory(model_path) ? fs::path(model_path)
                                                     : fs::path(model_path).parent_path();
  std::vector<fs::path> files;
  for (const auto& e : fs::recursive_directory_iterator(root)) {
    if (!e.is_regular_file()) continue;
    if (is_config_or_tokenizer(e.path().filename().string())) continue;
    files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  Sha256 h;
  for (const fs::path& f : files) {
    const uint64_t size = fs::file_size(f);
    h.add(fs::relative(f, root).generic_string() + "\n" + std::to_string(size) + "\n");
    h.add(sha256_range(f.string(), 0, std::min(size, kEdge)));
    if (size > kEdge) h.add(sha256_range(f.string(), size - std::min(size - kEdge, kEdge), std::min(size - kEdge, kEdge)));
  }
  return h.hex();
}

Fingerprints fingerprint_inputs(const RunSpec& r) {
  Fingerprints f;
  const fs::path model(r.model.path);
  fs::path config = model / "config.json";
  if (!fs::exists(config) && fs::exists(model / "config.ini")) config = model / "config.ini";
  if (fs::exists(config)) f.config = sha256_file(config.string());
  f.tokenizer = sha256_file(r.model.tokenizer);
  f.dataset = sha256_file(r.dataset.path);
  f.weights = fingerprint_weights(r.model.path);
  return f;
}

std::vector<std::pair<std::string, std::string>> Fingerprints::items() const {
  return {{"config_sha256", config},
          {"tokenizer_sha256", tokenizer},
          {"dataset_sha256", dataset},
          {"weights_fingerprint", weights}};
}

std::string describe_differences(const Fingerprints& a, const Fingerprints& b) {
  std::string out;
  const auto ia = a.items(), ib = b.items();
  for (size_t i = 0; i < ia.size(); ++i) {
    if (ia[i].second == ib[i].second) continue;
    if (!out.empty()) out += ", ";
    out += fmt::format("{} ({:.12} vs {:.12})", ia[i].first, ia[i].second, ib[i].second);
  }
  return out;
}

}  // namespace bloom

// Fingerprints of inputs: sha256 against the FIPS 180-2 test vectors, and the weights
// fingerprint moving with what it promises to see (a header byte, the size, a file added) and
// not with what it leaves to the other fields (config, tokenizer).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "runner/fingerprint.h"

namespace bloom {
namespace {

namespace fs = std::filesystem;

TEST(Fingerprint, Sha256KnownVectors) {
  EXPECT_EQ(sha256_text("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256_text(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

void write(const fs::path& p, const std::string& bytes) {
  std::ofstream(p, std::ios::binary) << bytes;
}

TEST(Fingerprint, WeightsSeeHeadersSizesAndFilesOnly) {
  const fs::path dir = fs::temp_directory_path() / "bloom_fingerprint_test";
  fs::remove_all(dir);
  fs::create_directories(dir);
  std::string big(200 * 1024, 'x');
  write(dir / "model.safetensors", big);
  write(dir / "config.json", "{}");
  write(dir / "tokenizer.json", "{}");
  EXPECT_EQ(sha256_file((dir / "config.json").string()), sha256_text("{}"));
  const std::string base = fingerprint_weights(dir.string());
  write(dir / "tokenizer.json", "{\"changed\": 1}");
  write(dir / "config.json", "{\"changed\": 1}");
  EXPECT_EQ(fingerprint_weights(dir.string()), base);  // those have fingerprints of their own
  big[10] = 'y';                                       // the header region
  write(dir / "model.safetensors", big);
  const std::string header_changed = fingerprint_weights(dir.string());
  EXPECT_NE(header_changed, base);
  big[big.size() - 10] = 'z';                          // the tail (zip directories live there)
  write(dir / "model.safetensors", big);
  EXPECT_NE(fingerprint_weights(dir.string()), header_changed);
  write(dir / "model.safetensors", big + "!");          // the size
  const std::string longer = fingerprint_weights(dir.string());
  EXPECT_NE(longer, header_changed);
  write(dir / "extra.bin", "1");                        // a file more
  EXPECT_NE(fingerprint_weights(dir.string()), longer);
  EXPECT_THROW(sha256_file((dir / "absent").string()), std::exception);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace bloom

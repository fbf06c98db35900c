// The torch.save, zipfile and pickle files the io/ reader tests read, made by
// tests/io/make_io_fixtures.py with the real writers (torch, zipfile, pickle); see that script
// for what each file is. Made once into the build folder (CTest runs every test case as its own
// process) and made again when the script changes; concurrent test processes race safely: each
// writes a private folder and renames it into place, the first rename wins.
#pragma once

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

namespace bloom::io::fixtures {

/// The folder holding the fixtures; empty (after a test failure) if the script failed.
inline const std::string& io_fixture_dir() {
  static const std::string dir = [] {
    namespace fs = std::filesystem;
    const std::string script = std::string(BLOOM_SOURCE_DIR) + "/tests/io/make_io_fixtures.py";
    std::ifstream in(script);
    std::stringstream text;
    text << in.rdbuf();
    const std::string stamp = std::to_string(std::hash<std::string>{}(text.str()));
    const fs::path d = fs::path(BLOOM_BINARY_DIR) / "tests" / "io_fixtures";
    std::ifstream have((d / "stamp").string());
    std::string got;
    if (have >> got && got == stamp) return d.string();
    const fs::path tmp = d.string() + ".tmp" + std::to_string(::getpid());
    fs::remove_all(tmp);
    // The hostile pickles would create <dir>/pwned (the final folder, not this temporary one).
    const std::string cmd = "python3 " + script + " " + tmp.string() + " " + (d / "pwned").string();
    if (std::system(cmd.c_str()) != 0) {
      ADD_FAILURE() << "failed: " << cmd;
      return std::string();
    }
    std::ofstream(tmp / "stamp") << stamp;
    std::ifstream now((d / "stamp").string());
    std::error_code ec;
    if (!(now >> got && got == stamp)) {  // stale or absent (else another process was first)
      fs::remove_all(d, ec);
      fs::rename(tmp, d, ec);
    }
    fs::remove_all(tmp, ec);
    return d.string();
  }();
  return dir;
}

inline std::string io_fixture(const std::string& name) { return io_fixture_dir() + "/" + name; }

}  // namespace bloom::io::fixtures

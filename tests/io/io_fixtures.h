// The torch.save, zipfile and pickle files the io/ reader tests read, made once per test process
// by tests/io/make_io_fixtures.py with the real writers (torch, zipfile, pickle) into a temporary
// folder; see that script for what each file is.
#pragma once

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include <gtest/gtest.h>

namespace bloom::io::fixtures {

/// The folder holding the fixtures; empty (after a test failure) if the script failed.
inline const std::string& io_fixture_dir() {
  static const std::string dir = [] {
    const std::string d = (std::filesystem::temp_directory_path() /
                           ("bloom_io_fixtures_" + std::to_string(::getpid())))
                              .string();
    const std::string cmd = "python3 " + std::string(BLOOM_SOURCE_DIR) +
                            "/tests/io/make_io_fixtures.py " + d;
    if (std::system(cmd.c_str()) != 0) {
      ADD_FAILURE() << "failed: " << cmd;
      return std::string();
    }
    std::atexit([] { std::filesystem::remove_all(io_fixture_dir()); });
    return d;
  }();
  return dir;
}

inline std::string io_fixture(const std::string& name) { return io_fixture_dir() + "/" + name; }

}  // namespace bloom::io::fixtures

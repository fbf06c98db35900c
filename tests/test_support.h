// Shared by the C++ tests: the message of the bloom::Error a call throws (a test of a refusal
// checks what it says), whether a GPU is there (CUDA tests skip without one), and a fresh
// temporary folder per test.
#pragma once

#include <unistd.h>

#include <filesystem>
#include <functional>
#include <string>

#include <gtest/gtest.h>

#include "core/check.h"
#include "core/context.h"

namespace bloom::testing {

/// The message of the bloom::Error f throws; a test failure (and "") when it throws none.
inline std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "no bloom::Error thrown";
  return "";
}

/// Whether a CUDA context can be made here (a CUDA build and a device); asked once.
inline bool gpu_present() {
  static const bool present = [] {
    try {
      Context c(Device::CUDA);
      return true;
    } catch (const Error&) {
      return false;
    }
  }();
  return present;
}

/// A fresh folder per test (named after it), removed afterwards.
class TempDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = std::filesystem::temp_directory_path() /
           (std::string("bloom_") + info->test_suite_name() + "_" + info->name() + "_" +
            std::to_string(::getpid()));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }

  std::filesystem::path dir_;
};

}  // namespace bloom::testing

/// Expects `stmt` to throw a bloom::Error whose message contains `part`.
#define EXPECT_ERROR_HAS(stmt, part)                                                 \
  do {                                                                               \
    const std::string bloom_msg_ = ::bloom::testing::error_of([&] { stmt; });        \
    EXPECT_NE(bloom_msg_.find(part), std::string::npos) << (part) << " not in: " << bloom_msg_; \
  } while (0)

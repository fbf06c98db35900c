// Tests of the integrity of results files (io/results_integrity.h, io/results_verify.cpp):
// CRC-32 against the standard check value, then damage made in the bytes of a real file (a
// prediction chunk, a target id in HDF5's global heap, a string attribute, a done flag) found
// by what the writer wrote there; each must be refused by verify() and by an open, naming what
// is damaged, and never read as data. The child-process read turns a crash and a hang into
// "damaged" errors.
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <vector>

#include <gtest/gtest.h>

#include "core/check.h"
#include "tests/test_support.h"
#include "io/hdf5_util.h"
#include "io/results_file.h"
#include "io/results_integrity.h"

namespace bloom::io {
namespace {

namespace fs = std::filesystem;

class ResultsIntegrityTest : public bloom::testing::TempDirTest {
 protected:
  void SetUp() override {
    TempDirTest::SetUp();
    path_ = path("job.h5");
  }

  // A finished file: 6 passages, the target ids distinctive (0x5A5A0000 + ...), run attribute
  // model = kModel.
  void write_file(bool finish = true) {
    ResultsFile w(path_, OpenMode::CreateNew, "v", "name: job\n");
    RunAttributes a;
    a.model = kModel;
    w.begin_run("a", 6, a);
    std::vector<PassageResult> rows;
    for (int64_t i = 0; i < 6; ++i) {
      PassageResult r;
      r.index = i;
      r.correct = i % 2 == 0;
      r.target_logprob = -1.0 - 0.5 * static_cast<double>(i);
      r.context_len = static_cast<int32_t>(30 + i);
      r.target_ids = {static_cast<int32_t>(0x5A5A0000 + 16 * i), static_cast<int32_t>(0x5A5A0001 + 16 * i)};
      r.predicted_ids = r.correct ? r.target_ids : std::vector<int32_t>{7, 8};
      rows.push_back(r);
    }
    w.write_predictions("a", {0, 1, 2}, {rows[0], rows[1], rows[2]});
    w.write_predictions("a", {3, 4, 5}, {rows[3], rows[4], rows[5]});
    if (!finish) return;
    a.n_correct = 3;
    a.accuracy = 0.5;
    a.token_perplexity = 4.0;
    w.finish_run("a", a);
    w.set_complete(true);
  }

  std::string bytes() const {
    std::ifstream in(path_, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  void put_bytes(const std::string& data) const {
    std::ofstream(path_, std::ios::binary | std::ios::trunc) << data;
  }
  // Flips every bit of `n` bytes at `offset`.
  void flip(size_t offset, size_t n) const {
    std::string data = bytes();
    ASSERT_LE(offset + n, data.size());
    for (size_t i = offset; i < offset + n; ++i) data[i] = static_cast<char>(~data[i]);
    put_bytes(data);
  }
  // The file offset of the first chunk of /runs/a/predictions/<column>.
  haddr_t chunk_offset(const std::string& column) const {
    h5::quiet_errors();
    h5::Handle f(H5Fopen(path_.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
    h5::Handle d = h5::open_dataset(f.get(), "runs/a/predictions/" + column);
    hsize_t origin[1] = {0};
    unsigned mask = 0;
    haddr_t addr = HADDR_UNDEF;
    hsize_t size = 0;
    EXPECT_GE(H5Dget_chunk_info_by_coord(d.get(), origin, &mask, &addr, &size), 0);
    return addr;
  }

  static constexpr const char* kModel = "models/bloom-integrity-test-model";
  std::string path_;
};

// The error of `body` (empty when none was thrown).
std::string error_of(const std::function<void()>& body) {
  try {
    body();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

void expect_refused(const std::string& path, const std::vector<std::string>& parts) {
  for (const auto& open : std::vector<std::function<void()>>{
           [&] { ResultsFile::verify(path, true); },
           [&] { ResultsFile r(path, OpenMode::ReadOnly, "", ""); r.read_predictions("a"); },
           [&] { ResultsFile w(path, OpenMode::Resume, "v", "spec"); }}) {
    const std::string message = error_of(open);
    ASSERT_FALSE(message.empty()) << "damage not detected";
    SCOPED_TRACE(message);
    for (const std::string& part : parts) EXPECT_NE(message.find(part), std::string::npos) << message;
  }
}

TEST(Crc32, StandardCheckValue) {
  // CRC-32/ISO-HDLC (zlib's) of "123456789" is 0xCBF43926.
  EXPECT_EQ(integrity::crc32("123456789", 9), 0xCBF43926u);
  EXPECT_EQ(integrity::crc32("56789", 5, integrity::crc32("1234", 4)), 0xCBF43926u);
  EXPECT_EQ(integrity::crc32("", 0), 0u);
}

TEST_F(ResultsIntegrityTest, IntactFileVerifies) {
  write_file();
  const VerifySummary s = ResultsFile::verify(path_, true);
  EXPECT_EQ(s.n_runs, 1);
  EXPECT_EQ(s.n_complete_runs, 1);
  EXPECT_EQ(s.n_rows, 6);
  EXPECT_EQ(s.n_done_rows, 6);
  EXPECT_TRUE(s.checksummed);
  ResultsFile r(path_, OpenMode::ReadOnly, "", "");
  EXPECT_EQ(r.read_predictions("a")[4].target_ids[1], 0x5A5A0041);
}

TEST_F(ResultsIntegrityTest, DamagedChunkIsRefused) {
  write_file();
  const haddr_t at = chunk_offset("target_logprob");
  ASSERT_NE(at, HADDR_UNDEF);
  std::string data = bytes();
  data[static_cast<size_t>(at) + 15] ^= 0x01;  // row 1's value, -1.5 -> -1.5000000000000004
  put_bytes(data);
  expect_refused(path_, {path_, "target_logprob"});
}

TEST_F(ResultsIntegrityTest, WhatFletcher32MissesTheRowChecksumCatches) {
  // Fletcher-32 sums 16-bit words modulo 65535, so 0x0000 and 0xFFFF are the same to it: the
  // four zero bytes of -1.5 (0xBFF8000000000000) turned to 0xFF read without complaint.
  write_file();
  flip(static_cast<size_t>(chunk_offset("target_logprob")) + 8, 4);
  expect_refused(path_, {path_, "row 1 of run 'a' does not match its checksum"});
}

TEST_F(ResultsIntegrityTest, DamagedDoneFlagIsRefused) {
  write_file(/*finish=*/false);
  flip(static_cast<size_t>(chunk_offset("done")) + 2, 1);
  expect_refused(path_, {path_, "done"});
}

TEST_F(ResultsIntegrityTest, DamagedIdInTheGlobalHeapIsRefused) {
  write_file();
  std::string data = bytes();
  const int32_t id = 0x5A5A0031;  // row 3's second target id
  const size_t at = data.find(std::string(reinterpret_cast<const char*>(&id), 4));
  ASSERT_NE(at, std::string::npos);
  data[at] ^= 0x01;  // a valid id still, just another one
  put_bytes(data);
  expect_refused(path_, {path_, "row 3 of run 'a' does not match its checksum"});
}

TEST_F(ResultsIntegrityTest, DamagedAttributeIsRefused) {
  write_file();
  std::string data = bytes();
  // Every copy (the heap keeps the strings of attributes written before, too).
  size_t copies = 0;
  for (size_t at = data.find(kModel); at != std::string::npos; at = data.find(kModel, at + 1), ++copies)
    data[at + 7] = 'X';
  ASSERT_GT(copies, 0u);
  put_bytes(data);
  expect_refused(path_, {path_, "attributes of run 'a' do not match their checksum"});
}

TEST_F(ResultsIntegrityTest, RefusedResumeLeavesTheFileAsItWas) {
  write_file(/*finish=*/false);
  flip(static_cast<size_t>(chunk_offset("target_logprob")) + 8, 4);
  const std::string before = bytes();
  EXPECT_FALSE(error_of([&] { ResultsFile w(path_, OpenMode::Resume, "v", "spec"); }).empty());
  EXPECT_EQ(bytes(), before);
  EXPECT_FALSE(fs::exists(path_ + ".lock"));
}

TEST_F(ResultsIntegrityTest, FileWithoutChecksumsIsReadButNotResumed) {
  write_file();
  {  // As a runner before checksums wrote it: no checksum column, no attribute checksums.
    h5::Handle f(H5Fopen(path_.c_str(), H5F_ACC_RDWR, H5P_DEFAULT), H5Fclose);
    ASSERT_GE(H5Ldelete(f.get(), "runs/a/predictions/checksum", H5P_DEFAULT), 0);
    ASSERT_GE(H5Adelete(f.get(), integrity::kAttributesChecksum), 0);
    h5::Handle run = h5::open_group(f.get(), "runs/a");
    ASSERT_GE(H5Adelete(run.get(), integrity::kAttributesChecksum), 0);
  }
  EXPECT_FALSE(ResultsFile::verify(path_, false).checksummed);
  ResultsFile r(path_, OpenMode::ReadOnly, "", "");
  EXPECT_EQ(r.read_predictions("a").size(), 6u);
  const std::string message = error_of([&] { ResultsFile w(path_, OpenMode::Resume, "v", "spec"); });
  EXPECT_NE(message.find("cannot be verified"), std::string::npos) << message;
}

TEST_F(ResultsIntegrityTest, NonFiniteValuesAreNeverWritten) {
  ResultsFile w(path_, OpenMode::CreateNew, "v", "spec");
  w.begin_run("a", 2, RunAttributes());
  PassageResult bad;
  bad.target_logprob = std::nan("");
  bad.target_ids = bad.predicted_ids = {1};
  PassageResult good = bad;
  good.target_logprob = -2.0;
  std::string message = error_of([&] { w.write_predictions("a", {0, 1}, {good, bad}); });
  EXPECT_NE(message.find("row 1"), std::string::npos) << message;
  EXPECT_NE(message.find("non-finite target_logprob"), std::string::npos) << message;
  EXPECT_EQ(w.done_rows("a"), (std::vector<uint8_t>{0, 0}));  // not even the good row
  w.write_predictions("a", {0, 1}, {good, good});
  RunAttributes a;
  a.token_perplexity = std::nan("");
  message = error_of([&] { w.finish_run("a", a); });
  EXPECT_NE(message.find("token_perplexity is nan"), std::string::npos) << message;
  a.token_perplexity = 1.0;
  a.accuracy = std::numeric_limits<double>::infinity();
  message = error_of([&] { w.finish_run("a", a); });
  EXPECT_NE(message.find("accuracy is inf"), std::string::npos) << message;
  a.accuracy = 0.5;
  a.extra_numbers["stderr"] = std::nan("");
  message = error_of([&] { w.finish_run("a", a); });
  EXPECT_NE(message.find("stderr is nan"), std::string::npos) << message;
  EXPECT_FALSE(w.run_complete("a"));
}

// A file whose damaged global heap makes HDF5 1.10 loop forever (tests/data/results-damaged):
// a resume is refused as damaged within the time limit BLOOM_VERIFY_TIMEOUT_S sets (a newer
// HDF5 fails at once instead: also a "damaged" refusal), and the file is left as it was.
TEST_F(ResultsIntegrityTest, FileHdf5CannotReadIsRefusedWithinTheTimeLimit) {
  fs::copy_file(std::string(BLOOM_SOURCE_DIR) + "/tests/data/results-damaged/heap-loop.h5", path_);
  const std::string before = bytes();
  setenv("BLOOM_VERIFY_TIMEOUT_S", "2", 1);
  const auto t0 = std::chrono::steady_clock::now();
  const std::string message = error_of([&] { ResultsFile w(path_, OpenMode::Resume, "v", "spec"); });
  const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  unsetenv("BLOOM_VERIFY_TIMEOUT_S");
  EXPECT_NE(message.find("results file '" + path_ + "' is damaged"), std::string::npos) << message;
  EXPECT_LT(took, 20.0) << message;
  EXPECT_EQ(bytes(), before);
  setenv("BLOOM_VERIFY_TIMEOUT_S", "soon", 1);
  EXPECT_NE(error_of([&] { ResultsFile r(path_, OpenMode::ReadOnly, "", ""); })
                .find("BLOOM_VERIFY_TIMEOUT_S='soon' is not a positive number of seconds"),
            std::string::npos);
  unsetenv("BLOOM_VERIFY_TIMEOUT_S");
}

TEST(RunIsolated, PassesErrorsAndNamesCrashesAndHangs) {
  EXPECT_EQ(error_of([] { integrity::run_isolated("f.h5", [] {}, 5); }), "");
  std::string message = error_of([] {
    integrity::run_isolated("f.h5", [] { BLOOM_FAIL("the child's own words"); }, 5);
  });
  EXPECT_NE(message.find("the child's own words"), std::string::npos) << message;
  message = error_of([] { integrity::run_isolated("f.h5", [] { raise(SIGSEGV); }, 5); });
  EXPECT_NE(message.find("'f.h5' is damaged: reading it made the HDF5 library fail (killed by signal 11)"),
            std::string::npos) << message;
  if (integrity::memory_limit_applies()) {
    message = error_of([] {
      integrity::run_isolated("f.h5", [] { std::vector<char> huge(size_t{8} << 30, 1); (void)huge; },
                              30, uint64_t{1} << 30);
    });
    EXPECT_NE(message.find("'f.h5' is damaged"), std::string::npos) << message;
  }
  message = error_of([] { integrity::run_isolated("f.h5", [] { for (;;) pause(); }, 0.5); });
  EXPECT_NE(message.find("did not finish within"), std::string::npos) << message;
}

}  // namespace
}  // namespace bloom::io

// Tests for io/zip_archive: archives written by Python's zipfile (stored and deflated entries)
// and a sparse ZIP64 archive checked with zipfile (tests/io/make_io_fixtures.py); damaged
// directories made here from a valid archive, each refused with the file named, never a read
// outside the file.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "core/check.h"
#include "tests/test_support.h"
#include "io/zip_archive.h"
#include "tests/io/io_fixtures.h"

namespace bloom::io {
namespace {

using fixtures::io_fixture;
namespace fs = std::filesystem;

using ::bloom::testing::error_of;

std::string entry_text(const ZipArchive& z, const std::string& name) {
  const ZipEntry* e = z.find(name);
  EXPECT_NE(e, nullptr) << name;
  if (!e) return "";
  return std::string(reinterpret_cast<const char*>(z.stored_data(*e)), e->size);
}

TEST(ZipArchive, StoredEntriesInPlaceDeflatedRefused) {
  const ZipArchive z = ZipArchive::open(io_fixture("stored.zip"));
  ASSERT_EQ(z.entries().size(), 2u);
  EXPECT_EQ(entry_text(z, "dir/stored.txt"), "stored bytes");
  const ZipEntry* d = z.find("deflated.txt");
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->method, 8);
  EXPECT_EQ(d->size, 180u);
  const std::string msg = error_of([&] { z.stored_data(*d); });
  EXPECT_NE(msg.find("deflated.txt is compressed (zip method 8)"), std::string::npos) << msg;
  EXPECT_EQ(z.find("nope"), nullptr);
}

TEST(ZipArchive, Zip64OffsetsBeyondFourGiB) {
  const ZipArchive z = ZipArchive::open(io_fixture("zip64.zip"));
  EXPECT_EQ(entry_text(z, "small"), "near");
  EXPECT_EQ(entry_text(z, "far"), "far away bytes");
  EXPECT_GT(z.find("far")->data_offset, uint64_t{5} << 30);
}

class DamagedZip : public ::testing::Test {
 protected:
  void SetUp() override {
    std::ifstream in(io_fixture("stored.zip"), std::ios::binary);
    good_.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    path_ = (fs::temp_directory_path() / ("bloom_damaged_" + std::to_string(::getpid()) + ".zip")).string();
  }
  void TearDown() override { fs::remove(path_); }
  // Writes good_ changed by edit, expects open to fail with each part in the message.
  void expect_refused(const std::function<void(std::string&)>& edit,
                      const std::vector<std::string>& parts) {
    std::string bytes = good_;
    edit(bytes);
    std::ofstream(path_, std::ios::binary) << bytes;
    const std::string msg = error_of([&] { ZipArchive::open(path_); });
    EXPECT_NE(msg.find(path_), std::string::npos) << msg;
    for (const auto& p : parts) EXPECT_NE(msg.find(p), std::string::npos) << p << " not in " << msg;
  }
  size_t eocd() const { return good_.rfind("PK\x05\x06"); }
  size_t central() const { return good_.find("PK\x01\x02"); }
  static void put32(std::string& b, size_t at, uint32_t v) {
    for (int i = 0; i < 4; ++i) b[at + i] = static_cast<char>(v >> (8 * i));
  }

  std::string good_, path_;
};

TEST_F(DamagedZip, EachDamageIsNamed) {
  expect_refused([](std::string& b) { b.resize(b.size() / 2); }, {"end-of-central-directory"});
  expect_refused([](std::string& b) { b.resize(10); }, {"too short"});
  expect_refused([&](std::string& b) { b[central()] = 'X'; }, {"entry 0 of 2", "no valid header"});
  expect_refused([&](std::string& b) { put32(b, eocd() + 16, 0x7fffffff); },
                 {"does not lie before"});
  expect_refused([&](std::string& b) { put32(b, central() + 42, 0x0fffffff); },
                 {"dir/stored.txt", "no local header"});
  expect_refused([&](std::string& b) { put32(b, central() + 20, 0x0fffffff); },
                 {"dir/stored.txt", "run past the end"});
  expect_refused([&](std::string& b) { b[eocd() + 10] = 50; }, {"claims 50 entries"});
  expect_refused([&](std::string& b) { put32(b, central() + 20, 0xffffffff); },
                 {"no ZIP64 extra field"});
  // A local header naming another entry.
  expect_refused([&](std::string& b) { b[30] = 'X'; }, {"names another entry"});
}

}  // namespace
}  // namespace bloom::io

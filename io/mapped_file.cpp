// MappedFile (mmap of a whole file) and read_mapped (block conversion out of a mapping).
#include "io/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include "core/check.h"

namespace bloom::io {

namespace {

// Reads at least this big ask the kernel to start reading ahead the whole range at once.
constexpr size_t kWillNeedBytes = 4u << 20;
// Elements per conversion block when the source is unaligned.
constexpr size_t kBlockElems = 1u << 16;

// Starts read-ahead of [p, p + n) for big reads; purely advisory.
void advise_willneed(const void* p, size_t n) {
  if (n < kWillNeedBytes) return;
  const uintptr_t page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  const uintptr_t begin = reinterpret_cast<uintptr_t>(p) & ~(page - 1);
  const uintptr_t end = reinterpret_cast<uintptr_t>(p) + n;
  madvise(reinterpret_cast<void*>(begin), end - begin, MADV_WILLNEED);
}

bool is_float(DType t) { return t == DType::F32 || t == DType::F16 || t == DType::BF16; }

}  // namespace

MappedFile MappedFile::open(const std::string& path) {
  MappedFile f;
  f.path_ = path;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  BLOOM_CHECK(fd >= 0, "{}: cannot open: {}", path, std::strerror(errno));
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    const int err = errno;
    ::close(fd);
    BLOOM_CHECK(false, "{}: {}", path, err ? std::strerror(err) : "not a regular file");
  }
  f.size_ = static_cast<uint64_t>(st.st_size);
  if (f.size_ > 0) {
    void* m = mmap(nullptr, f.size_, PROT_READ, MAP_PRIVATE, fd, 0);
    const int err = errno;
    ::close(fd);  // the mapping keeps the file alive
    BLOOM_CHECK(m != MAP_FAILED, "{}: mmap of {} bytes failed: {}", path, f.size_,
                std::strerror(err));
    f.data_ = static_cast<const uint8_t*>(m);
  } else {
    ::close(fd);
  }
  return f;
}

MappedFile::~MappedFile() { release(); }

void MappedFile::release() noexcept {
  if (data_) munmap(const_cast<uint8_t*>(data_), size_);
  data_ = nullptr;
  size_ = 0;
}

MappedFile::MappedFile(MappedFile&& o) noexcept
    : path_(std::move(o.path_)), data_(o.data_), size_(o.size_) {
  o.data_ = nullptr;
  o.size_ = 0;
}

MappedFile& MappedFile::operator=(MappedFile&& o) noexcept {
  if (this != &o) {
    release();
    path_ = std::move(o.path_);
    data_ = o.data_;
    size_ = o.size_;
    o.data_ = nullptr;
    o.size_ = 0;
  }
  return *this;
}

void read_mapped(const uint8_t* src, DType src_dtype, int64_t n, DType dst_dtype, void* dst) {
  BLOOM_CHECK(src_dtype == dst_dtype || (is_float(src_dtype) && is_float(dst_dtype)),
              "cannot convert {} to {} (weights convert between fp32, fp16 and bf16)",
              dtype_name(src_dtype), dtype_name(dst_dtype));
  if (n <= 0) return;
  const size_t es = dtype_size(src_dtype);
  const size_t bytes = static_cast<size_t>(n) * es;
  advise_willneed(src, bytes);
  if (src_dtype == dst_dtype) {
    std::memcpy(dst, src, bytes);
    return;
  }
  if (reinterpret_cast<uintptr_t>(src) % es == 0) {
    convert_host(src, src_dtype, dst, dst_dtype, static_cast<size_t>(n));
    return;
  }
  // Unaligned source: go through an aligned block.
  std::vector<uint32_t> scratch(kBlockElems * es / sizeof(uint32_t) + 1);
  uint8_t* out = static_cast<uint8_t*>(dst);
  const size_t dst_size = dtype_size(dst_dtype);
  for (int64_t i = 0; i < n; i += static_cast<int64_t>(kBlockElems)) {
    const size_t m = static_cast<size_t>(std::min<int64_t>(kBlockElems, n - i));
    std::memcpy(scratch.data(), src + static_cast<size_t>(i) * es, m * es);
    convert_host(scratch.data(), src_dtype, out + static_cast<size_t>(i) * dst_size, dst_dtype, m);
  }
}

}  // namespace bloom::io

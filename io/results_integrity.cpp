// Checksums of results files and the isolated first read (see results_integrity.h).
#include "io/results_integrity.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstring>
#include <vector>

namespace bloom::io::integrity {
namespace {

const std::array<uint32_t, 256>& crc_table() {
  static const std::array<uint32_t, 256> table = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  return table;
}

// Little-endian bytes of integers and doubles, appended to a buffer (the host is little-endian
// on every platform we build for; the static_assert keeps it honest).
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "checksums assume a little-endian host");
template <typename T>
void put(std::vector<unsigned char>& out, T value) {
  const auto* p = reinterpret_cast<const unsigned char*>(&value);
  out.insert(out.end(), p, p + sizeof(T));
}

}  // namespace

uint32_t crc32(const void* data, size_t n, uint32_t crc) {
  const auto& table = crc_table();
  const auto* p = static_cast<const unsigned char*>(data);
  crc = ~crc;
  for (size_t i = 0; i < n; ++i) crc = table[(crc ^ p[i]) & 0xFF] ^ (crc >> 8);
  return ~crc;
}

uint32_t row_checksum(int64_t row, const PassageResult& r) {
  std::vector<unsigned char> bytes;
  bytes.reserve(40 + 4 * (r.target_ids.size() + r.predicted_ids.size()));
  put<int64_t>(bytes, row);
  put<int64_t>(bytes, r.index);
  put<uint8_t>(bytes, r.correct ? 1 : 0);
  put<double>(bytes, r.target_logprob);
  put<int32_t>(bytes, r.context_len);
  put<int32_t>(bytes, static_cast<int32_t>(r.target_ids.size()));
  for (int32_t id : r.target_ids) put<int32_t>(bytes, id);
  for (int32_t id : r.predicted_ids) put<int32_t>(bytes, id);
  return crc32(bytes.data(), bytes.size());
}

uint32_t attributes_checksum(hid_t obj) {
  std::vector<unsigned char> bytes;
  for (const std::string& name : h5::attribute_names(obj)) {  // name order
    if (name == kAttributesChecksum) continue;
    const H5T_class_t cls = h5::attribute_class(obj, name);
    if (cls != H5T_STRING && cls != H5T_INTEGER && cls != H5T_FLOAT) continue;
    bytes.insert(bytes.end(), name.begin(), name.end());
    bytes.push_back(0);
    if (cls == H5T_STRING) {
      const std::string value = h5::read_string_attribute(obj, name);
      bytes.push_back('s');
      bytes.insert(bytes.end(), value.begin(), value.end());
      bytes.push_back(0);
    } else if (cls == H5T_INTEGER) {
      bytes.push_back('i');
      put<int64_t>(bytes, h5::read_int_attribute(obj, name));
    } else {
      bytes.push_back('f');
      put<double>(bytes, h5::read_double_attribute(obj, name));
    }
  }
  return crc32(bytes.data(), bytes.size());
}

void seal_attributes(hid_t obj) {
  h5::write_attribute(obj, kAttributesChecksum, static_cast<int64_t>(attributes_checksum(obj)));
}

bool check_attributes(hid_t obj, const std::string& what, const std::string& path, bool required) {
  if (!h5::has_attribute(obj, kAttributesChecksum)) {
    BLOOM_CHECK(!required, "results file '{}' cannot be verified: {} has no attribute checksum "
                "('{}'; files written before checksums were added have none)", path, what,
                kAttributesChecksum);
    return false;
  }
  const int64_t stored = h5::read_int_attribute(obj, kAttributesChecksum);
  const uint32_t now = attributes_checksum(obj);
  BLOOM_CHECK(stored == static_cast<int64_t>(now),
              "results file '{}' is damaged: the attributes of {} do not match their checksum "
              "(stored {:08x}, computed {:08x})", path, what, static_cast<uint32_t>(stored), now);
  return true;
}

bool memory_limit_applies() {
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
  return false;
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
  return false;
#endif
  return true;
}

void run_isolated(const std::string& path, const std::function<void()>& body, double timeout_seconds,
                  uint64_t memory_limit) {
  int pipe_fds[2];
  BLOOM_CHECK(pipe2(pipe_fds, O_CLOEXEC) == 0, "cannot check '{}': pipe: {}", path, std::strerror(errno));
  const pid_t child = fork();
  if (child < 0) {
    close(pipe_fds[0]);
    close(pipe_fds[1]);
    BLOOM_FAIL("cannot check '{}': fork: {}", path, std::strerror(errno));
  }
  if (child == 0) {
    // The child only reads and reports: no flush of inherited stdio buffers, no atexit handlers
    // (MPI, HDF5), hence _exit.
    close(pipe_fds[0]);
    // A damaged length can make HDF5 allocate (and clear) gigabytes: a limit turns that into a
    // quick failure. (Not under AddressSanitizer, which reserves terabytes of address space.)
    if (memory_limit > 0 && memory_limit_applies()) {
      struct rlimit limit{memory_limit, memory_limit};
      setrlimit(RLIMIT_AS, &limit);
    }
    // A crash here is an answer, reported by the parent: no handler (Open MPI installs one that
    // prints a backtrace) may make it look like the runner crashed.
    for (int sig : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT}) signal(sig, SIG_DFL);
    int code = 0;
    std::string message;
    try {
      body();
    } catch (const Error& e) {
      message = e.message();
      code = 1;
    } catch (const std::exception& e) {
      message = e.what();
      code = 2;
    } catch (...) {
      code = 2;
    }
    for (size_t done = 0; done < message.size();) {
      const ssize_t n = write(pipe_fds[1], message.data() + done, message.size() - done);
      if (n <= 0) break;
      done += static_cast<size_t>(n);
    }
    _exit(code);
  }
  close(pipe_fds[1]);
  std::string message;
  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::milliseconds(static_cast<int64_t>(timeout_seconds * 1000));
  int status = 0;
  bool exited = false, timed_out = false, pipe_open = true;
  while (!exited) {
    if (pipe_open) {
      pollfd p{pipe_fds[0], POLLIN, 0};
      if (poll(&p, 1, 50) > 0) {
        char buf[4096];
        const ssize_t n = read(pipe_fds[0], buf, sizeof(buf));
        if (n > 0) message.append(buf, static_cast<size_t>(n));
        else pipe_open = false;  // EOF: the child closed it (exited)
      }
    } else {
      usleep(20000);
    }
    const pid_t w = waitpid(child, &status, WNOHANG);
    if (w == child) exited = true;
    else if (std::chrono::steady_clock::now() > deadline) {
      kill(child, SIGKILL);
      waitpid(child, &status, 0);
      exited = timed_out = true;
    }
  }
  for (char buf[4096]; pipe_open;) {  // what is left after the child exited
    const ssize_t n = read(pipe_fds[0], buf, sizeof(buf));
    if (n > 0) message.append(buf, static_cast<size_t>(n));
    else pipe_open = false;
  }
  close(pipe_fds[0]);
  BLOOM_CHECK(!timed_out, "results file '{}' is damaged: reading it did not finish within {:.0f} s "
              "(HDF5 loops on some damaged structures; on a file system that slow, raise "
              "BLOOM_VERIFY_TIMEOUT_S)", path, timeout_seconds);
  if (WIFSIGNALED(status)) {
    BLOOM_FAIL("results file '{}' is damaged: reading it made the HDF5 library fail (killed by "
               "signal {})", path, WTERMSIG(status));
  }
  const int code = WIFEXITED(status) ? WEXITSTATUS(status) : 2;
  if (code == 1) BLOOM_FAIL("{}", message);  // the child's own message
  BLOOM_CHECK(code == 0, "results file '{}' is damaged: reading it failed ({})", path,
              message.empty() ? "no reason given" : message);
}

}  // namespace bloom::io::integrity

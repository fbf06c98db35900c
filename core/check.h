// Error handling for every library of the project: checks throw bloom::Error, which carries the
// message, the failed expression and file:line, and (once known) this process's rank and host.
// Only runner/main.cpp catches: it logs, flushes and aborts the MPI job (never exit() in a library).
// Users see message() (and the rank and host when several ranks run); where() is for developers
// and printed with `runner -v`.
//
// One family of checks:
//   BLOOM_CHECK(cond, "fmt {}", args...)   a condition of ours
//   BLOOM_FAIL("fmt {}", args...)          unconditional
//   BLOOM_CUDA_CHECK(expr)                 cudaError_t       (needs <cuda_runtime.h> at the call)
//   BLOOM_CUBLAS_CHECK(expr)               cublasStatus_t    (needs <cublas_v2.h> / <cublasLt.h>)
//   BLOOM_NCCL_CHECK(expr)                 ncclResult_t      (needs <nccl.h>)
//   BLOOM_MPI_CHECK(expr)                  MPI return codes  (communicators set MPI_ERRORS_RETURN)
// The library macros expand only where they are used, so this header includes no library header.
#pragma once

#include <stdexcept>
#include <string>

#include <fmt/format.h>

namespace bloom {

class Error : public std::runtime_error {
 public:
  /// `message` is for users; `where` (file:line, the check, rank and host) for developers;
  /// `origin` ("rank 3 on node17", or empty) is the rank-and-host part of `where`.
  Error(const std::string& message, const std::string& where, const std::string& origin = "")
      : std::runtime_error(message + " [" + where + "]"), message_(message), where_(where),
        origin_(origin) {}
  explicit Error(const std::string& message) : std::runtime_error(message), message_(message) {}
  const std::string& message() const { return message_; }
  const std::string& where() const { return where_; }
  const std::string& origin() const { return origin_; }

 private:
  std::string message_, where_, origin_;
};

/// The users' text of any exception: message() of a bloom::Error (no source location), else
/// what(). For messages that quote an error caught on the way.
std::string error_message(const std::exception& e);

/// "rank 3 on node17" once set_error_origin() was called by the runner; empty before.
const std::string& error_origin();
void set_error_origin(int world_rank, const std::string& hostname);

[[noreturn]] void throw_error(const char* file, int line, const char* expr, const std::string& msg);

/// MPI's text for an MPI error code (defined with the MPI communicator, in MPI builds).
std::string mpi_error_text(int code);

}  // namespace bloom

#define BLOOM_CHECK(cond, ...)                                                        \
  do {                                                                                \
    if (!(cond)) ::bloom::throw_error(__FILE__, __LINE__, #cond, fmt::format(__VA_ARGS__)); \
  } while (0)

#define BLOOM_FAIL(...) ::bloom::throw_error(__FILE__, __LINE__, nullptr, fmt::format(__VA_ARGS__))

/// The shared body of the library checks: evaluates `expr` once as `Type`; on `status != ok`
/// throws with the message `describe` builds from `bloom_status_`.
#define BLOOM_STATUS_CHECK_(Type, expr, ok, describe)                            \
  do {                                                                           \
    const Type bloom_status_ = (expr);                                           \
    if (bloom_status_ != (ok)) ::bloom::throw_error(__FILE__, __LINE__, #expr, describe); \
  } while (0)

#define BLOOM_CUDA_CHECK(expr)                                                           \
  BLOOM_STATUS_CHECK_(cudaError_t, expr, cudaSuccess,                                    \
                      fmt::format("CUDA error {}: {}", cudaGetErrorName(bloom_status_), \
                                  cudaGetErrorString(bloom_status_)))

#define BLOOM_CUBLAS_CHECK(expr)                                                             \
  BLOOM_STATUS_CHECK_(cublasStatus_t, expr, CUBLAS_STATUS_SUCCESS,                           \
                      fmt::format("cuBLAS error {} ({})", cublasGetStatusName(bloom_status_), \
                                  cublasGetStatusString(bloom_status_)))

#define BLOOM_NCCL_CHECK(expr)                                                        \
  BLOOM_STATUS_CHECK_(ncclResult_t, expr, ncclSuccess,                                \
                      fmt::format("NCCL error: {} ({})", ncclGetErrorString(bloom_status_), \
                                  ncclGetLastError(nullptr)))

#define BLOOM_MPI_CHECK(expr)                                         \
  BLOOM_STATUS_CHECK_(int, expr, MPI_SUCCESS,                         \
                      fmt::format("MPI call failed: {}", ::bloom::mpi_error_text(bloom_status_)))

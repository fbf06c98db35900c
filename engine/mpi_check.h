// BLOOM_MPI_CHECK(expr): throw bloom::Error with MPI's own error string when an MPI call fails
// (communicators set MPI_ERRORS_RETURN, so failures come back as codes).
#pragma once

#include <string>

#include <mpi.h>

#include "engine/check.h"

#define BLOOM_MPI_CHECK(expr)                                               \
  do {                                                                      \
    const int mpi_rc_ = (expr);                                             \
    if (mpi_rc_ != MPI_SUCCESS) {                                           \
      char msg_[MPI_MAX_ERROR_STRING];                                      \
      int len_ = 0;                                                         \
      MPI_Error_string(mpi_rc_, msg_, &len_);                               \
      BLOOM_FAIL("MPI call {} failed: {}", #expr, std::string(msg_, len_)); \
    }                                                                       \
  } while (0)

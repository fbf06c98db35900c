// The communicators' watchdog knob: BLOOM_COMM_TIMEOUT_S, the older BLOOM_NCCL_TIMEOUT_S, the
// default, and values that are refused with the variable named.
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "core/check.h"
#include "core/comm_watchdog.h"

namespace bloom {
namespace {

std::string error_of_timeout() {
  try {
    comm_timeout_seconds();
  } catch (const Error& e) {
    return e.message();
  }
  return "";
}

TEST(CommWatchdog, KnobDefaultAndOlderName) {
  unsetenv("BLOOM_COMM_TIMEOUT_S");
  unsetenv("BLOOM_NCCL_TIMEOUT_S");
  EXPECT_EQ(comm_timeout_seconds(), 300.0);
  setenv("BLOOM_NCCL_TIMEOUT_S", "40", 1);
  EXPECT_EQ(comm_timeout_seconds(), 40.0);
  setenv("BLOOM_COMM_TIMEOUT_S", "2.5", 1);  // the new name wins
  EXPECT_EQ(comm_timeout_seconds(), 2.5);
  for (const char* bad : {"0", "-3", "ten", "5s"}) {
    setenv("BLOOM_COMM_TIMEOUT_S", bad, 1);
    EXPECT_EQ(error_of_timeout(), std::string("BLOOM_COMM_TIMEOUT_S='") + bad +
                                      "' is not a positive number of seconds");
  }
  unsetenv("BLOOM_COMM_TIMEOUT_S");
  unsetenv("BLOOM_NCCL_TIMEOUT_S");
}

TEST(CommWatchdog, MessageNamesTheOperationTheRankAndTheKnob) {
  EXPECT_EQ(comm_timeout_message("MPI", "all_reduce_sum", 1, 2, 300.0),
            "MPI all_reduce_sum of rank 1/2 did not finish within 300 s (BLOOM_COMM_TIMEOUT_S): "
            "a peer rank is dead or stuck");
}

}  // namespace
}  // namespace bloom

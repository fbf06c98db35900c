#!/usr/bin/env bash
# The CPU test suite under AddressSanitizer + UndefinedBehaviorSanitizer: configures an ASan+UBSan
# build (-DBLOOM_ENABLE_ASAN=ON -DBLOOM_WITH_CUDA=OFF) into build-asan/ and runs, with every
# sanitizer report fatal:
#   1. ctest -L 'cpu|fuzz'   unit tests and the fuzz corpus replay, leak checking on;
#   2. ctest -L mpi          the MPI tests (test_mpi over 2-4 ranks, the runner's end-to-end
#                            tests, the error catalogue and the fault tests), leak checking off:
#                            Open MPI's own allocations are never freed.
# The error catalogue fails on any sanitizer report in the runner's output, so every bad input
# also runs through ASan/UBSan. Tests that need the HF Python packages (label python without
# mpi) are left to the normal build, and so are three that repeat, over all of LAMBADA, numbers
# the normal build checks against HF and scipy, through code the other mpi tests run here too:
# formats_formats (every checkpoint format; formats_bf16 and formats_ft_tp read them here),
# runner_numbers (the statistics) and fp8_hf (FP8 against HF): ~9 of CI's minutes under ASan.
# Debug info is line tables only (-g1): reports still name file and line, the build is faster.
#
# usage: tests/sanitize.sh [-j JOBS] [-- EXTRA CTEST ARGS]
#   BLOOM_ASAN_BUILD_DIR  build folder (default build-asan)
# Prints the suites' results and "N passed, M failed" (suites); exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."

JOBS=$(nproc)
if [ "${1:-}" = "-j" ]; then JOBS=$2; shift 2; fi
[ "${1:-}" = "--" ] && shift
BUILD=${BLOOM_ASAN_BUILD_DIR:-build-asan}

t0=$(date +%s)
cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -g1 -DNDEBUG" -DBLOOM_ENABLE_ASAN=ON \
  -DBLOOM_WITH_CUDA=OFF -DBLOOM_BUILD_BENCH=OFF >/dev/null
cmake --build "$BUILD" -j "$JOBS"
t1=$(date +%s)

export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
# Sanitizer reports go to stderr; abort_on_error makes a report a failed test, never a pass.
common=abort_on_error=1:halt_on_error=1:strict_string_checks=1:check_initialization_order=1
passed=0
failed=0
suite() {
  local name=$1
  shift
  echo "=== $name: ctest $*"
  if ctest --test-dir "$BUILD" --output-on-failure "$@"; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    echo "=== $name: FAILED"
  fi
}
ASAN_OPTIONS=$common:detect_leaks=1 suite "cpu + fuzz corpus (leaks checked)" -L 'cpu|fuzz' -j "$JOBS" "$@"
# File locking off: tests/runner/test_end_to_end.py's resume case opens the file as soon as
# pgrep no longer sees the SIGKILLed ranks, but an ASan process releases its locks only after
# unmapping its (huge) shadow memory, so the open could fail with "unable to lock file".
ASAN_OPTIONS=$common:detect_leaks=0 HDF5_USE_FILE_LOCKING=FALSE \
  suite "mpi (leaks not checked)" -L mpi -LE cuda -E '^(formats_formats|runner_numbers|fp8_hf)$' "$@"
t2=$(date +%s)
echo "build $((t1 - t0)) s, tests $((t2 - t1)) s"
echo "sanitizer suites: $passed ok, $failed failed"
[ "$failed" = 0 ]

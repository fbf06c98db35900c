#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (-fsanitize=fuzzer,address,undefined) into build-fuzz/
# (separate from the project's build) and fuzzes each for a bounded time, starting from the kept
# corpus (tests/fuzz/corpus/<target>/) plus fresh seeds (make_seeds.py).
#
# usage: tests/fuzz/run_fuzzers.sh [-t SECONDS] [-u] [-j JOBS] [TARGET...]
#   -t SECONDS  fuzzing time per target (default 60)
#   -u          update the kept corpus: the smallest set of inputs covering the same edges
#               (-set_cover_merge=1 -use_counters=0) of what the run found, into
#               tests/fuzz/corpus/<target>/ (without -u the kept corpus is not touched)
#   -j JOBS     parallel targets (default 1)
#   TARGET      fuzz_tokenizer fuzz_safetensors fuzz_dataset fuzz_job_spec fuzz_torch_file
#               fuzz_results_file
#               (default: all)
# A crash, leak, timeout or failed property stops that target: the input is copied to
# tests/fuzz/regressions/<target>/ (replayed by the CTest `fuzz` tests once committed) and the
# script fails. Ends with "N passed, M failed". Needs clang and libclang-rt-dev (libFuzzer).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BUILD=${BLOOM_FUZZ_BUILD:-$ROOT/build-fuzz}
SECONDS_PER_TARGET=60
UPDATE=0
JOBS=1
while getopts "t:uj:" opt; do
  case $opt in
    t) SECONDS_PER_TARGET=$OPTARG ;;
    u) UPDATE=1 ;;
    j) JOBS=$OPTARG ;;
    *) sed -n '2,14p' "$0"; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(fuzz_tokenizer fuzz_safetensors fuzz_dataset fuzz_job_spec
  fuzz_torch_file fuzz_results_file)

cmake -S "$HERE" -B "$BUILD" -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
ninja -C "$BUILD" -j2 "${TARGETS[@]}" >/dev/null

WORK="$BUILD/work"
rm -rf "$WORK/seeds"
python3 "$HERE/make_seeds.py" "$WORK/seeds"

dict_for() {
  case $1 in
    fuzz_job_spec) echo "-dict=$HERE/job_spec.dict" ;;
    fuzz_torch_file) echo "-dict=$HERE/torch_pickle.dict" ;;
    fuzz_results_file) echo "-dict=$HERE/results_file.dict" ;;
    *) echo "-dict=$HERE/json.dict" ;;
  esac
}

# Results files are HDF5: the smallest valid one is ~50 KB.
max_len_for() {
  case $1 in
    fuzz_results_file) echo "-max_len=131072" ;;
    *) echo "-max_len=8192" ;;
  esac
}

fuzz_one() {
  local t=$1
  local run="$WORK/$t"
  rm -rf "$run"
  mkdir -p "$run/corpus" "$run/artifacts" "$HERE/corpus/$t"
  local extra=()
  [ -d "$HERE/regressions/$t" ] && extra+=("$HERE/regressions/$t")
  # New inputs go to $run/corpus; the kept corpus, regressions and seeds are read-only inputs.
  local rc=0
  "$BUILD/$t" "$run/corpus" "$HERE/corpus/$t" "${extra[@]}" "$WORK/seeds/$t" \
    "$(dict_for "$t")" -max_total_time="$SECONDS_PER_TARGET" -timeout=10 -rss_limit_mb=2048 \
    "$(max_len_for "$t")" -print_final_stats=1 -artifact_prefix="$run/artifacts/" \
    >"$run/log" 2>&1 || rc=$?
  grep -E "^(stat::number_of_executed_units|stat::new_units_added|Done)" "$run/log" | sed "s/^/$t: /" || true
  if [ $rc -ne 0 ] || [ -n "$(ls -A "$run/artifacts")" ]; then
    mkdir -p "$HERE/regressions/$t"
    cp "$run/artifacts/"* "$HERE/regressions/$t/" 2>/dev/null || true
    echo "$t: FAILED (exit $rc); inputs saved in tests/fuzz/regressions/$t/, log: $run/log"
    tail -40 "$run/log"
    return 1
  fi
  if [ $UPDATE = 1 ]; then
    local merged="$run/merged"
    mkdir -p "$merged"
    "$BUILD/$t" -set_cover_merge=1 -use_counters=0 "$(max_len_for "$t")" "$merged" "$HERE/corpus/$t" "$run/corpus" "$WORK/seeds/$t" \
      >"$run/merge.log" 2>&1
    rm -rf "$HERE/corpus/$t"
    mv "$merged" "$HERE/corpus/$t"
    echo "$t: corpus updated: $(ls "$HERE/corpus/$t" | wc -l) inputs, $(du -sk "$HERE/corpus/$t" | cut -f1) KB"
  fi
  echo "$t: ok (${SECONDS_PER_TARGET} s)"
}

passed=0
failed=0
declare -A pids=()
for t in "${TARGETS[@]}"; do
  while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do sleep 1; done
  fuzz_one "$t" &
  pids[$t]=$!
done
for t in "${TARGETS[@]}"; do
  if wait "${pids[$t]}"; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
done
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]

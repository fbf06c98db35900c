#!/usr/bin/env bash
# CPU benchmark: one invocation, two parts, each against baselines run in the same invocation.
#  1. bloom-560m shape (random fp32 checkpoint from make-model): our fp32 forward + scoring on
#     the first PASSAGES LAMBADA passages (bloom-style-50k ids), next to OpenBLAS sgemm 1024^3
#     in the same process (median of trials before and after ours) and HF transformers' fp32
#     CPU forward on the same tokens. Target: ours >= 0.7 of sgemm.
#  2. The trained fixture on all 5153 passages through the runner (bench/trained-bloom-cpu.yaml:
#     fp32, CPU, quickstart-like): wall time of the whole command (median of REPEAT runs;
#     target < 40 s on 2 cores), its accuracy (HF: 2627/5153), and HF's fp32 CPU forward over
#     the same tokens (tests/data/tiny-bloom/tokenization.jsonl).
# The machine may be shared with other work: repeat, read the spread, take medians.
#   BUILD=build PASSAGES=32 REPEAT=3 HF=1 bash bench/cpu_forward.sh      (HF=0 skips HF)
set -euo pipefail
cd "$(dirname "$0")/.."
B=${BUILD:-build}
N=${PASSAGES:-32}
R=${REPEAT:-3}
M=${MODEL:-/tmp/bloom-560m-fp32}
echo "== $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'), load $(cut -d' ' -f1-3 /proc/loadavg)"

echo "== 1. bloom-560m shape, $N passages"
TOK=tests/data/bloom-style-50k/tokenization.jsonl
[ -f "$M/config.json" ] || "$B/runner/runner" make-model --like bloom-560m --dtype fp32 --out "$M" \
  --tokenizer tests/data/bloom-style-50k/tokenizer.json | tail -1
ours=$("$B/bench/bench_forward" --model "$M" --tokens "$TOK" --passages "$N" --batch-size 16 \
  --max-tokens 4096 --repeat "$R")
echo "$ours" | grep -v RESULT
# HF on 1 thread and on one thread per core; the faster counts (bench/hf_cpu_forward.py says
# why). Prints the RESULT lines; the rest of HF's output goes to the terminal.
hf_runs() {
  [ "${HF:-1}" = 1 ] || return 0
  for t in 1 "$(nproc)"; do
    python3 bench/hf_cpu_forward.py "$@" --threads "$t" 2>/dev/null | tee >(grep -v RESULT >&2) |
      grep RESULT
  done
}
hf=$(hf_runs --model "$M" --tokens "$TOK" --passages "$N")

echo "== 2. trained fixture, all of LAMBADA: runner $B/runner/runner bench/trained-bloom-cpu.yaml"
walls=()
for ((i = 0; i < R; ++i)); do
  t0=$EPOCHREALTIME
  log=$("$B/runner/runner" bench/trained-bloom-cpu.yaml 2>&1)
  walls+=("$t0:$EPOCHREALTIME")
  echo "$log" | grep -E "accuracy" | sed 's/.*\] //'
done
hf2=$(hf_runs --model tests/data/trained-bloom --tokens tests/data/tiny-bloom/tokenization.jsonl \
  --passages 5153)

python3 - "$ours" "$hf" "$hf2" "${walls[@]}" <<'PY'
import re, statistics, sys
g = lambda s, k: float(re.search(k + r"=([0-9.]+)", s).group(1))
hf_best = lambda s: min((g(l, "hf_seconds") for l in s.splitlines() if "RESULT" in l), default=0)
ours, hf, hf2 = sys.argv[1], hf_best(sys.argv[2]), hf_best(sys.argv[3])
walls = [float(w.split(":")[1]) - float(w.split(":")[0]) for w in sys.argv[4:]]
print(f"ratios, 1. bloom-560m: ours / sgemm = {g(ours, 'gflops') / g(ours, 'sgemm_gflops'):.2f} "
      "(target >= 0.70)" + (f"; HF (faster run) {hf:.1f} s, HF / ours = "
                            f"{hf / g(ours, 'ours_seconds'):.1f}x" if hf else ""))
w = statistics.median(walls)
print(f"ratios, 2. trained fixture: runner wall median {w:.1f} s of {len(walls)} "
      f"({', '.join(f'{x:.1f}' for x in walls)}) (target < 40 s)"
      + (f"; HF (faster run) forward {hf2:.1f} s, HF / ours = {hf2 / w:.1f}x" if hf2 else ""))
PY

#!/usr/bin/env bash
# CPU benchmark: our fp32 CPU forward on a bloom-560m-shaped random checkpoint, next
# to OpenBLAS sgemm and HF transformers' fp32 CPU forward on the same checkpoint and tokens,
# all in one run. BUILD=build PASSAGES=64 bash bench/cpu_forward.sh
set -euo pipefail
cd "$(dirname "$0")/.."
B=${BUILD:-build}
N=${PASSAGES:-64}
M=${MODEL:-/tmp/bloom-560m-fp32}
TOK=tests/data/bloom-style-50k/tokenization.jsonl
[ -f "$M/config.json" ] || "$B/runner/runner" make-model --like bloom-560m --dtype fp32 --out "$M" \
  --tokenizer tests/data/bloom-style-50k/tokenizer.json | tail -1
ours=$("$B/bench/bench_forward" --model "$M" --tokens "$TOK" --passages "$N" --batch-size 16 --max-tokens 4096)
echo "$ours" | grep -v RESULT
hf=$(python3 bench/hf_cpu_forward.py --model "$M" --tokens "$TOK" --passages "$N" 2>/dev/null)
echo "$hf" | grep -v RESULT
python3 - "$ours" "$hf" <<'PY'
import re, sys
g = lambda s, k: float(re.search(k + r"=([0-9.]+)", s).group(1))
ours, hf = sys.argv[1], sys.argv[2]
sg = float(re.search(r"sgemm 1024\^3 \(OpenBLAS, same process\): ([0-9.]+)", ours).group(1))
print(f"ratios: ours / sgemm = {g(ours, 'gflops') / sg:.2f}; ours / HF = {g(hf, 'hf_seconds') / g(ours, 'ours_seconds'):.2f}x faster")
PY

#!/usr/bin/env bash
# One script, one invocation, one GPU: build, check, make a bloom-7b1-shaped checkpoint, and time
# all of LAMBADA (bloom-style-50k tokens: realistic lengths) with our runner and with HF
# transformers, against the floor = 2 x body params x tokens / cuBLAS fp16 rate (measured here).
#   OUT=/path bash bench/gpu_lambada.sh        (STEPS=build,test,rates,model,profile,ours,hf,table)
# rates: cuBLASLt GEMM rates (fp16/bf16/fp8, 8192^3 and our shapes) and copy bandwidth
# (bench/gemm_rates); profile: one pass over all of LAMBADA with per-op timing against each op's
# floor (bench_forward --profile, using the rates measured in the same invocation).
set -u
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/bloom-bench}; mkdir -p "$OUT"
B=${BUILD:-build-gpu}
STEPS=${STEPS:-build,test,model,ours,hf,table}
MODEL=${MODEL:-/tmp/bloom-7b1}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 PYTHONUNBUFFERED=1
has() { [[ ",$STEPS," == *",$1,"* ]]; }
stamp() { echo "== $(date +%T) $*"; }

if has build; then
  stamp build
  cmake -S . -B "$B" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES=90 >"$OUT/cmake.log" 2>&1 &&
    cmake --build "$B" -j "$(nproc)" >"$OUT/build.log" 2>&1 || { tail -40 "$OUT/cmake.log" "$OUT/build.log"; exit 1; }
fi
if has test; then
  stamp "cuda tests"
  timeout 300 "$B/tests/test_kernels_cuda" >"$OUT/test_kernels_cuda.log" 2>&1; echo "test_kernels_cuda rc=$?"
  grep -E "FAILED|PASSED|SKIPPED \]" "$OUT/test_kernels_cuda.log" | head -30
  timeout 300 "$B/tests/test_engine" --gtest_filter='*Cuda*' >"$OUT/test_engine_cuda.log" 2>&1; echo "test_engine cuda rc=$?"
  grep -E "FAILED|PASSED|Failure|max \||lambada_reference" "$OUT/test_engine_cuda.log" | head -20
  timeout 300 "$B/tests/test_kernels" --gtest_filter='*Fp8*' >"$OUT/test_fp8.log" 2>&1; echo "fp8 ops rc=$?"
  grep -E "FAILED|PASSED|Failure|Expected" "$OUT/test_fp8.log" | head -12
fi
if has rates; then
  stamp "GEMM rates and copy bandwidth"
  timeout 300 "$B/bench/gemm_rates" 32768 1408 2>&1 | tee "$OUT/gemm_rates.txt"
fi
if has model; then
  stamp make-model
  [ -f "$MODEL/config.json" ] || "$B/runner/runner" make-model --like bloom-7b1 --dtype fp16 --out "$MODEL" \
    --tokenizer tests/data/bloom-style-50k/tokenizer.json 2>&1 | tail -3
fi
if has profile; then
  stamp "per-op profile"
  RATE=$(awk '$1=="fp16" && $2=="8192^3" {print $5}' "$OUT/gemm_rates.txt" 2>/dev/null)
  BW=$(awk '/copy bandwidth/ {print $(NF-1)}' "$OUT/gemm_rates.txt" 2>/dev/null)
  for cfg in "fp16 4096 32768" "fp16 16 32768" ${PROFILE_MORE:-}; do
    set -- $cfg
    echo "-- dtype $1, batch.size $2, max_tokens $3 (floors: GEMM ${RATE:-700} TFLOP/s, copy ${BW:-4.0} TB/s)"
    timeout 300 "$B/bench/bench_forward" --model "$MODEL" --backend cuda --dtype "$1" --passages 5153 \
      --tokens tests/data/bloom-style-50k/tokenization.jsonl --batch-size "$2" --max-tokens "$3" \
      --profile "${RATE:-700},${BW:-4.0}" 2>&1 | tee -a "$OUT/profile.txt" | grep -v "^RESULT"
  done
fi
if has ours; then
  stamp "ours"
  BLOOM_MODEL=$MODEL BLOOM_OUTPUT=$OUT/ours.h5 timeout 400 "$B/runner/runner" bench/lambada-7b1.yaml 2>&1 | grep -v progress | tail -12
fi
if has hf; then
  stamp "hf"
  timeout 400 python3 bench/hf_lambada.py --matmul --model "$MODEL" --limit "${HF_LIMIT:-0}" \
    --tokens tests/data/bloom-style-50k/tokenization.jsonl --mode "${HF_MODES:-forward,generate}" \
    --out "$OUT/hf" 2>&1 | grep -v Warning | tee "$OUT/hf.log" | tail -6
fi
if has multi; then
  stamp "multi-GPU: NCCL tests + bus bandwidth"
  NG=$(nvidia-smi -L | wc -l)
  timeout 120 mpirun --oversubscribe -n "$NG" "$B/tests/test_nccl" 2>&1 | grep -E "RESULT|OK|FAILED|PASSED" | head -12
  stamp "multi-GPU: layouts tp 1 (dp $NG) and tp 2"
  BLOOM_MODEL=$MODEL BLOOM_OUTPUT=$OUT/layouts.h5 timeout 400 mpirun --oversubscribe -n "$NG" \
    "$B/runner/runner" bench/lambada-7b1-layouts.yaml 2>&1 | grep -E "run |loaded|error|critical" | tail -8
  [ -f "$OUT/hf.forward.jsonl" ] && python3 bench/compare_layouts.py "$OUT/layouts.h5" "$OUT/hf.forward.jsonl"
  stamp "multi-GPU: the seed's configuration (tp 2, batch 16) and HF balanced_low_0"
  BLOOM_MODEL=$MODEL BLOOM_OUTPUT=$OUT/seed.h5 timeout 300 mpirun --oversubscribe -n 2 \
    "$B/runner/runner" bench/seed-tp2.yaml 2>&1 | grep -E "run |error|critical" | tail -4
  [ "${HF2:-1}" = 1 ] && timeout 400 python3 bench/hf_lambada.py --model "$MODEL" --device-map balanced_low_0 --mode generate \
    --tokens tests/data/bloom-style-50k/tokenization.jsonl --out "$OUT/hf2" 2>&1 | grep -E "RESULT|load|Error" | tee "$OUT/hf2.log"
fi
if has table; then
  stamp table
  [ -f "$OUT/hf.forward.jsonl" ] && python3 bench/compare_hf.py "$OUT/ours.h5" "size=4096,max_tokens=16384" "$OUT/hf.forward.jsonl"
  python3 bench/table.py "$OUT/ours.h5" "$OUT/hf.log" --config "$MODEL/config.json" | tee "$OUT/table.txt"
fi

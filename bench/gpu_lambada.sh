#!/usr/bin/env bash
# One script, one invocation, one GPU: build, check, make a bloom-7b1-shaped checkpoint, and time
# all of LAMBADA (bloom-style-50k tokens: realistic lengths) with our runner and with HF
# transformers, against floors measured in the same invocation.
#   OUT=/path bash bench/gpu_lambada.sh
#   STEPS=build,test,rates,model,profile,ours,trained,hf,table (the default) chooses steps.
#  build    cmake + ninja for sm_90
#  test     the CUDA tests: the kernel suite (fp32/fp16/bf16 and FP8 against references), the
#           HF fixture on the GPU
#  rates    bench/gemm_rates: cuBLASLt fp16/bf16/FP8 rates at 8192^3 (and fp16 sustained 3 s)
#           and at our four GEMM shapes (heuristic's first vs best candidate), copy bandwidth
#  model    runner make-model --like bloom-7b1 --dtype fp16 (random weights)
#  profile  bench_forward: one pass over all of LAMBADA with per-op timing against each op's
#           floor, fp16 with the start-up GEMM tuning and without it, and FP8 (PROFILES picks)
#  ours     the runner on bench/lambada-7b1-h200.yaml: fp16, bf16, fp8 x (32k-token batches,
#           batches of 16 passages)
#  trained  the trained fixture (HF fp64: 2627/5153) on the GPU in fp16 and fp8
#  hf       HF transformers fp16: teacher-forced forward and greedy generate, batches of 16
#  table    seconds, ratios to the floors and to HF; fp16-vs-HF and bf16/fp8-vs-fp16 agreement
set -u
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/bloom-bench}; mkdir -p "$OUT"
B=${BUILD:-build-gpu}
STEPS=${STEPS:-build,test,rates,model,profile,ours,trained,hf,table}
MODEL=${MODEL:-/tmp/bloom-7b1}
TOKENS=tests/data/bloom-style-50k/tokenization.jsonl
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 PYTHONUNBUFFERED=1
has() { [[ ",$STEPS," == *",$1,"* ]]; }
stamp() { echo "== $(date +%T) $*"; }

if has build; then
  stamp build
  cmake -S . -B "$B" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES=90 \
    -DBLOOM_BUILD_TESTS=ON >"$OUT/cmake.log" 2>&1 &&
    cmake --build "$B" -j "$(nproc)" >"$OUT/build.log" 2>&1 || { tail -40 "$OUT/cmake.log" "$OUT/build.log"; exit 1; }
fi
if has test; then
  stamp "cuda tests"
  timeout 300 "$B/tests/test_kernels" --gtest_filter='CUDA/*' >"$OUT/test_cuda.log" 2>&1
  echo "kernel suite (CUDA) rc=$? $(grep -cE '^\[       OK' "$OUT/test_cuda.log") ok, $(grep -cE '^\[  SKIPPED' "$OUT/test_cuda.log") skipped"
  grep -E "^\[  FAILED|Failure" "$OUT/test_cuda.log" | head -12
  timeout 300 "$B/tests/test_engine" --gtest_filter='*Cuda*' >>"$OUT/test_cuda.log" 2>&1; echo "test_engine cuda rc=$?"
  grep -E "FAILED|Failure|max \||lambada_reference" "$OUT/test_cuda.log" | tail -6
fi
if has rates; then
  stamp "GEMM rates and copy bandwidth"
  timeout 300 "$B/bench/gemm_rates" 32768 1408 2>&1 | tee "$OUT/gemm_rates.txt"
fi
RATE=$(awk '$1=="fp16" && $2=="8192^3" {print $5}' "$OUT/gemm_rates.txt" 2>/dev/null)
RATE8=$(awk '/^fp8 \(row/ && /8192\^3/ {print $(NF-3)}' "$OUT/gemm_rates.txt" 2>/dev/null)
BW=$(awk '/copy bandwidth/ {print $(NF-1)}' "$OUT/gemm_rates.txt" 2>/dev/null)
if has model; then
  stamp make-model
  [ -f "$MODEL/config.json" ] || "$B/runner/runner" make-model --like bloom-7b1 --dtype fp16 --out "$MODEL" \
    --tokenizer tests/data/bloom-style-50k/tokenizer.json 2>&1 | tail -3
fi
if has profile; then
  stamp "per-op profiles (floors: GEMM fp16 ${RATE:-?} / fp8 ${RATE8:-?} TFLOP/s, copy ${BW:-?} TB/s)"
  prof() {  # dtype batch.size rate [env]
    echo "-- $1, batch.size $2, <= 32768 tokens ${4:-}"
    env ${4:-} timeout 200 "$B/bench/bench_forward" --model "$MODEL" --backend cuda --dtype "$1" \
      --passages 5153 --tokens "$TOKENS" --batch-size "$2" --max-tokens 32768 --repeat 1 \
      --profile "$3,${BW:-4.0}" 2>&1 | tee -a "$OUT/profile.txt" | grep -vE "^RESULT|^model|^load"
  }
  # PROFILES: which passes, "dtype:batch.size[:notune|:log]" separated by spaces; log: with
  # BLOOM_GEMM_LOG=1, then how many of the pass's GEMM plans (>= 8192 rows) had an algorithm.
  for p in ${PROFILES:-fp16:4096 fp16:4096:notune fp16:16 fp8:4096:log fp8:16}; do
    IFS=: read -r dt bs opt <<<"$p"
    rate=${RATE:-700}; [ "$dt" = fp8 ] && rate=${RATE8:-1300}
    case "$opt" in
      notune) prof "$dt" "$bs" "$rate" BLOOM_NO_TUNING=1 | grep -E "ours|total" ;;
      log)
        prof "$dt" "$bs" "$rate" BLOOM_GEMM_LOG=1 >"$OUT/profile-log.txt"
        grep -v "^gemm plan" "$OUT/profile-log.txt"
        echo "GEMM plans (>= 8192 rows) of this pass: $(grep -c '^gemm plan.*: ok' "$OUT/profile-log.txt") with an algorithm, $(grep -c '^gemm plan.*no algorithm' "$OUT/profile-log.txt") without; first ones:"
        grep "^gemm plan" "$OUT/profile-log.txt" | head -4 ;;
      *) prof "$dt" "$bs" "$rate" ;;
    esac
  done
fi
if has ours; then
  stamp "ours (runner)"
  BLOOM_MODEL=$MODEL BLOOM_OUTPUT=$OUT/ours.h5 timeout 400 "$B/runner/runner" bench/lambada-7b1-h200.yaml \
    2>&1 | grep -E "run |Accuracy|warm-up|error|critical" | tail -20
fi
if has trained; then
  stamp "trained fixture on the GPU (HF fp64: 2627/5153)"
  for dt in fp16 fp8; do
    timeout 120 "$B/runner/runner" run jobs/quickstart.yaml --set model.backend=cuda --set model.dtype=$dt \
      --output "$OUT/trained-$dt.h5" --overwrite 2>&1 | grep -E "Accuracy|error" | sed "s/^/$dt: /"
  done
  python3 - "$OUT" <<'PY'
import h5py, json, sys
out = sys.argv[1]
ref = [json.loads(l) for l in open("tests/data/trained-bloom/lambada_reference.jsonl")]
c = {dt: h5py.File(f"{out}/trained-{dt}.h5")["runs"][list(h5py.File(f"{out}/trained-{dt}.h5")["runs"])[0]]["predictions/correct"][()] for dt in ("fp16", "fp8")}
for dt, v in c.items():
    ch = [i for i, r in enumerate(ref) if bool(v[i]) != r["correct"]]
    print(f"trained fixture {dt} on the GPU: {int(v.sum())}/5153; verdict differs from HF fp64 on {len(ch)}")
print(f"fp8 vs fp16 on the GPU: verdicts differ on {int((c['fp8'] != c['fp16']).sum())} passages")
PY
fi
if has hf; then
  stamp "hf"
  timeout 400 python3 bench/hf_lambada.py --model "$MODEL" --limit "${HF_LIMIT:-0}" \
    --tokens "$TOKENS" --mode "${HF_MODES:-forward,generate}" \
    --out "$OUT/hf" 2>&1 | grep -v Warning | tee "$OUT/hf.log" | tail -4
fi
if has table; then
  stamp table
  [ -f "$OUT/hf.forward.jsonl" ] && python3 bench/compare_hf.py "$OUT/ours.h5" "dtype=fp16,size=4096" "$OUT/hf.forward.jsonl"
  [ -f "$OUT/hf.forward.jsonl" ] && python3 bench/compare_layouts.py "$OUT/ours.h5" "$OUT/hf.forward.jsonl" | grep -v "communication share"
  python3 bench/table.py "$OUT/ours.h5" "$OUT/hf.log" --config "$MODEL/config.json" --rates "$OUT/gemm_rates.txt" | tee "$OUT/table.txt"
fi

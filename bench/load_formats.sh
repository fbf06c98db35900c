#!/usr/bin/env bash
# Load speed per checkpoint format, one invocation on the GPU machine (<= ~6 min with 16 cores):
# build the runner, make the bloom-7b1-shaped checkpoint (`runner make-model --like bloom-7b1
# --dtype fp16`, safetensors), write it again as two .bin shards (torch.save, ~10 + ~4 GB) and as
# an FT -tp 8 folder (bench/write_ft_folder.py), load each with the runner (cuda, fp16, a job of 8
# passages) and print load seconds, GB/s and host peak RSS per format (bench/load_formats.py).
#   OUT=/tmp/bloom-load bash bench/load_formats.sh
#   the script itself on a small shape, CPU: LIKE=tiny BACKEND=cpu BUILD=build bash bench/load_formats.sh
#   one rank and two on one node (each loads the whole model): RANKS=1,2 (cuda: a GPU per rank)
# Needs ~45 GB of disk for bloom-7b1 (three copies of 14 GB) in $OUT.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/bloom-load}
B=${BUILD:-build-gpu}
LIKE=${LIKE:-bloom-7b1}
BACKEND=${BACKEND:-cuda}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 PYTHONUNBUFFERED=1
mkdir -p "$OUT"
stamp() { echo "== $(date +%T) $*"; }
if [ ! -x "$B/runner/runner" ]; then
  stamp build
  cmake -S . -B "$B" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES=90 \
    -DBLOOM_BUILD_TESTS=OFF -DBLOOM_BUILD_BENCH=OFF >"$OUT/cmake.log" 2>&1 &&
    cmake --build "$B" -j "$(nproc)" --target runner >"$OUT/build.log" 2>&1 ||
    { tail -40 "$OUT/cmake.log" "$OUT/build.log"; exit 1; }
fi
MODEL=$OUT/$LIKE
if [ ! -f "$MODEL/config.json" ]; then
  stamp "make-model --like $LIKE"
  "$B/runner/runner" make-model --like "$LIKE" --dtype fp16 --out "$MODEL" \
    --tokenizer tests/data/bloom-style-50k/tokenizer.json 2>&1 | tail -2
fi
TOK=tests/data/bloom-style-50k/tokenizer.json
[ "$LIKE" = tiny ] && TOK=tests/data/tiny-bloom/tokenizer.json  # vocab 3000
python3 bench/load_formats.py --runner "$B/runner/runner" --model "$MODEL" --work "$OUT/formats" \
  --backend "$BACKEND" --tokenizer "$TOK" --threads "${THREADS:-4,16}" --repeat "${REPEAT:-2}" \
  --ranks "${RANKS:-1}" --dtype "${DTYPE:-fp16}"

#!/usr/bin/env bash
# The slurm/ scripts under a real Slurm: a one-node cluster on localhost (tests/slurm/
# slurm_cluster.sh: Debian's slurm-wlm and munge, installed with apt-get when missing), then
#   0. without Slurm: slurm/common.sh's repository rule refuses a wrong BLOOM_HOME, sweep_array.sh
#      a job whose output.path ignores BLOOM_OUTPUT, launch.sh a layout that does not fit;
#   1. slurm/bloom_tp2.sh through srun --mpi=pmix (the default launcher): 2 ranks, tp 2, on the CPU
#      with the shipped small model (BLOOM_BACKEND=cpu BLOOM_MODEL=tests/data/tiny-bloom), 300
#      passages; exit status, log, results file (complete, n_examples, tp, dp);
#   1b. the same on 4 ranks (4 fake GPUs): tp 2 x dp 2 without edits, same results;
#   2. the same through mpirun (BLOOM_LAUNCHER=mpirun) on 2000 passages: the reference for 4;
#   3. slurm/sweep.sh on jobs/cpu-sweep.yaml: every run of the sweep complete in one file;
#   4. requeue: slurm/bloom_tp2.sh on 2000 passages, stopped mid-run twice, first by
#      `scancel --signal=TERM` (SIGTERM to the ranks), then by `scancel --batch --signal=TERM`
#      (SIGTERM to the batch script, as --signal=B:TERM@120 sends it before the time limit);
#      each time the script requeues the job and the next start resumes; the final file equals
#      the uninterrupted run of 2;
#   5. a plain `scancel` mid-run ends the job for good (not requeued);
#   6. slurm/sweep_array.sh (one array task per sweep run, BLOOM_RUNS);
# and stops the daemons it started, whatever happens (trap). Every wait has a timeout.
# Prints how long Slurm start-up and each job took.
#
# usage: tests/slurm/test_slurm.sh [RUNNER]   (CTest passes the runner it built)
# Needs root or password-less sudo, apt-get (Debian/Ubuntu), mpirun, python3 with h5py and numpy.
# BLOOM_SLURM_TEST_KEEP=1 keeps the temp folder (logs, results files) for inspection.
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
RUNNER=${1:-${BLOOM_RUNNER:-$ROOT/build/runner/runner}}
case $RUNNER in /*) ;; *) RUNNER=$PWD/$RUNNER ;; esac
JOB_TIMEOUT=${BLOOM_SLURM_TEST_JOB_TIMEOUT:-420}  # seconds, per job

T_START=$(date +%s.%N)
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
say() { echo "test_slurm: $*"; }
FAILS=()
ok() { echo "ok   $*"; }
bad() { echo "FAIL $*"; FAILS+=("$*"); }
check() {  # check "what" command...
  local what=$1
  shift
  if "$@"; then ok "$what"; else bad "$what"; fi
}
TIMES=()

[ -x "$RUNNER" ] || { say "no runner binary at $RUNNER (build it, or pass it as the argument)"; exit 1; }
command -v mpirun >/dev/null || { say "mpirun not found (bash .ci/install-deps)"; exit 1; }
python3 -c "import h5py, numpy" 2>/dev/null || { say "python3 with h5py and numpy needed (bash .ci/install-deps)"; exit 1; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/bloom-slurm-test.XXXXXX")
chmod 755 "$tmp"
cluster=$tmp/cluster
BG_PIDS=()
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  local p
  for p in "${BG_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  local t0
  t0=$(now)
  bash "$HERE/slurm_cluster.sh" stop "$cluster" || say "slurm_cluster.sh stop failed"
  TIMES+=("Slurm shut-down: $(secs "$t0" "$(now)") s")
  if [ "${BLOOM_SLURM_TEST_KEEP:-0}" = 1 ]; then say "kept $tmp"; else rm -rf "$tmp"; fi
  echo
  echo "== timings (2-rank CPU jobs; sbatch --wait polls every 2 s on this cluster)"
  for p in "${TIMES[@]}"; do echo "  $p"; done
  echo "  total: $(secs "$T_START" "$(now)") s"
  if [ "${#FAILS[@]}" -gt 0 ]; then
    echo "== ${#FAILS[@]} check(s) failed:"
    for p in "${FAILS[@]}"; do echo "  $p"; done
    exit 1
  fi
  [ "$rc" = 0 ] || exit "$rc"
  echo "== all checks passed"
  exit 0
}
trap cleanup EXIT
trap 'say "interrupted"; exit 130' INT TERM

# --- results-file checks (h5py) -----------------------------------------------------------------
cat >"$tmp/h5check.py" <<'PY'
"""h5check.py CMD ...: checks on bloom-eval results files; prints ok/FAIL lines, exit 1 on a FAIL."""
import os, sys, time
os.environ.setdefault("HDF5_USE_FILE_LOCKING", "FALSE")  # peek at files the runner is writing
import h5py
import numpy as np

fails = 0
def check(cond, msg):
    global fails
    print(("ok   " if cond else "FAIL ") + msg, flush=True)
    fails += 0 if cond else 1

def preds(path, run):
    g = h5py.File(path, "r")["runs"][run]["predictions"]
    return {k: g[k][()] for k in g.keys()}

cmd, args = sys.argv[1], sys.argv[2:]
missing = [a for a in args if a.endswith(".h5") and not os.path.exists(a)]
if missing and cmd != "wait_done":
    check(False, f"no results file {missing[0]}")
    sys.exit(1)
if cmd == "run":  # FILE RUN N TP DP: one finished run
    path, run, n, tp, dp = args[0], args[1], int(args[2]), int(args[3]), int(args[4])
    with h5py.File(path, "r") as f:
        check(int(f.attrs["complete"]) == 1, f"{os.path.basename(path)}: file complete=1")
        r = f["runs"][run]
        a = r.attrs
        check(int(a["complete"]) == 1, f"{run}: run complete=1")
        check(int(a["n_examples"]) == n, f"{run}: n_examples {int(a['n_examples'])} == {n}")
        check(int(a["tp"]) == tp and int(a["dp"]) == dp, f"{run}: tp {int(a['tp'])} dp {int(a['dp'])} == tp {tp} dp {dp}")
        done = r["predictions/done"][()]
        check(len(done) == n and int(done.sum()) == n, f"{run}: every row done ({int(done.sum())}/{len(done)})")
        print(f"     accuracy {float(a['accuracy']):.4f}, token perplexity {float(a['token_perplexity']):.1f}, "
              f"evaluate {float(a['evaluate_seconds']):.2f} s")
elif cmd == "runs":  # FILE N_RUNS: every run complete, same n_examples
    path, n_runs = args[0], int(args[1])
    with h5py.File(path, "r") as f:
        check(int(f.attrs["complete"]) == 1, f"{os.path.basename(path)}: file complete=1")
        names = sorted(f["runs"].keys())
        check(len(names) == n_runs, f"{len(names)} runs == {n_runs}: {names}")
        ns = set()
        for name in names:
            a = f["runs"][name].attrs
            ns.add(int(a["n_examples"]))
            check(int(a["complete"]) == 1 and int(f["runs"][name]["predictions/done"][()].sum()) == int(a["n_examples"]),
                  f"{name}: complete, {int(a['n_examples'])} rows, tp {int(a['tp'])} x dp {int(a['dp'])}")
        check(len(ns) == 1, f"same n_examples in every run: {sorted(ns)}")
elif cmd == "same":  # FILE_A RUN_A FILE_B RUN_B: identical predictions
    a, b = preds(args[0], args[1]), preds(args[2], args[3])
    what = f"{os.path.basename(args[2])}:{args[3]} == {os.path.basename(args[0])}:{args[1]}"
    for k in ["index", "correct", "target_logprob", "context_len", "target_len"]:
        check(k in a and k in b and np.array_equal(a[k], b[k]), f"{what}: {k}")
    check(len(a["predicted_ids"]) == len(b["predicted_ids"]) and
          all(np.array_equal(x, y) for x, y in zip(a["predicted_ids"], b["predicted_ids"])),
          f"{what}: predicted_ids")
elif cmd == "wait_done":  # FILE RUN MIN TIMEOUT: until MIN rows are done; prints the count
    path, run, least, limit = args[0], args[1], int(args[2]), float(args[3])
    t0 = time.time()
    while time.time() - t0 < limit:
        try:
            with h5py.File(path, "r") as f:
                n = int(f["runs"][run]["predictions/done"][()].sum())
            if n >= least:
                print(n)
                sys.exit(0)
        except Exception:
            pass
        time.sleep(0.1)
    print(f"timed out after {limit:.0f} s waiting for {least} rows of {run} in {path}", file=sys.stderr)
    sys.exit(1)
else:
    sys.exit(f"unknown command {cmd}")
sys.exit(1 if fails else 0)
PY
h5() { python3 "$tmp/h5check.py" "$@"; }

# Waits (up to $3 s) until the log $1 has at least $2 lines matching $4.
wait_log() {
  local log=$1 count=$2 limit=$3 pattern=$4 t0=$SECONDS n
  while :; do
    n=$(grep -c -- "$pattern" "$log" 2>/dev/null) || n=0
    [ "$n" -ge "$count" ] && return 0
    [ $((SECONDS - t0)) -lt "$limit" ] || { say "timed out waiting for '$pattern' x$count in $log"; return 1; }
    sleep 0.2
  done
}

# sbatch --wait, timed: submit NAME LOG [sbatch args...] SCRIPT. Returns sbatch's status.
submit() {
  local name=$1 log=$2 t0 rc
  shift 2
  t0=$(now)
  timeout "$JOB_TIMEOUT" sbatch --wait --parsable -o "$log" "${SBATCH_ARGS[@]}" "$@" >"$tmp/$name.id"
  rc=$?
  TIMES+=("$name: $(secs "$t0" "$(now)") s from sbatch to its return (job $(cat "$tmp/$name.id" 2>/dev/null), exit $rc)")
  [ "$rc" != 124 ] || say "$name: sbatch --wait timed out after $JOB_TIMEOUT s"
  return "$rc"
}
# The same in the background: start_bg NAME LOG ARGS...; sets BG (pid) and JOBID.
start_bg() {
  local name=$1 log=$2
  shift 2
  BG_T0=$(now)
  timeout "$JOB_TIMEOUT" sbatch --wait --parsable -o "$log" "${SBATCH_ARGS[@]}" "$@" >"$tmp/$name.id" &
  BG=$!
  BG_PIDS+=("$BG")
  JOBID=""
  local t0=$SECONDS
  while [ -z "$JOBID" ] && [ $((SECONDS - t0)) -lt 30 ]; do
    JOBID=$(head -1 "$tmp/$name.id" 2>/dev/null | cut -d';' -f1)
    sleep 0.1
  done
  [ -n "$JOBID" ] || say "$name: no job id from sbatch"
}
finish_bg() {  # finish_bg NAME: waits for the background sbatch; returns its status
  local rc=0
  wait "$BG" || rc=$?
  TIMES+=("$1: $(secs "$BG_T0" "$(now)") s from sbatch to its return (job $JOBID, exit $rc)")
  return "$rc"
}
runner_wall() { sed -n 's/.*\] \[info\] run \(.*\): accuracy.* wall \([0-9.]*\) s.*/\1 \2/p' "$1" | awk '{s = s sep $1 " " $2 " s"; sep = ", "} END {print s}'; }

# --- the cluster ------------------------------------------------------------------------------
# Case 1b runs 4 ranks: on a smaller machine the node advertises 4 CPUs (config_overrides; the
# ranks time-share the cores). --overcommit is no way out: Slurm 22.05 still rejects
# --ntasks-per-node above the node's CPUs.
[ "$(nproc)" -ge 4 ] || export BLOOM_SLURM_CPUS=4
export BLOOM_SLURM_GPUS=4  # fake ones (/dev/null, /dev/zero, ...)
t0=$(now)
bash "$HERE/slurm_cluster.sh" start "$cluster"
rc=$?
if [ "$rc" = 77 ]; then say "SKIP: cannot start a Slurm cluster here (no root/sudo or no apt-get)"; exit 77; fi
[ "$rc" = 0 ] || { bad "Slurm cluster starts"; exit 1; }
TIMES+=("Slurm start-up (packages if missing, munged, slurmctld, slurmd until idle): $(secs "$t0" "$(now)") s")
# shellcheck source=/dev/null
source "$cluster/env.sh"
say "srun --mpi=list: $(srun --mpi=list 2>&1 | tr '\n\t' '  ')"

# The jobs' environment (sbatch exports it): the CPU backend and the small model, 2 ranks.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1   # mpirun as root
export OMPI_MCA_btl_vader_single_copy_mechanism=none              # containers without ptrace
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
export BLOOM_RUNNER=$RUNNER BLOOM_BACKEND=cpu BLOOM_DTYPE=fp32 BLOOM_MODEL=$ROOT/tests/data/tiny-bloom
unset BLOOM_HOME BLOOM_JOB BLOOM_OUTPUT BLOOM_LIMIT BLOOM_LAUNCHER BLOOM_RUNS BLOOM_ENV BLOOM_REQUEUE
# This machine's resources instead of the scripts' GPU-node defaults (command line beats #SBATCH).
SBATCH_ARGS=(--cpus-per-task=1 --time=15)
# Submitted from the temp folder, not the repository: the scripts must find it themselves
# (under sbatch they run from a copy in slurmd's spool folder).
cd "$tmp" || exit 1
# Passages for the long jobs (2, 4, 5): long enough to be stopped mid-run twice.
N=${BLOOM_SLURM_TEST_PASSAGES:-2000}

# --- 0. the scripts' shared rules, without Slurm (slurm/common.sh) ----------------------------
echo "== 0. slurm/common.sh: the repository rule, validate --json, refusals"
o0=$(BLOOM_HOME=$tmp bash "$ROOT/slurm/sweep.sh" 2>&1)
check "a BLOOM_HOME that is not the repository is refused" grep -q "BLOOM_HOME=$tmp is not the repository" <<<"$o0"
o0=$(BLOOM_JOB=$ROOT/jobs/quickstart.yaml bash "$ROOT/slurm/sweep_array.sh" --submit 2>&1)
check "sweep_array.sh refuses a job whose output.path ignores BLOOM_OUTPUT" \
  grep -q 'output.path must use ${BLOOM_OUTPUT:-...}' <<<"$o0"
o0=$(BLOOM_NTASKS=3 BLOOM_OUTPUT=$tmp/never.h5 bash "$ROOT/slurm/launch.sh" "$ROOT/jobs/bloom_tp2.yaml" 2>&1)
check "launch.sh refuses a layout that does not fit, with the runner's reason" \
  grep -q "parallelism.tp = 2 does not divide the 3 MPI rank(s)" <<<"$o0"
check "... and starts nothing" test ! -e "$tmp/never.h5"

# --- 1. bloom_tp2.sh through srun ---------------------------------------------------------------
echo "== 1. slurm/bloom_tp2.sh, srun --mpi=pmix, 300 passages"
out1=$tmp/tp2_srun.h5
BLOOM_LIMIT=300 BLOOM_OUTPUT=$out1 submit "1 bloom_tp2.sh srun 300" "$tmp/1.log" "$ROOT/slurm/bloom_tp2.sh"
check "exit status 0" test "$?" = 0
check "launched with srun --mpi=pmix" grep -q "launch: srun --mpi=pmix" "$tmp/1.log"
check "prints where the results file is" grep -q "done. results: $out1" "$tmp/1.log"
check "results file: complete, 300 rows, tp 2 x dp 1" h5 run "$out1" bloom_tp2 300 2 1
say "runner: $(runner_wall "$tmp/1.log")"
grep -q "done. results" "$tmp/1.log" || tail -30 "$tmp/1.log"

# --- 1b. more ranks: more data-parallel groups, no edits -------------------------------------
echo "== 1b. slurm/bloom_tp2.sh on 4 ranks (4 fake GPUs): tp 2 x dp 2"
out1b=$tmp/tp2_4ranks.h5
BLOOM_LIMIT=300 BLOOM_OUTPUT=$out1b submit "1b bloom_tp2.sh srun 4 ranks 300" "$tmp/1b.log" \
  --ntasks-per-node=4 --gpus-per-node=4 "$ROOT/slurm/bloom_tp2.sh"
check "exit status 0" test "$?" = 0
check "results file: complete, 300 rows, tp 2 x dp 2" h5 run "$out1b" bloom_tp2 300 2 2
check "same results as tp 2 x dp 1 (1.)" h5 same "$out1" bloom_tp2 "$out1b" bloom_tp2
grep -q "done. results" "$tmp/1b.log" || tail -30 "$tmp/1b.log"

# --- 2. bloom_tp2.sh through mpirun ---------------------------------------------------------------
echo "== 2. slurm/bloom_tp2.sh, BLOOM_LAUNCHER=mpirun, $N passages"
out2=$tmp/tp2_mpirun.h5
BLOOM_LAUNCHER=mpirun BLOOM_LIMIT=$N BLOOM_OUTPUT=$out2 submit "2 bloom_tp2.sh mpirun $N" "$tmp/2.log" "$ROOT/slurm/bloom_tp2.sh"
check "exit status 0" test "$?" = 0
check "launched with mpirun" grep -q "launch: mpirun" "$tmp/2.log"
check "prints where the results file is" grep -q "done. results: $out2" "$tmp/2.log"
check "results file: complete, $N rows, tp 2 x dp 1" h5 run "$out2" bloom_tp2 "$N" 2 1
say "runner: $(runner_wall "$tmp/2.log")"
grep -q "done. results" "$tmp/2.log" || tail -30 "$tmp/2.log"

# --- 3. sweep.sh on the CPU sweep ---------------------------------------------------------------
echo "== 3. slurm/sweep.sh, jobs/cpu-sweep.yaml"
out3=$tmp/sweep.h5
n_runs=$(cd "$ROOT" && BLOOM_OUTPUT=$out3 "$RUNNER" validate jobs/cpu-sweep.yaml --world 2 --json \
         | python3 -c 'import json, sys; print(len(json.load(sys.stdin)["runs"]))')
BLOOM_JOB=$ROOT/jobs/cpu-sweep.yaml BLOOM_OUTPUT=$out3 submit "3 sweep.sh cpu-sweep" "$tmp/3.log" "$ROOT/slurm/sweep.sh"
check "exit status 0" test "$?" = 0
check "prints where the results file is" grep -q "done. results: $out3" "$tmp/3.log"
check "every run of the sweep in one file ($n_runs runs)" h5 runs "$out3" "${n_runs:-0}"
say "runner: $(runner_wall "$tmp/3.log")"
grep -q "done. results" "$tmp/3.log" || tail -30 "$tmp/3.log"

# --- 4. stopped twice, requeued, resumed ----------------------------------------------------------
echo "== 4. slurm/bloom_tp2.sh ($N passages) stopped mid-run twice (scancel --signal=TERM, then --batch), requeued, resumed"
out4=$tmp/requeue.h5
log4=$tmp/4.log
BLOOM_LIMIT=$N BLOOM_OUTPUT=$out4 start_bg "4 requeue (2 stops, 2 requeues)" "$log4" "$ROOT/slurm/bloom_tp2.sh"
step=$((N / 20))
if [ -n "$JOBID" ] && d1=$(h5 wait_done "$out4" bloom_tp2 "$step" 180); then
  scancel --signal=TERM "$JOBID"
  say "signalled the ranks (scancel --signal=TERM $JOBID) with $d1 rows done"
  if wait_log "$log4" 1 180 "resuming with" \
     && n1=$(grep -o "resuming with [0-9]* passages" "$log4" | head -1 | grep -o "[0-9]*") \
     && d2=$(h5 wait_done "$out4" bloom_tp2 $((n1 + step)) 180); then
    scancel --batch --signal=TERM "$JOBID"
    say "signalled the batch script (scancel --batch --signal=TERM $JOBID) with $d2 rows done"
  else
    bad "second start of the requeued job resumes and makes progress"
  fi
else
  bad "the job starts and writes rows"
fi
rc=0
finish_bg "4 requeue (2 stops, 2 requeues)" || rc=$?
check "exit status 0 after two requeues" test "$rc" = 0
check "stopped by a signal twice" test "$(grep -c "stopped by a signal; " "$log4")" -ge 2
check "requeued itself twice" test "$(grep -c "requeueing job $JOBID" "$log4")" = 2
check "ran three times (restart 0, 1, 2)" grep -q "job $JOBID restart 2 on" "$log4"
check "forwarded the batch script's SIGTERM to the ranks" grep -q "got SIGTERM: asking the ranks" "$log4"
mapfile -t resumed < <(grep -o "resuming with [0-9]* passages" "$log4" | grep -o "[0-9]*")
check "resumed mid-run twice, further each time (${resumed[*]:-none} of $N rows done)" \
  test "${#resumed[@]}" = 2 -a "${resumed[0]:-0}" -gt 0 -a "${resumed[1]:-0}" -gt "${resumed[0]:-0}" \
       -a "${resumed[1]:-$N}" -lt "$N"
check "results file: complete, $N rows" h5 run "$out4" bloom_tp2 "$N" 2 1
check "resumed results == uninterrupted run (2.)" h5 same "$out2" bloom_tp2 "$out4" bloom_tp2
grep -q "done. results" "$log4" || tail -40 "$log4"

# --- 5. a cancelled job stays cancelled -------------------------------------------------------------
echo "== 5. plain scancel mid-run: not requeued"
out5=$tmp/cancel.h5
log5=$tmp/5.log
BLOOM_LIMIT=$N BLOOM_OUTPUT=$out5 start_bg "5 scancel" "$log5" "$ROOT/slurm/bloom_tp2.sh"
if [ -n "$JOBID" ] && h5 wait_done "$out5" bloom_tp2 "$step" 180 >/dev/null; then
  scancel "$JOBID"
else
  bad "the job starts and writes rows"
fi
finish_bg "5 scancel" || true
# sbatch --wait returns as soon as the job is CANCELLED, with exit code 0, while the batch script
# may still be finishing (state COMPLETING): wait for the job to end before reading its log.
final=""
t0=$SECONDS
while [ $((SECONDS - t0)) -lt 60 ]; do
  final=$(scontrol show job "$JOBID" 2>/dev/null | grep -o 'JobState=[A-Z_]*' | cut -d= -f2)
  case $final in RUNNING | COMPLETING) sleep 0.2 ;; *) break ;; esac
done
check "the job ended cancelled, not requeued (state ${final:-purged})" test "$final" = CANCELLED -o -z "$final"
check "the script did not requeue it" grep -q "not requeued" "$log5"
check "never requeued" test "$(grep -c "requeueing job" "$log5")" = 0
check "no job left in the queue" test -z "$(squeue -h -j "$JOBID" -o %T 2>/dev/null)"

# --- 6. one array task per sweep run --------------------------------------------------------------
echo "== 6. slurm/sweep_array.sh --submit, jobs/cpu-sweep.yaml"
t0=$(now)
BLOOM_JOB=$ROOT/jobs/cpu-sweep.yaml BLOOM_OUTPUT=$tmp/array.h5 \
  timeout "$JOB_TIMEOUT" bash "$ROOT/slurm/sweep_array.sh" --submit --wait "${SBATCH_ARGS[@]}" \
  -o "$tmp/6_%a.log" >"$tmp/6.submit" 2>&1
rc=$?
TIMES+=("6 sweep_array.sh ${n_runs:-?} tasks: $(secs "$t0" "$(now)") s from submission to the last task's end (exit $rc)")
check "array of ${n_runs:-?} tasks: exit status 0" test "$rc" = 0
for ((k = 0; k < ${n_runs:-0}; k++)); do
  f=$tmp/array.run$k.h5
  name=$(python3 -c "import h5py,sys; print(list(h5py.File(sys.argv[1],'r')['runs'].keys())[0])" "$f" 2>/dev/null)
  check "task $k wrote one run ($name) to its own file" test -n "$name"
  [ -z "$name" ] || check "task $k: $name == the same run of the one-allocation sweep (3.)" \
    h5 same "$out3" "$name" "$f" "$name"
done
[ "$rc" = 0 ] || { cat "$tmp/6.submit"; tail -20 "$tmp"/6_*.log; }

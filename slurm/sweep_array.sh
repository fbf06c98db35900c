#!/usr/bin/env bash
# A sweep larger than one allocation: one Slurm array task per run of the sweep, each in its own
# allocation (2 GPUs) and its own results file. slurm/README.md has the details.
#
#   bash slurm/sweep_array.sh --submit [sbatch options]   # counts the runs (runner validate)
#                                                         # and submits --array=0-(N-1)
#   sbatch --array=0-11%4 slurm/sweep_array.sh            # the same by hand, at most 4 at once
#   BLOOM_JOB=jobs/cpu-sweep.yaml bash slurm/sweep_array.sh --submit --cpus-per-task=1
#
# Task K evaluates run K of BLOOM_JOB (default jobs/sweep.yaml; K counts in the order
# `runner validate` lists the runs) and writes <BLOOM_OUTPUT minus .h5>.run<K>.h5 (default
# results/<job file name>.run<K>.h5); `runner report results/sweep.run*.h5` puts them side by
# side. Needs:
# - a runner that reads BLOOM_RUNS (runner/select_runs.h; bloom_tp2.sh refuses one that doesn't,
#   which would evaluate every run in every task);
# - a job file whose output.path uses ${BLOOM_OUTPUT:-...} (jobs/sweep.yaml, jobs/cpu-sweep.yaml
#   do), so that tasks do not share one file.
# Everything else (environment variables, SIGTERM forwarding, requeue and resume) is
# slurm/bloom_tp2.sh's, which each task runs.
#
#SBATCH --job-name=bloom-sweep-array    # name in squeue and in the log file names
#SBATCH --nodes=1                       # one run per task: 2 ranks (tp 1: dp 2; tp 2: dp 1)
#SBATCH --ntasks-per-node=2             # one rank per GPU: equal to --gpus-per-node
#SBATCH --gpus-per-node=2               # GPUs per node; rank r uses GPU SLURM_LOCALID
#SBATCH --cpus-per-task=8               # per rank: tokenizer and checkpoint-reading threads
#SBATCH --time=00:30:00                 # one run of bloom-7b1 over all of LAMBADA
#SBATCH --signal=B:TERM@120             # SIGTERM to the script 120 s before the limit; forwarded to the ranks
#SBATCH --requeue                       # may go back to the queue (preemption, node failure, exit 3)
#SBATCH --open-mode=append              # a requeued task appends to its log instead of truncating it
#SBATCH --output=%x-%A_%a.out           # log: <job-name>-<array job id>_<task>.out
set -euo pipefail

die() { echo "sweep_array.sh: $*" >&2; exit 1; }
is_home() { [ -n "$1" ] && [ -f "$1/slurm/bloom_tp2.sh" ]; }
if [ -z "${BLOOM_HOME:-}" ]; then
  submitted=""
  [ -z "${SLURM_JOB_ID:-}" ] || submitted=$(scontrol show job "$SLURM_JOB_ID" 2>/dev/null \
    | sed -n 's/^ *Command=\([^ ]*\).*/\1/p' | head -1)
  for c in "$(dirname "${BASH_SOURCE[0]}")/.." "$(dirname "$submitted")/.." "${SLURM_SUBMIT_DIR:-}" "$PWD"; do
    if is_home "$c"; then BLOOM_HOME=$(cd "$c" && pwd); break; fi
  done
fi
is_home "${BLOOM_HOME:-}" || die "cannot find the repository: set BLOOM_HOME"
export BLOOM_HOME
# Relative paths in the environment are relative to where the job was submitted.
abs() { case $1 in /*) echo "$1" ;; *) echo "${SLURM_SUBMIT_DIR:-$PWD}/$1" ;; esac; }
job=$(abs "${BLOOM_JOB:-$BLOOM_HOME/jobs/sweep.yaml}")
[ -f "$job" ] || die "no job file $job (set BLOOM_JOB)"
# shellcheck disable=SC2016
grep -q '${BLOOM_OUTPUT' "$job" \
  || die "$job: output.path must use \${BLOOM_OUTPUT:-...} so that each task writes its own file"
base=$(abs "${BLOOM_OUTPUT:-$BLOOM_HOME/results/$(basename "$job" .yaml).h5}")
base=${base%.h5}

if [ "${1:-}" = --submit ]; then
  # On the login node: one task per run of the job.
  shift
  runner=${BLOOM_RUNNER:-$BLOOM_HOME/${BLOOM_BUILD_DIR:-build}/runner/runner}
  [ -x "$runner" ] || die "no runner binary $runner: build it or set BLOOM_RUNNER"
  mkdir -p "$(dirname "$base")"
  check=$(cd "$BLOOM_HOME" && BLOOM_OUTPUT=$base.run0.h5 "$runner" validate "$job" 2>&1) \
    || { echo "$check" >&2; die "$job does not validate"; }
  n=$(sed -n 's/^.*: \([0-9][0-9]*\) run(s) -> .*/\1/p' <<<"$check" | head -1)
  echo "sweep_array.sh: $job has $n run(s): submitting an array of $n tasks"
  export BLOOM_JOB=$job BLOOM_OUTPUT=$base.h5  # absolute: the tasks resolve nothing again
  exec sbatch --array="0-$((n - 1))" "$@" "$BLOOM_HOME/slurm/sweep_array.sh"
fi

k=${SLURM_ARRAY_TASK_ID:-}
[ -n "$k" ] || die "not an array task: submit with 'bash slurm/sweep_array.sh --submit' or 'sbatch --array=0-N'"
export BLOOM_JOB=$job
export BLOOM_RUNS=$k
export BLOOM_OUTPUT=$base.run$k.h5
export BLOOM_LOG_NAME=${BLOOM_LOG_NAME:-sweep_array.sh[$k]}
exec bash "$BLOOM_HOME/slurm/bloom_tp2.sh"

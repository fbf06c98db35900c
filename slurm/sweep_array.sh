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
# `runner validate` lists the runs, its "index" in `runner validate --json`) through BLOOM_RUNS
# (runner/select_runs.h), and writes <BLOOM_OUTPUT minus .h5>.run<K>.h5 (default
# results/<job file name>.run<K>.h5); `runner report results/sweep.run*.h5` puts them side by
# side. The job file's output.path must use ${BLOOM_OUTPUT:-...} (jobs/sweep.yaml,
# jobs/cpu-sweep.yaml do), so that tasks do not share one file; the script checks it with
# `runner validate --json`. Everything else (environment variables, SIGTERM forwarding, requeue
# and resume) is slurm/launch.sh's, which each task runs.
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

# Find slurm/common.sh (sbatch runs a copy of this file): common.sh writes down the rule.
submitted=$(scontrol show job "${SLURM_JOB_ID:-0}" 2>/dev/null | sed -n 's/^ *Command=\([^ ]*\).*/\1/p' | head -1)
for d in ${BLOOM_HOME:+"$BLOOM_HOME/slurm"} "$(dirname "${submitted:-.}")" "$(dirname "$0")" \
         "${SLURM_SUBMIT_DIR:-$PWD}/slurm" ""; do [ -f "$d/common.sh" ] && break; done
source "${d:?cannot find the repository (slurm/common.sh): set BLOOM_HOME}/common.sh"

export BLOOM_LOG_NAME=${BLOOM_LOG_NAME:-sweep_array.sh${SLURM_ARRAY_TASK_ID:+[$SLURM_ARRAY_TASK_ID]}}
job=${BLOOM_JOB:-$BLOOM_HOME/jobs/sweep.yaml}
[ -f "$job" ] || die "no job file $job (set BLOOM_JOB)"
base=${BLOOM_OUTPUT:-$BLOOM_HOME/results/$(basename "$job" .yaml).h5}
base=${base%.h5}
mkdir -p "$(dirname "$base")"

# The job's runs, and proof that its output.path follows BLOOM_OUTPUT (so that the tasks do not
# share one file): validated with BLOOM_OUTPUT set to this task's file (task 0's at submission).
bloom_source_env
bloom_find_runner
probe=$base.run${SLURM_ARRAY_TASK_ID:-0}.h5
# (--submit runs on the login node: the GPUs are checked where the tasks run.)
[ "${1:-}" != --submit ] || export BLOOM_VALIDATE_ELSEWHERE=1
BLOOM_RUNS="" BLOOM_OUTPUT=$probe bloom_validate "$job"
unset BLOOM_VALIDATE_ELSEWHERE
[ "$(bloom_json output.path <<<"$BLOOM_VALIDATION")" = "$probe" ] \
  || die "$job: output.path must use \${BLOOM_OUTPUT:-...} so that each task writes its own file"

if [ "${1:-}" = --submit ]; then
  # On the login node: one task per run of the job.
  shift
  n=$(bloom_json runs.# <<<"$BLOOM_VALIDATION")
  log "$job has $n run(s): submitting an array of $n tasks"
  export BLOOM_JOB=$job BLOOM_OUTPUT=$base.h5  # absolute: the tasks resolve nothing again
  exec sbatch --array="0-$((n - 1))" "$@" "$BLOOM_HOME/slurm/sweep_array.sh"
fi

k=${SLURM_ARRAY_TASK_ID:-}
[ -n "$k" ] || die "not an array task: submit with 'bash slurm/sweep_array.sh --submit' or 'sbatch --array=0-N'"
export BLOOM_RUNS=$k BLOOM_OUTPUT=$base.run$k.h5
exec bash "$BLOOM_HOME/slurm/launch.sh" "$job"

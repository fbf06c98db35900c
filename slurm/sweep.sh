#!/usr/bin/env bash
# A sweep in one allocation: jobs/sweep.yaml by default (bloom-7b1: tp 1 and 2 x fp16 and bf16 x
# batch 16, 64, 256 = 12 runs into one results file) on one node with 2 GPUs. tp 1 runs as two
# data-parallel engines, tp 2 as one engine over both GPUs; weights are reloaded only when tp or
# dtype changes. slurm/README.md has the details.
#
#   sbatch slurm/sweep.sh
#   BLOOM_JOB=jobs/cpu-sweep.yaml sbatch --cpus-per-task=1 slurm/sweep.sh   # the CPU sweep
#   bash slurm/sweep_array.sh --submit                # one array task per run instead (README)
#
# It runs slurm/launch.sh (as bloom_tp2.sh does) with BLOOM_JOB defaulting to jobs/sweep.yaml,
# so the same environment variables apply (BLOOM_HOME, BLOOM_RUNNER, BLOOM_MODEL, BLOOM_OUTPUT,
# BLOOM_LAUNCHER ...), and the same SIGTERM forwarding and requeue: with output.resume (as in
# jobs/sweep.yaml) a requeued sweep skips finished runs and finished batches.
#
#SBATCH --job-name=bloom-sweep          # name in squeue and in the log file name
#SBATCH --nodes=1                       # the sweep's runs use 2 ranks each (tp 1: dp 2; tp 2: dp 1)
#SBATCH --ntasks-per-node=2             # one rank per GPU: equal to --gpus-per-node
#SBATCH --gpus-per-node=2               # GPUs per node; rank r uses GPU SLURM_LOCALID
#SBATCH --cpus-per-task=8               # per rank: tokenizer and checkpoint-reading threads
#SBATCH --time=02:00:00                 # 12 runs of bloom-7b1 over all of LAMBADA
#SBATCH --signal=B:TERM@120             # SIGTERM to the script 120 s before the limit; forwarded to the ranks
#SBATCH --requeue                       # may go back to the queue (preemption, node failure, exit 3)
#SBATCH --open-mode=append              # a requeued job appends to its log instead of truncating it
#SBATCH --output=%x-%j.out              # log: <job-name>-<job-id>.out in the submit directory

# Find slurm/common.sh (sbatch runs a copy of this file): common.sh writes down the rule.
submitted=$(scontrol show job "${SLURM_JOB_ID:-0}" 2>/dev/null | sed -n 's/^ *Command=\([^ ]*\).*/\1/p' | head -1)
for d in ${BLOOM_HOME:+"$BLOOM_HOME/slurm"} "$(dirname "${submitted:-.}")" "$(dirname "$0")" \
         "${SLURM_SUBMIT_DIR:-$PWD}/slurm" ""; do [ -f "$d/common.sh" ] && break; done
source "${d:?cannot find the repository (slurm/common.sh): set BLOOM_HOME}/common.sh"

BLOOM_LOG_NAME=${BLOOM_LOG_NAME:-sweep.sh} exec bash "$BLOOM_HOME/slurm/launch.sh" "${BLOOM_JOB:-$BLOOM_HOME/jobs/sweep.yaml}"

#!/usr/bin/env bash
# The seed's evaluation as a Slurm batch job: bloom-7b1, fp16, tensor parallel 2, batches of 16,
# all of LAMBADA, on one node with 2 GPUs (jobs/bloom_tp2.yaml). slurm/README.md has the details.
#
#   sbatch slurm/bloom_tp2.sh                  # 1 node x 2 GPUs: tp 2 x dp 1
#   sbatch -N 4 slurm/bloom_tp2.sh             # 4 nodes: tp 2 x dp 4 (dp = ranks / tp), no edits
#   sbatch -N 4 --ntasks-per-node=4 --gpus-per-node=4 slurm/bloom_tp2.sh   # 4-GPU nodes: dp 8
#   BLOOM_JOB=jobs/sweep.yaml sbatch slurm/bloom_tp2.sh                   # any other job file
#
# Options on the sbatch command line override the #SBATCH lines below. This file holds only the
# resources and the default job file; slurm/launch.sh, the generic launcher it runs, does the
# rest (validate, srun or mpirun, SIGTERM forwarding, requeue) and lists the environment
# variables (BLOOM_HOME, BLOOM_RUNNER, BLOOM_JOB, BLOOM_MODEL, BLOOM_OUTPUT, BLOOM_LAUNCHER ...).
#
# Exit status: 0 done; 3 stopped by a signal with a resumable results file (the job requeues
# itself first unless BLOOM_REQUEUE=0); anything else: the runner failed.
#
#SBATCH --job-name=bloom-tp2            # name in squeue and in the log file name
#SBATCH --nodes=1                       # nodes; each adds dp groups (-N 4: tp 2 x dp 4)
#SBATCH --ntasks-per-node=2             # one rank per GPU: equal to --gpus-per-node
#SBATCH --gpus-per-node=2               # GPUs per node; rank r uses GPU SLURM_LOCALID
#SBATCH --cpus-per-task=8               # per rank: tokenizer and checkpoint-reading threads
#SBATCH --time=01:00:00                 # bloom-7b1 on all of LAMBADA takes minutes
#SBATCH --signal=B:TERM@120             # SIGTERM to this script 120 s before the limit; forwarded to the ranks
#SBATCH --requeue                       # may go back to the queue (preemption, node failure, exit 3 below)
#SBATCH --open-mode=append              # a requeued job appends to its log instead of truncating it
#SBATCH --output=%x-%j.out              # log: <job-name>-<job-id>.out in the submit directory

# Find slurm/common.sh (sbatch runs a copy of this file): common.sh writes down the rule.
submitted=$(scontrol show job "${SLURM_JOB_ID:-0}" 2>/dev/null | sed -n 's/^ *Command=\([^ ]*\).*/\1/p' | head -1)
for d in ${BLOOM_HOME:+"$BLOOM_HOME/slurm"} "$(dirname "${submitted:-.}")" "$(dirname "$0")" \
         "${SLURM_SUBMIT_DIR:-$PWD}/slurm" ""; do [ -f "$d/common.sh" ] && break; done
source "${d:?cannot find the repository (slurm/common.sh): set BLOOM_HOME}/common.sh"

BLOOM_LOG_NAME=${BLOOM_LOG_NAME:-bloom_tp2.sh} exec bash "$BLOOM_HOME/slurm/launch.sh" "${BLOOM_JOB:-$BLOOM_HOME/jobs/bloom_tp2.yaml}"

#!/usr/bin/env bash
# The seed's evaluation as a Slurm batch job: bloom-7b1, fp16, tensor parallel 2, batches of 16,
# all of LAMBADA, on one node with 2 GPUs (jobs/bloom_tp2.yaml). slurm/README.md has the details.
#
#   sbatch slurm/bloom_tp2.sh                  # 1 node x 2 GPUs: tp 2 x dp 1
#   sbatch -N 4 slurm/bloom_tp2.sh             # 4 nodes: tp 2 x dp 4 (dp = ranks / tp), no edits
#   sbatch -N 4 --ntasks-per-node=4 --gpus-per-node=4 slurm/bloom_tp2.sh   # 4-GPU nodes: dp 8
#   BLOOM_JOB=jobs/sweep.yaml sbatch slurm/bloom_tp2.sh                   # any other job file
#
# Options on the sbatch command line override the #SBATCH lines below. Paths come from the
# environment (relative ones are taken from the submit directory), never from a home folder:
#   BLOOM_HOME      the repository (default: found from this script's submitted path or the
#                   submit directory; under sbatch this file runs from a copy in a spool folder)
#   BLOOM_RUNNER    the runner binary (default: BLOOM_HOME/build/runner/runner, or
#                   BLOOM_HOME/$BLOOM_BUILD_DIR/runner/runner)
#   BLOOM_JOB       the job file (default: jobs/bloom_tp2.yaml)
#   BLOOM_MODEL, BLOOM_TOKENIZER, BLOOM_DATA, BLOOM_OUTPUT, BLOOM_BACKEND, BLOOM_DTYPE,
#   BLOOM_LIMIT     read by the job file through ${VAR:-default}
#   BLOOM_LAUNCHER  auto (default: srun --mpi=pmix where Slurm has PMIx, else mpirun) | srun | mpirun
#   BLOOM_SRUN_MPI  srun's --mpi plugin (default pmix; Debian's Open MPI fails with pmi2 and none)
#   BLOOM_LAUNCHER_ARGS  extra arguments for srun or mpirun
#   BLOOM_REQUEUE   1 (default): requeue this job when the runner was stopped by a signal; 0: don't
#   BLOOM_MAX_REQUEUES   at most this many automatic requeues (default 10)
#   BLOOM_ENV       a file to source first (module loads ...; default: slurm/env.sh if present)
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
set -euo pipefail

log() { echo "[${BLOOM_LOG_NAME:-bloom_tp2.sh} $(date +%H:%M:%S)] $*"; }
die() { log "error: $*" >&2; exit 1; }

# --- Where things are -----------------------------------------------------------------------
is_home() { [ -n "$1" ] && [ -d "$1/jobs" ] && [ -d "$1/slurm" ]; }
submitted_script() {  # sbatch runs a copy; scontrol knows the path that was submitted
  [ -n "${SLURM_JOB_ID:-}" ] || return 0
  scontrol show job "$SLURM_JOB_ID" 2>/dev/null | sed -n 's/^ *Command=\([^ ]*\).*/\1/p' | head -1
}
if [ -n "${BLOOM_HOME:-}" ]; then
  is_home "$BLOOM_HOME" || die "BLOOM_HOME=$BLOOM_HOME has no jobs/ and slurm/ folders"
else
  for c in "$(dirname "${BASH_SOURCE[0]}")/.." "$(dirname "$(submitted_script)")/.." \
           "${SLURM_SUBMIT_DIR:-}" "$PWD"; do
    if is_home "$c"; then BLOOM_HOME=$c; break; fi
  done
  [ -n "${BLOOM_HOME:-}" ] || die "cannot find the repository: set BLOOM_HOME or submit from it"
fi
BLOOM_HOME=$(cd "$BLOOM_HOME" && pwd)
export BLOOM_HOME

# Relative paths given in the environment are relative to where the job was submitted.
submit_dir=${SLURM_SUBMIT_DIR:-$PWD}
for v in BLOOM_RUNNER BLOOM_JOB BLOOM_MODEL BLOOM_TOKENIZER BLOOM_DATA BLOOM_OUTPUT BLOOM_ENV; do
  val=${!v:-}
  if [ -n "$val" ] && [ "${val#/}" = "$val" ]; then export "$v=$submit_dir/$val"; fi
done

# Site settings (module loads, NCCL knobs): slurm/env.sh documents them.
env_file=${BLOOM_ENV:-$BLOOM_HOME/slurm/env.sh}
if [ -f "$env_file" ]; then
  # shellcheck source=env.sh
  source "$env_file"
elif [ -n "${BLOOM_ENV:-}" ]; then
  die "BLOOM_ENV=$BLOOM_ENV does not exist"
fi

BLOOM_RUNNER=${BLOOM_RUNNER:-$BLOOM_HOME/${BLOOM_BUILD_DIR:-build}/runner/runner}
if [ -z "${BLOOM_RUNNER:-}" ] || [ ! -x "$BLOOM_RUNNER" ]; then
  die "no runner binary: build it (README.md) or set BLOOM_RUNNER (got '${BLOOM_RUNNER:-}')"
fi
# BLOOM_RUNS (slurm/sweep_array.sh) needs a runner that reads it: an older one would silently
# evaluate every run.
if [ -n "${BLOOM_RUNS:-}" ] && ! grep -qa BLOOM_RUNS "$BLOOM_RUNNER"; then
  die "BLOOM_RUNS is set but $BLOOM_RUNNER does not support it (runner/select_runs.h): rebuild it"
fi
BLOOM_JOB=${BLOOM_JOB:-$BLOOM_HOME/jobs/bloom_tp2.yaml}
[ -f "$BLOOM_JOB" ] || die "no job file $BLOOM_JOB (set BLOOM_JOB)"
export BLOOM_RUNNER BLOOM_JOB

# Job files use paths relative to the repository root.
cd "$BLOOM_HOME"
if [ -n "${BLOOM_OUTPUT:-}" ]; then mkdir -p "$(dirname "$BLOOM_OUTPUT")"; else mkdir -p results; fi

# --- NCCL (GPU runs; TP all-reduces never leave a node: TP groups are contiguous ranks) -------
# export NCCL_DEBUG=INFO             # print the transports and rings NCCL picked (default WARN);
# export NCCL_DEBUG_SUBSYS=INIT,NET  #   ... only for these parts
# export NCCL_IB_DISABLE=1           # no InfiniBand: for nodes without it or with it broken; TP
#                                    #   inside a node uses NVLink/PCIe P2P anyway
# export NCCL_SOCKET_IFNAME=^docker0,lo   # interfaces for NCCL's bootstrap sockets: a wrong pick
#                                    #   (docker0, a down NIC) hangs the first all-reduce
# export NCCL_P2P_LEVEL=NVL          # GPU peer-to-peer only over NVLink (PIX: same PCIe switch,
#                                    #   SYS: anywhere); NCCL_P2P_DISABLE=1 where P2P over PCIe
#                                    #   hangs or corrupts (VMs with ACS, some consumer boards)
# export NCCL_NVLS_ENABLE=0          # no NVLink SHARP (NVSwitch multicast, H100/H200): needed where
#                                    #   multicast is not set up (containers, VMs, no IMEX/fabric
#                                    #   manager), which otherwise fail at communicator init
# export NCCL_CUMEM_ENABLE=0         # NCCL >= 2.19 allocates with cuMem; turn off if a container
#                                    #   refuses it
# export CUDA_LAUNCH_BLOCKING=1      # debugging only: synchronous kernels, exact error sites

# --- Ranks and launcher ---------------------------------------------------------------------
ntasks=${SLURM_NTASKS:-${BLOOM_NTASKS:-2}}
# CPU threads per rank (CPU backend, tokenizer); GPU runs hardly use them.
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-${SLURM_CPUS_PER_TASK:-1}}

# Check the job against this many ranks before taking the GPUs: files exist, tp divides the
# ranks and the heads, the output folder is writable. It also names the results file.
check=$("$BLOOM_RUNNER" validate "$BLOOM_JOB" --world "$ntasks" 2>&1) \
  || { echo "$check" >&2; die "$BLOOM_JOB does not validate for $ntasks ranks"; }
echo "$check"
results=$(sed -n 's/^.* run(s) -> //p' <<<"$check" | head -1)
[ "${results#/}" != "$results" ] || results=$BLOOM_HOME/$results

launcher=${BLOOM_LAUNCHER:-auto}
if [ "$launcher" = auto ]; then
  if [ -n "${SLURM_JOB_ID:-}" ] && command -v srun >/dev/null \
     && srun --mpi=list 2>&1 | grep -qw "${BLOOM_SRUN_MPI:-pmix}"; then
    launcher=srun
  elif command -v mpirun >/dev/null; then
    launcher=mpirun
  else
    die "neither srun with PMIx nor mpirun found (set BLOOM_LAUNCHER)"
  fi
fi
read -r -a extra <<<"${BLOOM_LAUNCHER_ARGS:-}"
case "$launcher" in
  srun)
    # srun (22.05+) does not inherit --cpus-per-task from sbatch: pass it on.
    cmd=(srun --mpi="${BLOOM_SRUN_MPI:-pmix}" --kill-on-bad-exit=1 ${SLURM_CPUS_PER_TASK:+--cpus-per-task=$SLURM_CPUS_PER_TASK}
         "${extra[@]}" "$BLOOM_RUNNER" run "$BLOOM_JOB")
    ;;
  mpirun)
    # Inside an allocation mpirun starts one rank per Slurm task (block mapping, so each TP
    # group stays on one node). On SIGTERM mpirun waits this long before passing it on to the
    # ranks and as long again before SIGKILL (default 1 s: too short to finish a batch).
    export OMPI_MCA_odls_base_sigkill_timeout=${OMPI_MCA_odls_base_sigkill_timeout:-15}
    np=()
    [ -n "${SLURM_JOB_ID:-}" ] || np=(-n "$ntasks")
    cmd=(mpirun "${np[@]}" --bind-to none "${extra[@]}" "$BLOOM_RUNNER" run "$BLOOM_JOB")
    ;;
  *) die "BLOOM_LAUNCHER must be auto, srun or mpirun (got '$launcher')" ;;
esac

log "job ${SLURM_JOB_ID:-(not under Slurm)} restart ${SLURM_RESTART_COUNT:-0} on ${SLURM_JOB_NODELIST:-$(hostname)}: $ntasks ranks"
log "runner $BLOOM_RUNNER, job $BLOOM_JOB, cwd $BLOOM_HOME"
log "launch: ${cmd[*]}"

# --- Run, forwarding a stop request ---------------------------------------------------------
# The ranks must get SIGTERM: each then stops after its current batch, the results file flushed
# and resumable, and exits 3. --signal=B:TERM@120, preemption and `scancel --batch --signal=TERM`
# signal this shell, which passes the request on:
# - srun: through `scancel --signal=TERM` of the job's steps, which reaches every rank directly.
#   Not by signalling srun: srun answers SIGTERM with SIGKILL to all tasks ("forcing job
#   termination"), which loses the batches in flight.
# - mpirun: SIGTERM to mpirun, which passes it on to every rank after
#   OMPI_MCA_odls_base_sigkill_timeout seconds (set above).
# `scancel --signal=TERM JOB` signals the ranks directly and ends the same way. The launcher
# runs in the background so that bash can run the trap while it waits.
signalled=0
forward() {
  signalled=1
  log "got SIG$1: asking the ranks to stop after their current batch"
  if [ "$launcher" = srun ]; then
    scancel --signal=TERM "$SLURM_JOB_ID" 2>/dev/null || kill -TERM "$child" 2>/dev/null || true
  else
    kill -TERM "$child" 2>/dev/null || true
  fi
}
t0=$(date +%s)
"${cmd[@]}" &
child=$!
trap 'forward TERM' TERM
trap 'forward INT' INT
trap 'forward USR1' USR1
while :; do
  rc=0
  wait "$child" || rc=$?
  # A trapped signal interrupts `wait` (status > 128) while the launcher still runs: wait again.
  if [ "$rc" -gt 128 ] && kill -0 "$child" 2>/dev/null; then continue; fi
  break
done
trap - TERM INT USR1
log "launcher exited with status $rc after $(( $(date +%s) - t0 )) s"

# mpirun reports 1, not the ranks' 3, when it was the one signalled: a stop we asked for is
# resumable whatever the launcher says (the runner keeps every finished batch even if killed).
if [ "$rc" -ne 0 ] && [ "$signalled" = 1 ]; then rc=3; fi

case "$rc" in
  0)
    log "done. results: $results"
    exit 0
    ;;
  3)
    log "stopped by a signal; the results file keeps every finished batch: $results"
    state=""
    [ -z "${SLURM_JOB_ID:-}" ] || state=$(scontrol show job "$SLURM_JOB_ID" 2>/dev/null \
                                          | grep -o 'JobState=[A-Z_]*' | cut -d= -f2 || true)
    restarts=${SLURM_RESTART_COUNT:-0}
    if [ -z "${SLURM_JOB_ID:-}" ]; then
      log "not under Slurm: run this script again to resume"
    elif [ "$state" != RUNNING ]; then
      # COMPLETING: Slurm is ending the job (scancel, time limit, node failure). A cancelled
      # job stays cancelled; Slurm itself requeues --requeue jobs after preemption or failure.
      log "job state $state (cancelled or ending): not requeued; to resume, submit again with the same environment"
    elif [ "${BLOOM_REQUEUE:-1}" != 1 ]; then
      log "BLOOM_REQUEUE=${BLOOM_REQUEUE}: not requeued; to resume, submit again with the same environment"
    elif [ "$restarts" -ge "${BLOOM_MAX_REQUEUES:-10}" ]; then
      log "already restarted $restarts times (BLOOM_MAX_REQUEUES=${BLOOM_MAX_REQUEUES:-10}): not requeued"
    else
      # Logged first: Slurm may end this script as soon as the requeue takes effect.
      log "requeueing job $SLURM_JOB_ID (restart $((restarts + 1))): it resumes from the results file"
      scontrol requeue "$SLURM_JOB_ID" ||
        log "scontrol requeue failed: to resume, submit again with the same environment"
    fi
    exit 3
    ;;
  *)
    log "the runner failed (status $rc); the results file, if any, is resumable: $results"
    exit "$rc"
    ;;
esac

#!/usr/bin/env bash
# The generic launcher: runs one job file on the ranks of this allocation (or, outside Slurm, on
# BLOOM_NTASKS ranks with mpirun), passes a stop request on to the ranks, and requeues the job
# when they stopped resumably. slurm/bloom_tp2.sh, sweep.sh and sweep_array.sh run it on the
# batch node; it has no #SBATCH lines of its own and builds nothing. slurm/README.md has the
# details.
#
#   bash slurm/launch.sh [JOB.yaml]     # default: $BLOOM_JOB
#
# Environment (paths relative to the submit directory; slurm/common.sh):
#   BLOOM_HOME      the repository (the rule: slurm/common.sh)
#   BLOOM_RUNNER    the runner binary (default: BLOOM_HOME/build/runner/runner, or
#                   BLOOM_HOME/$BLOOM_BUILD_DIR/runner/runner)
#   BLOOM_JOB       the job file, when none is given as the argument
#   BLOOM_RUNS      runs of the job to evaluate (runner/select_runs.h; slurm/sweep_array.sh)
#   BLOOM_MODEL, BLOOM_TOKENIZER, BLOOM_DATA, BLOOM_OUTPUT, BLOOM_BACKEND, BLOOM_DTYPE,
#   BLOOM_LIMIT     read by the job file through ${VAR:-default}
#   BLOOM_LAUNCHER  auto (default: srun --mpi=pmix where Slurm has PMIx, else mpirun) | srun | mpirun
#   BLOOM_SRUN_MPI  srun's --mpi plugin (default pmix; Debian's Open MPI fails with pmi2 and none)
#   BLOOM_LAUNCHER_ARGS  extra arguments for srun or mpirun
#   BLOOM_NTASKS    ranks outside Slurm (default 2; under Slurm: SLURM_NTASKS)
#   BLOOM_REQUEUE   1 (default): requeue this job when the runner was stopped by a signal; 0: don't
#   BLOOM_MAX_REQUEUES   at most this many automatic requeues (default 10)
#   BLOOM_ENV       a file to source first (module loads ...; default: slurm/env.sh if present)
#   BLOOM_PYTHON    Python 3 that reads `runner validate --json` (default python3)
#
# Exit status: 0 done; 3 stopped by a signal with a resumable results file (the job requeues
# itself first unless BLOOM_REQUEUE=0); anything else: the runner failed.
set -euo pipefail

# Run from the repository, never submitted itself: its folder holds common.sh.
# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
if [ -n "${1:-}" ]; then
  case $1 in /*) BLOOM_JOB=$1 ;; *) BLOOM_JOB=${SLURM_SUBMIT_DIR:-$PWD}/$1 ;; esac
fi
[ -n "${BLOOM_JOB:-}" ] || die "no job file: give it as the argument or set BLOOM_JOB"
[ -f "$BLOOM_JOB" ] || die "no job file $BLOOM_JOB (set BLOOM_JOB)"
export BLOOM_JOB
bloom_source_env
bloom_find_runner

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

# Check the job against this many ranks before taking the GPUs (runner/preflight.h: files exist,
# tp divides the ranks and the heads, the output folder is writable, BLOOM_RUNS names runs of the
# job). The document also names the results file.
bloom_validate "$BLOOM_JOB" "$ntasks"
results=$(bloom_json output.path <<<"$BLOOM_VALIDATION")
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
log "runner $BLOOM_RUNNER ($("$BLOOM_RUNNER" --version)), job $BLOOM_JOB, cwd $BLOOM_HOME"
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

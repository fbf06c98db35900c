# shellcheck shell=bash
# Site settings for the slurm/ scripts: slurm/launch.sh (which bloom_tp2.sh, sweep.sh and
# sweep_array.sh run) sources this file on the compute node before launching, if it exists, and
# sweep_array.sh --submit before it counts the runs. Point BLOOM_ENV at another file to use that
# one instead. Keep it idempotent and quiet; the scripts run with
# `set -euo pipefail`, so guard optional things (`module load x || true`, ${VAR:-}).
#
# Everything here is commented out: the scripts work without it where the runner was built
# against the node's default MPI/CUDA.

# --- Modules: the MPI and CUDA the runner was built with -------------------------------------
# module purge
# module load gcc/12 openmpi/4.1 cuda/12.4 hdf5/1.10

# --- Paths (instead of exporting them at submission) ------------------------------------------
# export BLOOM_MODEL=/shared/models/bloom-7b1        # HF folder: config.json + safetensors
# export BLOOM_RUNNER=/shared/bloom-eval/build/runner/runner

# --- Launcher ---------------------------------------------------------------------------------
# export BLOOM_LAUNCHER=mpirun         # if srun --mpi=pmix does not work with this MPI
# export BLOOM_LAUNCHER_ARGS="--cpu-bind=cores"   # extra srun (or mpirun) arguments

# --- Open MPI -----------------------------------------------------------------------------------
# export OMPI_MCA_btl_vader_single_copy_mechanism=none   # containers without CAP_SYS_PTRACE:
#                                                         #   "Read -1, expected ..., errno = 1"
# export OMPI_MCA_odls_base_sigkill_timeout=15   # mpirun: seconds before it passes SIGTERM on to
#                                                 #   the ranks, and again before SIGKILL (default
#                                                 #   set by launch.sh: 15)

# --- NCCL: see the commented block in slurm/launch.sh (NCCL_DEBUG, NCCL_IB_DISABLE,
# NCCL_SOCKET_IFNAME, NCCL_P2P_LEVEL, NCCL_NVLS_ENABLE ...); site-wide values belong here.
# export NCCL_SOCKET_IFNAME=^docker0,lo

# --- Requeue ------------------------------------------------------------------------------------
# export BLOOM_REQUEUE=0               # never requeue; resubmit by hand (the job resumes)
# export BLOOM_MAX_REQUEUES=10         # bound on automatic requeues of one job

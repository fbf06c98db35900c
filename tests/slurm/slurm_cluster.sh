#!/usr/bin/env bash
# A throw-away one-node Slurm cluster on localhost, for testing the slurm/ scripts for real.
#
#   tests/slurm/slurm_cluster.sh start DIR   install what is missing, start munged, slurmctld, slurmd
#   tests/slurm/slurm_cluster.sh stop DIR    stop exactly what `start DIR` started, remove DIR
#
# After `start`, `source DIR/env.sh` points the Slurm clients (sbatch, squeue, scontrol ...) at it.
#
# Everything lives under DIR: slurm.conf, gres.conf, cgroup.conf, a private munge key and socket,
# state, spool, logs and pid files. Nothing is written to /etc/slurm, /run/munge or
# /var/spool; ports are free ones found at start (from 26817 up), so an existing Slurm or munged
# on the machine is left alone. The only lasting change is the Debian packages (slurm-wlm, munge,
# and what they pull in) when they were missing: `stop` keeps them for the next run unless
# BLOOM_SLURM_PURGE=1, which purges exactly the packages `start` installed.
#
# Needs root (slurmd runs as root; munged as user munge) or password-less sudo; Debian/Ubuntu
# (apt-get). Every wait has a timeout; a failed start prints the daemons' logs.
#
# Environment:
#   BLOOM_SLURM_CPUS     CPUs the node advertises (default: the real count from `slurmd -C`);
#                        more than the hardware has is allowed (SlurmdParameters=config_overrides)
#   BLOOM_SLURM_GPUS     fake GPUs the node declares (default 2: /dev/null, /dev/zero, ... as
#                        their device files, so --gpus-per-node=2 is accepted on a GPU-less node)
#   BLOOM_SLURM_CGROUP   cgroup plugin for cgroup.conf (default: cgroup/v1, or cgroup/v2 on a
#                        cgroup-v2-only host; the v2 autodetect needs systemd and kills slurmd)
#   BLOOM_SLURM_PURGE=1  `stop` purges the packages `start` installed
#   BLOOM_SLURM_TIMEOUT  seconds to wait for the node to become idle (default 60)
set -euo pipefail

usage() { echo "usage: $0 start|stop DIR" >&2; exit 2; }
[ $# -eq 2 ] || usage
cmd=$1
dir=$2

SUDO=()
if [ "$(id -u)" != 0 ]; then
  sudo -n true 2>/dev/null || { echo "slurm_cluster: needs root or password-less sudo" >&2; exit 77; }
  SUDO=(sudo -n)
fi
as_root() { "${SUDO[@]}" "$@"; }
log() { echo "slurm_cluster: $*"; }

PKGS=(slurm-wlm munge)
SBIN_NEEDED=(slurmctld slurmd munged)
BIN_NEEDED=(sbatch srun squeue sinfo scontrol scancel munge unmunge)

missing_tools() {
  local t
  for t in "${SBIN_NEEDED[@]}"; do
    [ -x "/usr/sbin/$t" ] || command -v "$t" >/dev/null 2>&1 || echo "$t"
  done
  for t in "${BIN_NEEDED[@]}"; do command -v "$t" >/dev/null 2>&1 || echo "$t"; done
  # srun --mpi=pmix needs Slurm's PMIx plugin (slurm-wlm-basic-plugins).
  compgen -G "/usr/lib/*/slurm-wlm/mpi_pmix*.so" >/dev/null || compgen -G "/usr/lib*/slurm/mpi_pmix*.so" \
    >/dev/null || echo "mpi_pmix.so"
}

install_packages() {
  local need
  need=$(missing_tools | tr '\n' ' ')
  [ -z "$need" ] && return 0
  command -v apt-get >/dev/null || { echo "slurm_cluster: missing $need and no apt-get" >&2; exit 77; }
  log "installing ${PKGS[*]} (missing: $need)"
  local before="$dir/.dpkg-before" t0=$SECONDS
  dpkg-query -W -f '${Package}\n' | sort >"$before"
  export DEBIAN_FRONTEND=noninteractive
  # The package lists may be stale or absent on a fresh machine: update and retry once.
  if ! timeout 600 "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
      --no-install-recommends "${PKGS[@]}" >"$dir/apt.log" 2>&1; then
    timeout 300 "${SUDO[@]}" apt-get update -qq >>"$dir/apt.log" 2>&1 || true
    timeout 600 "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
      --no-install-recommends "${PKGS[@]}" >>"$dir/apt.log" 2>&1 \
      || { tail -30 "$dir/apt.log" >&2; echo "slurm_cluster: apt-get install failed" >&2; exit 1; }
  fi
  dpkg-query -W -f '${Package}\n' | sort | comm -13 "$before" - >"$dir/installed-packages"
  rm -f "$before"
  log "installed $(wc -l <"$dir/installed-packages") packages in $((SECONDS - t0)) s"
  need=$(missing_tools | tr '\n' ' ')
  [ -z "$need" ] || { echo "slurm_cluster: still missing after install: $need" >&2; exit 1; }
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
free_port() {
  local p=$1
  while port_in_use "$p" || [ "$p" = "${2:-}" ]; do p=$((p + 1)); done
  echo "$p"
}

# Waits up to $1 seconds for the command $2... to succeed.
wait_for() {
  local limit=$1 t0=$SECONDS
  shift
  until "$@" >/dev/null 2>&1; do
    [ $((SECONDS - t0)) -lt "$limit" ] || return 1
    sleep 0.2
  done
}

dump_logs() {
  local f
  for f in "$dir"/log/*.log; do
    [ -f "$f" ] || continue
    echo "----- $f (last 40 lines)" >&2
    tail -40 "$f" >&2
  done
}

node_idle() {
  [ "$(SLURM_CONF="$dir/etc/slurm.conf" sinfo -h -N -o %t 2>/dev/null)" = idle ]
}

start() {
  if [ -e "$dir/pids" ]; then echo "slurm_cluster: $dir already holds a cluster" >&2; exit 1; fi
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  chmod 755 "$dir"
  # Pmix leaves /tmp/spmix_appdir_* behind per step; stop removes the ones that appear.
  ls -d /tmp/spmix_appdir_* 2>/dev/null | sort >"$dir/.spmix-before" || true
  install_packages
  mkdir -p "$dir/etc" "$dir/state" "$dir/spool" "$dir/log" "$dir/run" "$dir/munge"
  : >"$dir/pids"

  # munged: our own key, socket, log, pid and seed, run as user munge.
  local munge_user=munge
  id "$munge_user" >/dev/null 2>&1 || munge_user=root
  head -c 1024 /dev/urandom >"$dir/munge/munge.key"
  chmod 400 "$dir/munge/munge.key"
  as_root chown -R "$munge_user:" "$dir/munge"
  chmod 755 "$dir/munge"
  local socket="$dir/munge/munge.socket"
  local munged=(/usr/sbin/munged --key-file="$dir/munge/munge.key" --socket="$socket"
                --pid-file="$dir/munge/munged.pid" --log-file="$dir/munge/munged.log"
                --seed-file="$dir/munge/munged.seed")
  if [ "$munge_user" = root ]; then
    as_root "${munged[@]}" --force
  else
    as_root runuser -u "$munge_user" -- "${munged[@]}"
  fi
  wait_for 10 test -s "$dir/munge/munged.pid" || { cat "$dir/munge/munged.log" >&2; exit 1; }
  echo "munged $(cat "$dir/munge/munged.pid")" >>"$dir/pids"
  wait_for 10 bash -c "munge -S '$socket' -n | unmunge -S '$socket'" \
    || { echo "slurm_cluster: munged does not answer" >&2; cat "$dir/munge/munged.log" >&2; exit 1; }

  # slurm.conf with this machine's real CPUs, sockets, cores and memory (slurmd -C).
  local hw cpus gpus ctl_port d_port cgroup_plugin
  hw=$(slurmd -C 2>/dev/null | head -1 | sed -e 's/^NodeName=[^ ]* //' -e 's/ *UpTime=.*//')
  [ -n "$hw" ] || hw="CPUs=$(nproc)"
  if [ -n "${BLOOM_SLURM_CPUS:-}" ]; then
    hw="CPUs=$BLOOM_SLURM_CPUS $(grep -o 'RealMemory=[0-9]*' <<<"$hw" || true)"
  fi
  cpus=$(grep -o 'CPUs=[0-9]*' <<<"$hw" | cut -d= -f2)
  gpus=${BLOOM_SLURM_GPUS:-2}
  ctl_port=$(free_port 26817)
  d_port=$(free_port $((ctl_port + 1)) "$ctl_port")
  if [ -n "${BLOOM_SLURM_CGROUP:-}" ]; then
    cgroup_plugin=$BLOOM_SLURM_CGROUP
  elif [ -f /sys/fs/cgroup/cgroup.controllers ]; then
    cgroup_plugin=cgroup/v2  # a cgroup-v2-only host has no v1 hierarchy to use
  else
    cgroup_plugin=cgroup/v1
  fi
  cat >"$dir/etc/slurm.conf" <<EOF
# Written by tests/slurm/slurm_cluster.sh: a one-node test cluster (removed by 'stop').
ClusterName=bloomtest
SlurmctldHost=localhost
SlurmctldPort=$ctl_port
SlurmdPort=$d_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
# cred_expire also delays a requeued job's restart (default 120 s): short for tests.
AuthInfo=socket=$socket,cred_expire=10
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/run/slurmctld.pid
SlurmdPidFile=$dir/run/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
# No systemd, no cgroups needed: processes tracked by parent pid, tasks not pinned.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
# srun launches Open MPI ranks through PMIx (plain srun and --mpi=pmi2 fail with Debian's MPI).
MpiDefault=pmix
GresTypes=gpu
# Lets BLOOM_SLURM_CPUS advertise more CPUs than the hardware has without draining the node.
SlurmdParameters=config_overrides
# Reject impossible requests at submission instead of leaving them pending forever.
EnforcePartLimits=ALL
ReturnToService=2
MailProg=/bin/true
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
# Look at pending jobs (a requeued one whose delay is over) every 2 s instead of every 60 s.
SchedulerParameters=sched_interval=2,bf_interval=2
KillWait=10
InactiveLimit=0
# sbatch --wait polls every 2 s only while MinJobAge/2 <= 2 (else after 2, 8, 32, 32 ... s, so a
# 12 s job returns after 42 s); finished jobs stay visible to scontrol for at least MinJobAge.
MinJobAge=5
NodeName=localhost NodeAddr=127.0.0.1 $hw Gres=gpu:$gpus State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
  # Fake GPUs: gres needs existing character devices (regular files and File-less lines fail).
  local devs=(/dev/null /dev/zero /dev/full /dev/random /dev/urandom /dev/tty) i
  [ "$gpus" -le ${#devs[@]} ] || { echo "slurm_cluster: at most ${#devs[@]} fake GPUs" >&2; exit 1; }
  : >"$dir/etc/gres.conf"
  for ((i = 0; i < gpus; i++)); do echo "Name=gpu File=${devs[$i]}" >>"$dir/etc/gres.conf"; done
  {
    echo "CgroupPlugin=$cgroup_plugin"
    [ "$cgroup_plugin" != cgroup/v2 ] || echo "IgnoreSystemd=yes"
  } >"$dir/etc/cgroup.conf"

  # The daemons carry BLOOM_SLURM_CLUSTER=DIR in their environment so that `stop` can find
  # whatever they leave behind (slurmstepd) without touching anyone else's processes.
  local env=(env "SLURM_CONF=$dir/etc/slurm.conf" "BLOOM_SLURM_CLUSTER=$dir")
  as_root "${env[@]}" slurmctld -c -f "$dir/etc/slurm.conf" >"$dir/log/slurmctld.out" 2>&1 \
    || { cat "$dir/log/slurmctld.out" >&2; dump_logs; exit 1; }
  wait_for 10 test -s "$dir/run/slurmctld.pid" || { dump_logs; exit 1; }
  echo "slurmctld $(cat "$dir/run/slurmctld.pid")" >>"$dir/pids"
  as_root "${env[@]}" slurmd -N localhost -f "$dir/etc/slurm.conf" >"$dir/log/slurmd.out" 2>&1 \
    || { cat "$dir/log/slurmd.out" >&2; dump_logs; exit 1; }
  wait_for 10 test -s "$dir/run/slurmd.pid" || { dump_logs; exit 1; }
  echo "slurmd $(cat "$dir/run/slurmd.pid")" >>"$dir/pids"

  cat >"$dir/env.sh" <<EOF
# source this file: Slurm clients then talk to the test cluster in $dir
export SLURM_CONF=$dir/etc/slurm.conf
EOF
  if ! wait_for "${BLOOM_SLURM_TIMEOUT:-60}" node_idle; then
    echo "slurm_cluster: node not idle after ${BLOOM_SLURM_TIMEOUT:-60} s:" >&2
    SLURM_CONF="$dir/etc/slurm.conf" sinfo -N -l >&2 || true
    SLURM_CONF="$dir/etc/slurm.conf" scontrol show node localhost >&2 || true
    dump_logs
    exit 1
  fi
  log "up: node localhost idle ($cpus CPUs, $gpus fake GPUs, $cgroup_plugin, ports $ctl_port/$d_port), SLURM_CONF=$dir/etc/slurm.conf"
}

# Stops pids we started: SIGTERM to all of them at once, SIGKILL to those left after $1 seconds.
stop_pids() {
  local grace=$1 t0=$SECONDS pid left
  shift
  for pid in "$@"; do
    if kill -0 "$pid" 2>/dev/null; then as_root kill -TERM "$pid" 2>/dev/null || true; fi
  done
  while :; do
    left=()
    for pid in "$@"; do if kill -0 "$pid" 2>/dev/null; then left+=("$pid"); fi; done
    [ "${#left[@]}" -gt 0 ] || return 0
    if [ $((SECONDS - t0)) -ge "$grace" ]; then
      log "still running after ${grace} s, killing: ${left[*]}"
      as_root kill -KILL "${left[@]}" 2>/dev/null || true
      return 0
    fi
    sleep 0.1
  done
}

# Processes whose environment carries our tag (slurmstepd and the jobs' processes).
tagged_pids() {
  local p
  for p in /proc/[0-9]*; do
    as_root grep -qaz "^BLOOM_SLURM_CLUSTER=$dir\$" "$p/environ" 2>/dev/null && echo "${p#/proc/}"
  done
}

stop() {
  [ -d "$dir" ] || { log "nothing to stop in $dir"; return 0; }
  dir=$(cd "$dir" && pwd)
  [ -f "$dir/pids" ] || { log "no pids file in $dir; nothing started"; }
  local conf="$dir/etc/slurm.conf" pids
  # Cancel what is left, while slurmctld still runs, and give the steps a moment to end.
  if [ -f "$conf" ] && grep -q '^slurmctld ' "$dir/pids" 2>/dev/null; then
    local jobs
    jobs=$(SLURM_CONF=$conf timeout 10 squeue -h -o %A 2>/dev/null | tr '\n' ' ' || true)
    if [ -n "${jobs// /}" ]; then
      log "cancelling jobs left: $jobs"
      SLURM_CONF=$conf timeout 10 scancel $jobs 2>/dev/null || true
      wait_for 20 bash -c "[ -z \"\$(SLURM_CONF=$conf squeue -h -o %A 2>/dev/null)\" ]" || true
    fi
  fi
  # The daemons, then anything they started and left behind.
  if [ -f "$dir/pids" ]; then
    mapfile -t pids < <(awk '{print $2}' "$dir/pids")
    stop_pids 10 "${pids[@]}"
  fi
  mapfile -t pids < <(tagged_pids)
  [ "${#pids[@]}" -eq 0 ] || stop_pids 5 "${pids[@]}"
  # Pmix per-step folders that appeared while we ran.
  if [ -f "$dir/.spmix-before" ]; then
    ls -d /tmp/spmix_appdir_* 2>/dev/null | sort | comm -13 "$dir/.spmix-before" - \
      | while read -r d; do as_root rm -rf "$d"; done || true
  fi
  if [ "${BLOOM_SLURM_PURGE:-0}" = 1 ] && [ -s "$dir/installed-packages" ]; then
    log "purging the packages start installed: $(tr '\n' ' ' <"$dir/installed-packages")"
    mapfile -t pkgs <"$dir/installed-packages"
    timeout 600 "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq "${pkgs[@]}" \
      >/dev/null 2>&1 || log "apt-get purge failed"
  elif [ -s "$dir/installed-packages" ]; then
    log "keeping the packages start installed (BLOOM_SLURM_PURGE=1 purges them)"
  fi
  as_root rm -rf "$dir"
  log "down: stopped what $dir started and removed it"
}

case "$cmd" in
  start) start ;;
  stop) stop ;;
  *) usage ;;
esac

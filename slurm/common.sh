# shellcheck shell=bash
# What every script in slurm/ shares, sourced by each of them (bloom_tp2.sh, sweep.sh,
# sweep_array.sh, launch.sh): where the repository and the runner are, how relative paths in the
# environment are read, site settings, and reading `runner validate --json`.
#
# Where the repository is (the one rule; slurm/README.md, "Where things are"):
#   BLOOM_HOME when it is set; otherwise the folder above the slurm/ folder of the script that was
#   started: under sbatch the path Slurm recorded at submission (`scontrol show job`: Command=),
#   since sbatch runs a copy of the script from its spool folder; run with bash, the script's own
#   path; otherwise the submit directory (SLURM_SUBMIT_DIR, else the current folder) when it is
#   the repository. The submitted scripts apply the rule in their first lines, to find this file;
#   this file then takes its own folder's parent as BLOOM_HOME, and refuses a BLOOM_HOME that is
#   not that folder.
#
# After sourcing: `set -euo pipefail`, BLOOM_HOME (absolute, exported), relative BLOOM_* paths
# made absolute, and log, die, bloom_source_env, bloom_find_runner, bloom_json, bloom_validate.
set -euo pipefail

log() { echo "[${BLOOM_LOG_NAME:-$(basename "$0")} $(date +%H:%M:%S)] $*"; }
die() { log "error: $*" >&2; exit 1; }

bloom_lib_home=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [ -n "${BLOOM_HOME:-}" ] && [ "$(cd "$BLOOM_HOME" 2>/dev/null && pwd)" != "$bloom_lib_home" ]; then
  die "BLOOM_HOME=$BLOOM_HOME is not the repository (no slurm/common.sh there; found $bloom_lib_home)"
fi
export BLOOM_HOME=$bloom_lib_home

# Relative paths given in the environment are relative to where the job was submitted (the
# scripts themselves run in BLOOM_HOME, where the job files' own relative paths start).
bloom_submit_dir=${SLURM_SUBMIT_DIR:-$PWD}
for bloom_var in BLOOM_RUNNER BLOOM_JOB BLOOM_MODEL BLOOM_TOKENIZER BLOOM_DATA BLOOM_OUTPUT BLOOM_ENV; do
  bloom_val=${!bloom_var:-}
  if [ -n "$bloom_val" ] && [ "${bloom_val#/}" = "$bloom_val" ]; then
    export "$bloom_var=$bloom_submit_dir/$bloom_val"
  fi
done

# Site settings (module loads, NCCL knobs, paths): slurm/env.sh documents them; BLOOM_ENV names
# another file. Sourced before the runner is first started.
bloom_source_env() {
  local env_file=${BLOOM_ENV:-$BLOOM_HOME/slurm/env.sh}
  if [ -f "$env_file" ]; then
    # shellcheck source=env.sh
    source "$env_file"
  elif [ -n "${BLOOM_ENV:-}" ]; then
    die "BLOOM_ENV=$BLOOM_ENV does not exist"
  fi
}

# BLOOM_RUNNER, default BLOOM_HOME/${BLOOM_BUILD_DIR:-build}/runner/runner; exported.
bloom_find_runner() {
  BLOOM_RUNNER=${BLOOM_RUNNER:-$BLOOM_HOME/${BLOOM_BUILD_DIR:-build}/runner/runner}
  [ -x "$BLOOM_RUNNER" ] || die "no runner binary: build it (README.md) or set BLOOM_RUNNER (got '$BLOOM_RUNNER')"
  export BLOOM_RUNNER
}

# bloom_json PATH <<<DOC: one value of a JSON document (`runner validate --json`). PATH is
# dot-separated keys and list indices ("output.path", "runs.0.name"); "#" is a list's length
# ("runs.#"); true/false print as 1/0. Needs Python 3 (BLOOM_PYTHON, default python3).
bloom_json() { "${BLOOM_PYTHON:-python3}" -c "$bloom_json_py" "$1"; }
read -r -d '' bloom_json_py <<'PY' || true
import json, sys
v = json.load(sys.stdin)
for k in sys.argv[1].split("."):
    v = len(v) if k == "#" else v[int(k)] if isinstance(v, list) else v[k]
print(int(v) if isinstance(v, bool) else v)
PY

# bloom_validate JOB [RANKS]: `runner validate --json JOB [--world RANKS]` in BLOOM_HOME; the
# document goes to BLOOM_VALIDATION, one line per run to the log. Dies with the runner's message
# (on stderr) when the job does not validate. BLOOM_VALIDATE_ELSEWHERE=1 (a login node validating
# for the compute nodes) leaves this machine's GPUs unchecked (--no-device-check).
bloom_validate() {
  local job=$1 world=()
  [ -z "${2:-}" ] || world=(--world "$2")
  [ "${BLOOM_VALIDATE_ELSEWHERE:-0}" = 0 ] || world+=(--no-device-check)
  command -v "${BLOOM_PYTHON:-python3}" >/dev/null \
    || die "${BLOOM_PYTHON:-python3} not found: the scripts read \`runner validate --json\` with Python 3 (set BLOOM_PYTHON)"
  BLOOM_VALIDATION=$(cd "$BLOOM_HOME" && "$BLOOM_RUNNER" validate --json "$job" "${world[@]}") \
    || die "$job does not validate${2:+ for $2 ranks} (the reason is above; a runner without \`validate --json\` is too old: rebuild it)"
  "${BLOOM_PYTHON:-python3}" -c "$bloom_runs_py" <<<"$BLOOM_VALIDATION"
}
read -r -d '' bloom_runs_py <<'PY' || true
import json, sys
d = json.load(sys.stdin)
sel = f" (BLOOM_RUNS={d['run_selector']}: of {d['n_job_runs']})" if d['run_selector'] else ''
print(f"{d['job']}: {len(d['runs'])} run(s){sel} -> {d['output']['path']}")
for r in d['runs']:
    m, l, b, s = r['model'], r['layout'], r['batch'], r['dataset']
    print(f"  [{r['index']}] {r['name']}: {m['path']} ({m['n_layer']} layers, hidden {m['hidden']}) "
          f"{m['dtype']} on {m['backend']}, tp {l['tp']} x dp {l['dp']} ({l['world']} ranks), "
          f"batch {b['size']} / {b['max_tokens'] or 'auto'} tokens, {s['passages']} passages")
PY

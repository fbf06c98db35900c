#!/usr/bin/env python3
"""Faults during a run: every fault ends the job with a non-zero exit code in bounded time, leaves
no rank running, and leaves a results file that is marked incomplete (root attribute
`complete` = 0) and resumable: rerunning the job with `output.resume: true` (after the cause is
gone) completes it with results identical to an uninterrupted run of the same layout.

usage: faults.py RUNNER MPIEXEC [CASE...]        (default: every case)

Cases (tiny-bloom on the first 1500 LAMBADA passages, CPU backend, 2 to 4 ranks under mpirun):
  kill_rank        SIGKILL of one worker rank (3 ranks, tp 1 x dp 3).
  kill_writer      SIGKILL of rank 0, the rank that writes the file, mid-run (2 ranks, tp 2).
  sigterm_ranks    SIGTERM to every rank, as Slurm (srun, or the job step's cgroup) does at the
                   time limit (4 ranks, tp 2 x dp 2): every group finishes its batch, the file is
                   flushed, exit code 3.
  sigterm_mpirun   SIGTERM to mpirun only (2 ranks, tp 1 x dp 2): Open MPI forwards it to the
                   ranks, which stop as above; mpirun itself then exits 1 (Open MPI's code when
                   it is signalled, whatever the ranks return).
  error_one_rank   an error on one rank only, mid-run (4 ranks, tp 2 x dp 2): rank 3 reads its
                   own tokenizer copy (model.tokenizer holds ${OMPI_COMM_WORLD_RANK}), which maps a
                   word of the last, shortest passages to an id outside the model's vocabulary,
                   so rank 3 fails in its first batch holding one ("token id 3000 outside the
                   model's vocab") while the others compute; no test hook in the runner.
  disk_full        the results file's file system fills up mid-run (3 ranks; rank 0 fails while
                   ranks 1 and 2 compute); resumed after the tmpfs is grown. Needs root with
                   mount rights, else skipped.
Ends with "N passed, M failed"; exits 1 on any failure.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import h5py
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TINY = os.path.join(ROOT, "tests/data/tiny-bloom")
LAMBADA = os.path.join(ROOT, "tests/data/lambada/lambada_test.jsonl")
RUNNER, MPIEXEC = os.path.abspath(sys.argv[1]), sys.argv[2]
ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
           OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", HDF5_USE_FILE_LOCKING="FALSE")
N = 1500            # passages
N_POISON = 320      # short passages appended for error_one_rank (both DP groups get some)
POISON = "zzpoison"
END_WITHIN = 60     # seconds from the fault to the end of the job
FAILED = []
PASSED = []


def check(cond, msg):
    print(("ok   " if cond else "FAIL ") + msg, flush=True)
    (PASSED if cond else FAILED).append(msg)
    return cond


# ---- processes --------------------------------------------------------------------------------

def children(pid):
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        out.append(int(d))
            except (OSError, IndexError, ValueError):
                pass
    return out


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def kill_all(pids):
    for p in pids:
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass


class Job:
    """mpirun -n RANKS RUNNER SPEC in a session of its own; `ranks` are its rank pids."""

    def __init__(self, spec, n):
        self.log = open(spec + ".log", "w")
        self.proc = subprocess.Popen([MPIEXEC, "--oversubscribe", "-n", str(n), RUNNER, spec],
                                     env=ENV, stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        self.spec, self.n, self.ranks = spec, n, []
        deadline = time.time() + 30
        while len(self.ranks) < n and time.time() < deadline and self.proc.poll() is None:
            self.ranks = children(self.proc.pid)
            time.sleep(0.05)

    def wait_mid_run(self, out, rows=48, timeout=120):
        """Until the results file holds `rows` finished rows (read while the job writes it: HDF5
        file locking is off for this process, and a read that catches a write half-way is
        retried)."""
        deadline = time.time() + timeout
        while time.time() < deadline and self.proc.poll() is None:
            if done_rows(out) >= rows:
                return True
            time.sleep(0.1)
        return False

    def wait(self, timeout=END_WITHIN):
        """(exit code or None on timeout, seconds); on timeout everything is killed."""
        t0 = time.time()
        try:
            self.proc.wait(timeout=timeout)
            rc = self.proc.returncode
        except subprocess.TimeoutExpired:
            rc = None
        took = time.time() - t0
        time.sleep(0.5)
        left = [p for p in self.ranks if alive(p)]
        kill_all([self.proc.pid] + left)
        self.proc.wait()
        self.log.close()
        return rc, took, left

    def output(self):
        with open(self.spec + ".log", errors="replace") as f:
            return f.read()


# ---- inputs and results -----------------------------------------------------------------------

def write_job(tmp, name, out, tp, dataset, tokenizer=None, resume=False):
    spec = os.path.join(tmp, name + ".yaml")
    with open(spec, "w") as f:
        f.write(f"""name: run
model:
  path: {TINY}
{f'  tokenizer: {tokenizer}' + chr(10) if tokenizer else ''}dataset:
  path: {dataset}
batch:
  size: 16
  max_tokens: 1024
parallelism:
  tp: {tp}
output:
  path: {out}
{'  resume: true' + chr(10) if resume else ''}""")
    return spec


def run_to_end(spec, n):
    p = subprocess.run([MPIEXEC, "--oversubscribe", "-n", str(n), RUNNER, spec], env=ENV,
                       capture_output=True, text=True, timeout=600)
    if p.returncode != 0:
        print(p.stdout[-3000:], p.stderr[-3000:])
    return p


def done_rows(path):
    try:
        with h5py.File(path, "r", locking=False) as f:
            return int(f["runs/run/predictions/done"][()].sum())
    except Exception:  # noqa: BLE001  (not created yet, or caught mid-write)
        return 0


def predictions(path):
    with h5py.File(path, "r") as f:
        g = f["runs/run/predictions"]
        return {k: g[k][()] for k in g.keys()}


def file_state(path):
    """(complete, rows done, rows) or None when the file cannot be read."""
    try:
        with h5py.File(path, "r") as f:
            done = f["runs/run/predictions/done"][()]
            return int(f.attrs["complete"]), int(done.sum()), len(done)
    except Exception as e:  # noqa: BLE001
        print(f"     cannot read {path}: {e}")
        return None


def same_results(a, b):
    keys = ["index", "correct", "target_logprob", "context_len", "target_len", "done"]
    ok = all(np.array_equal(a[k], b[k]) for k in keys)
    return ok and all(np.array_equal(x, y) for k in ("target_ids", "predicted_ids") for x, y in zip(a[k], b[k]))


class Fixture:
    def __init__(self, tmp):
        self.tmp = tmp
        self.dataset = os.path.join(tmp, "lambada.jsonl")
        with open(LAMBADA) as src, open(self.dataset, "w") as dst:
            for _ in range(N):
                dst.write(next(src))
            for i in range(N_POISON):  # the shortest passages: planned into the last batches
                dst.write(json.dumps({"text": f"{POISON} {i} word"}) + "\n")
        self.clean = {}

    def clean_run(self, tp):
        """Results of an uninterrupted run with this tp (dp does not change any number)."""
        if tp not in self.clean:
            out = os.path.join(self.tmp, f"clean-tp{tp}.h5")
            p = run_to_end(write_job(self.tmp, f"clean-tp{tp}", out, tp, self.dataset), 2)
            check(p.returncode == 0, f"clean run tp {tp} exits 0")
            self.clean[tp] = predictions(out)
        return self.clean[tp]


def after_fault(fx, name, job, out, tp, n, want_rc=None, want_text=None, resume_spec=None,
                before_resume=None):
    """The checks every fault shares: bounded non-zero end, no rank left, file incomplete, resume."""
    rc, took, left = job.wait()
    text = job.output()
    if want_rc is None:
        check(rc is not None and rc != 0, f"{name}: job ends non-zero (rc {rc}) within {END_WITHIN} s ({took:.1f} s)")
    else:
        check(rc == want_rc, f"{name}: job ends with exit code {want_rc} (rc {rc}, {took:.1f} s)")
    check(not left, f"{name}: no rank left running ({len(left)} of {len(job.ranks)} alive)")
    if want_text:
        check(want_text in text, f"{name}: output says {want_text!r}")
    for sign in ("Segmentation fault", "AddressSanitizer", "terminate called"):
        check(sign not in text, f"{name}: no {sign!r} in the output")
    state = file_state(out)
    total = N + N_POISON
    check(state is not None and state[0] == 0 and 0 < state[1] < total,
          f"{name}: file marked incomplete mid-run (complete, done, rows = {state})")
    if rc is None or state is None:
        print(text[-3000:])
        return
    if before_resume:
        before_resume()
    spec = resume_spec or job.spec
    with open(spec) as f:
        resumed = f.read()
    if "resume: true" not in resumed:
        with open(spec, "w") as f:
            f.write(resumed.replace("output:\n", "output:\n  resume: true\n"))
    p = run_to_end(spec, n)
    check(p.returncode == 0 and "resuming with" in p.stdout, f"{name}: resumed job exits 0 and says it resumed")
    state = file_state(out)
    check(state == (1, total, total), f"{name}: resumed file complete ({state})")
    if state and state[0] == 1:
        check(same_results(predictions(out), fx.clean_run(tp)), f"{name}: resumed results == uninterrupted run (tp {tp})")


# ---- the faults -------------------------------------------------------------------------------

def case_kill_rank(fx):
    out = os.path.join(fx.tmp, "kill_rank.h5")
    job = Job(write_job(fx.tmp, "kill_rank", out, 1, fx.dataset), 3)
    check(len(job.ranks) == 3, f"kill_rank: 3 ranks running ({len(job.ranks)})")
    check(job.wait_mid_run(out), "kill_rank: batches written before the fault")
    os.kill(job.ranks[-1], signal.SIGKILL)
    after_fault(fx, "kill_rank", job, out, tp=1, n=3)


def case_kill_writer(fx):
    out = os.path.join(fx.tmp, "kill_writer.h5")
    job = Job(write_job(fx.tmp, "kill_writer", out, 2, fx.dataset), 2)
    check(job.wait_mid_run(out), "kill_writer: batches written before the fault")
    os.kill(job.ranks[0], signal.SIGKILL)
    after_fault(fx, "kill_writer", job, out, tp=2, n=2)


def case_sigterm_ranks(fx):
    out = os.path.join(fx.tmp, "sigterm_ranks.h5")
    job = Job(write_job(fx.tmp, "sigterm_ranks", out, 2, fx.dataset), 4)
    check(job.wait_mid_run(out), "sigterm_ranks: batches written before the fault")
    for p in job.ranks:
        os.kill(p, signal.SIGTERM)
    after_fault(fx, "sigterm_ranks", job, out, tp=2, n=4, want_rc=3, want_text="stopped by a signal")


def case_sigterm_mpirun(fx):
    out = os.path.join(fx.tmp, "sigterm_mpirun.h5")
    job = Job(write_job(fx.tmp, "sigterm_mpirun", out, 1, fx.dataset), 2)
    check(job.wait_mid_run(out), "sigterm_mpirun: batches written before the fault")
    os.kill(job.proc.pid, signal.SIGTERM)
    after_fault(fx, "sigterm_mpirun", job, out, tp=1, n=2, want_text="stopped by a signal")


def case_error_one_rank(fx):
    good = os.path.join(TINY, "tokenizer.json")
    with open(good) as f:
        tok = json.load(f)
    n_vocab = len(tok["model"]["vocab"])
    tok["added_tokens"].append({"id": n_vocab, "content": POISON, "single_word": False, "lstrip": False,
                                "rstrip": False, "normalized": False, "special": False})
    for r in range(4):
        path = os.path.join(fx.tmp, f"tokenizer-{r}.json")
        if r == 3:
            with open(path, "w") as f:
                json.dump(tok, f)
        else:
            shutil.copy(good, path)
    out = os.path.join(fx.tmp, "error_one_rank.h5")
    spec = write_job(fx.tmp, "error_one_rank", out, 2, fx.dataset,
                     tokenizer=os.path.join(fx.tmp, "tokenizer-${OMPI_COMM_WORLD_RANK}.json"))
    job = Job(spec, 4)

    def repair():  # the node's copy is fixed
        shutil.copy(good, os.path.join(fx.tmp, "tokenizer-3.json"))
    after_fault(fx, "error_one_rank", job, out, tp=2, n=4,
                want_text=f"token id {n_vocab} outside the model's vocab of {n_vocab}", before_resume=repair)
    check("rank 3 on" in job.output(), "error_one_rank: the message names rank 3")


def case_disk_full(fx):
    d = os.path.join(fx.tmp, "small")
    os.makedirs(d)
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=192k", "tmpfs", d], capture_output=True).returncode:
        print("skip disk_full: needs root with mount rights")
        return
    try:
        out = os.path.join(d, "disk_full.h5")
        job = Job(write_job(fx.tmp, "disk_full", out, 1, fx.dataset), 3)

        def grow():  # space is freed
            subprocess.run(["mount", "-o", "remount,size=16m", d], check=True)
        after_fault(fx, "disk_full", job, out, tp=1, n=3, want_text="No space left on device",
                    before_resume=grow)
    finally:
        subprocess.run(["umount", d])


CASES = ["kill_rank", "kill_writer", "sigterm_ranks", "sigterm_mpirun", "error_one_rank", "disk_full"]

if __name__ == "__main__":
    chosen = sys.argv[3:] or CASES
    t0 = time.time()
    with tempfile.TemporaryDirectory(prefix="bloom-faults-") as tmp:
        fx = Fixture(tmp)
        for c in chosen:
            print(f"--- {c}", flush=True)
            globals()["case_" + c](fx)
    print(f"faults ({', '.join(chosen)}) in {time.time() - t0:.0f} s")
    print(f"{len(PASSED)} passed, {len(FAILED)} failed" + ("" if not FAILED else ": " + "; ".join(FAILED)))
    sys.exit(1 if FAILED else 0)

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
  ranks_disagree   ranks that read different copies of an input (4 ranks, tp 2 x dp 2): rank 3's
                   tokenizer (model.tokenizer holds ${OMPI_COMM_WORLD_RANK}) maps a word of the
                   last passages to another id; then (2 ranks) rank 1's dataset, given through
                   an environment variable of its own (mpirun -x) in the job's ${VAR}, has one
                   word changed. Each job stops before any work, naming the rank, its host and
                   the input, leaving no file; with the copies made equal it runs to the results
                   of an uninterrupted run. (Before, rank 3 failed mid-run, or the file ended
                   complete with rows of both copies.)
  disk_full        a file system too small for the job's results (tmpfs of 16 and 28 KiB) and
                   a file-size limit (ulimit -f of 24 and 32 KiB on rank 0): refused before any
                   work, leaving nothing that blocks the next attempt; once there is room the
                   same job (output.resume: true) ends with the results of an uninterrupted run.
                   Then a file system that fills up during the run (another process writes until
                   it is full): the run's space was reserved at the start, so it ends complete
                   and identical. Needs root with mount rights, else skipped.
  two_writers      a second job writing the running job's file with output.overwrite: true (a
                   resubmitted Slurm job): refused within 5 s naming the first job's process and
                   host, the file untouched; the first job ends complete and identical.
  nan_weights      NaN in one embedding row that no passage's target uses (with a tied lm_head
                   every score sees it): the first batch stops the run naming the non-finite
                   scores; no row with a NaN log-probability is written and no file says
                   complete. (Before: `perplexity nan` in a file marked complete.)
Ends with "N passed, M failed"; exits 1 on any failure.
"""
import json
import os
import re
import shutil
import signal
import struct
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

    def __init__(self, spec, n, cmd=None):
        self.log = open(spec + ".log", "w")
        self.proc = subprocess.Popen(cmd or [MPIEXEC, "--oversubscribe", "-n", str(n), RUNNER, spec],
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


def bounded_refusal(name, job, want_text, out):
    """A job refused before any work: non-zero within END_WITHIN, no rank left, the message, and
    nothing at `out` (nor its partial file) that would block the next attempt."""
    rc, took, left = job.wait()
    text = job.output()
    check(rc is not None and rc != 0, f"{name}: refused, non-zero (rc {rc}) within {END_WITHIN} s ({took:.1f} s)")
    check(not left, f"{name}: no rank left running ({len(left)} of {len(job.ranks)} alive)")
    check(want_text in text, f"{name}: output says {want_text!r}")
    for sign in ("Segmentation fault", "AddressSanitizer", "terminate called"):
        check(sign not in text, f"{name}: no {sign!r} in the output")
    check(not os.path.exists(out) and not os.path.exists(out + ".partial"),
          f"{name}: no results file left behind to block the next attempt")
    if want_text not in text:
        print(text[-3000:])
    return text


def rerun_identical(fx, name, spec, out, tp, n, resume=True):
    """The job rerun (with output.resume when `resume`) ends complete == an uninterrupted run."""
    if resume:
        with open(spec) as f:
            text = f.read()
        if "resume: true" not in text:
            with open(spec, "w") as f:
                f.write(text.replace("output:\n", "output:\n  resume: true\n"))
    p = run_to_end(spec, n)
    state = file_state(out)
    total = N + N_POISON
    check(p.returncode == 0 and state == (1, total, total), f"{name}: rerun exits 0, file complete ({state})")
    if state and state[0] == 1:
        check(same_results(predictions(out), fx.clean_run(tp)), f"{name}: results == uninterrupted run (tp {tp})")


def case_ranks_disagree(fx):
    good = os.path.join(TINY, "tokenizer.json")
    with open(good) as f:
        tok = json.load(f)
    tok["added_tokens"].append({"id": 7, "content": POISON, "single_word": False, "lstrip": False,
                                "rstrip": False, "normalized": False, "special": False})
    for r in range(4):
        path = os.path.join(fx.tmp, f"tokenizer-{r}.json")
        if r == 3:
            with open(path, "w") as f:
                json.dump(tok, f)
        else:
            shutil.copy(good, path)
    out = os.path.join(fx.tmp, "ranks_disagree.h5")
    spec = write_job(fx.tmp, "ranks_disagree", out, 2, fx.dataset,
                     tokenizer=os.path.join(fx.tmp, "tokenizer-${OMPI_COMM_WORLD_RANK}.json"))
    text = bounded_refusal("ranks_disagree", Job(spec, 4), "the ranks of this job see different inputs", out)
    check(re.search(r"rank 3 on \S+: tokenizer '[^']*tokenizer-3\.json'", text) is not None,
          "ranks_disagree: the message names rank 3, its host and its tokenizer")
    check(re.search(r"rank [12] on", text) is None, "ranks_disagree: and no rank that agrees")
    shutil.copy(good, os.path.join(fx.tmp, "tokenizer-3.json"))  # the node's copy is fixed
    rerun_identical(fx, "ranks_disagree", spec, out, tp=2, n=4, resume=False)

    # A dataset copy per rank, chosen by an environment variable of rank 1's own.
    copy = os.path.join(fx.tmp, "lambada-copy.jsonl")
    with open(fx.dataset) as f:
        text = f.read()
    with open(copy, "w") as f:  # one word changed, every length kept
        f.write(text.replace(" the ", " thy ", 1))
    out = os.path.join(fx.tmp, "ranks_disagree_dataset.h5")
    spec = write_job(fx.tmp, "ranks_disagree_dataset", out, 1, "${BLOOM_FAULTS_DATASET:-" + fx.dataset + "}")
    cmd = [MPIEXEC, "--oversubscribe", "-n", "1", RUNNER, spec, ":",
           "-n", "1", "-x", f"BLOOM_FAULTS_DATASET={copy}", RUNNER, spec]
    text = bounded_refusal("ranks_disagree_dataset", Job(spec, 2, cmd=cmd),
                           "the ranks of this job see different inputs", out)
    check(f"rank 1 on" in text and f"dataset '{copy}'" in text and f"'{fx.dataset}'" in text,
          "ranks_disagree_dataset: the message names rank 1 and both datasets")
    shutil.copy(fx.dataset, copy)  # the copies are made equal
    job = Job(spec, 2, cmd=cmd)
    rc, _, _ = job.wait(timeout=600)
    state = file_state(out)
    total = N + N_POISON
    check(rc == 0 and state == (1, total, total), f"ranks_disagree_dataset: equal copies run to the end ({state})")
    if state and state[0] == 1:
        check(same_results(predictions(out), fx.clean_run(1)), "ranks_disagree_dataset: results == uninterrupted run")


def tmpfs(d, size):
    os.makedirs(d, exist_ok=True)
    return subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", d],
                          capture_output=True).returncode == 0


def case_disk_full(fx):
    for size in ("16k", "28k"):
        d = os.path.join(fx.tmp, f"small-{size}")
        if not tmpfs(d, size):
            print("skip disk_full: needs root with mount rights")
            return
        try:
            name = f"disk_full_{size}"
            out = os.path.join(d, name + ".h5")
            spec = write_job(fx.tmp, name, out, 1, fx.dataset, resume=True)
            bounded_refusal(name, Job(spec, 3), "No space left on device", out)
            subprocess.run(["mount", "-o", "remount,size=16m", d], check=True)  # space is freed
            rerun_identical(fx, name, spec, out, tp=1, n=3)
        finally:
            subprocess.run(["umount", d])
    for kib in (24, 32):
        name = f"file_size_limit_{kib}k"
        out = os.path.join(fx.tmp, name + ".h5")
        spec = write_job(fx.tmp, name, out, 1, fx.dataset, resume=True)
        # The limit on rank 0 (the writer) only: sh's ulimit -f counts 512-byte blocks.
        cmd = [MPIEXEC, "--oversubscribe", "-n", "1", "sh", "-c", f"ulimit -f {kib * 2} && exec {RUNNER} {spec}",
               ":", "-n", "2", RUNNER, spec]
        bounded_refusal(name, Job(spec, 3, cmd=cmd), "the file-size limit (ulimit -f)", out)
        rerun_identical(fx, name, spec, out, tp=1, n=3)
    # The disk fills up during the run: the space reserved at the start carries the run through.
    d = os.path.join(fx.tmp, "fills")
    if not tmpfs(d, "8m"):
        return
    try:
        out = os.path.join(d, "disk_fills.h5")
        spec = write_job(fx.tmp, "disk_fills", out, 1, fx.dataset)
        job = Job(spec, 3)
        check(job.wait_mid_run(out), "disk_fills: batches written before the disk fills")
        subprocess.run(["dd", "if=/dev/zero", f"of={d}/filler", "bs=64k"], capture_output=True)
        free = os.statvfs(d).f_bavail * os.statvfs(d).f_frsize
        check(free < 64 << 10, f"disk_fills: the file system is full ({free} bytes free)")
        rc, took, left = job.wait(timeout=600)
        state = file_state(out)
        total = N + N_POISON
        check(rc == 0 and state == (1, total, total), f"disk_fills: the run ends complete (rc {rc}, {state})")
        if state and state[0] == 1:
            check(same_results(predictions(out), fx.clean_run(1)), "disk_fills: results == uninterrupted run")
    finally:
        subprocess.run(["umount", d])


def case_two_writers(fx):
    out = os.path.join(fx.tmp, "two_writers.h5")
    first = Job(write_job(fx.tmp, "two_writers", out, 1, fx.dataset), 2)
    check(first.wait_mid_run(out), "two_writers: the first job has written batches")
    before = open(out, "rb").read()
    spec = write_job(fx.tmp, "two_writers_second", out, 1, fx.dataset)
    with open(spec) as f:
        text = f.read()
    with open(spec, "w") as f:
        f.write(text.replace("output:\n", "output:\n  overwrite: true\n"))
    t0 = time.time()
    p = subprocess.run([MPIEXEC, "--oversubscribe", "-n", "2", RUNNER, spec], env=ENV,
                       capture_output=True, text=True, timeout=60)
    took = time.time() - t0
    said = p.stdout + p.stderr
    check(p.returncode != 0 and took < 5, f"two_writers: the second job is refused within 5 s (rc {p.returncode}, {took:.1f} s)")
    check(any(f"process {pid} on host" in said for pid in first.ranks),
          f"two_writers: the refusal names the first job's writer (one of pids {first.ranks})")
    now = open(out, "rb").read()
    check(len(now) >= len(before) > 0, "two_writers: the file was not truncated by the second job")
    rc, took, left = first.wait(timeout=600)
    state = file_state(out)
    total = N + N_POISON
    check(rc == 0 and state == (1, total, total), f"two_writers: the first job ends complete (rc {rc}, {state})")
    if state and state[0] == 1:
        check(same_results(predictions(out), fx.clean_run(1)), "two_writers: its results == uninterrupted run")


def case_nan_weights(fx):
    model = os.path.join(fx.tmp, "nan-model")
    shutil.copytree(TINY, model, ignore=shutil.ignore_patterns("reference*", "*.jsonl", "tokenizer-*"))
    shard = os.path.join(model, "model-00001-of-00003.safetensors")  # word_embeddings [3000, 96] F32
    with open(shard, "r+b") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        start = header["transformer.word_embeddings.weight"]["data_offsets"][0]
        f.seek(8 + n + start + (2999 * 96 + 5) * 4)  # the last row: no LAMBADA target uses it
        f.write(struct.pack("<f", float("nan")))
    out = os.path.join(fx.tmp, "nan_weights.h5")
    spec = os.path.join(fx.tmp, "nan_weights.yaml")
    with open(write_job(fx.tmp, "nan_weights", out, 1, fx.dataset)) as f:
        text = f.read().replace(f"path: {TINY}", f"path: {model}")
    with open(spec, "w") as f:
        f.write(text)
    p = run_to_end(spec, 2)
    said = p.stdout + p.stderr
    check(p.returncode != 0 and "non-finite scores" in said, f"nan_weights: the run stops naming non-finite scores (rc {p.returncode})")
    check(re.search(r"batch \d+: non-finite scores for scored row \d+ of the batch \(sequence \d+", said) is not None,
          "nan_weights: the message says where (batch, row, sequence)")
    if os.path.exists(out):
        with h5py.File(out, "r") as f:
            g = f["runs/run/predictions"]
            done = g["done"][()].astype(bool)
            check(np.isfinite(g["target_logprob"][()][done]).all() and int(f.attrs["complete"]) == 0,
                  "nan_weights: no NaN row written, the file not complete")
    else:
        check(not os.path.exists(out + ".partial"), "nan_weights: nothing left behind")


CASES = ["kill_rank", "kill_writer", "sigterm_ranks", "sigterm_mpirun", "ranks_disagree", "disk_full",
         "two_writers", "nan_weights"]

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

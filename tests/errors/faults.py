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
  error_one_rank   an error on one rank only, mid-run (4 ranks, dp 4): each rank reads its own copy
                   of the model (model.path holds ${OMPI_COMM_WORLD_RANK}, lm_head untied); rank
                   3's has a NaN in the middle of the embedding row of a token only the last,
                   shortest passages hold, where the weights fingerprint does not read (bit rot
                   on one node's disk): the ranks agree at start, and rank 3 fails in its first
                   batch holding the token ("non-finite scores") while the others compute.
  ranks_disagree   ranks that read different copies of an input (4 ranks, tp 2 x dp 2): rank 3's
                   tokenizer (model.tokenizer holds ${OMPI_COMM_WORLD_RANK}) maps a word of the
                   last passages to another id; then (2 ranks) rank 1's dataset, given through
                   an environment variable of its own (mpirun -x) in the job's ${VAR}, has one
                   word changed. Each job stops before any work, naming the rank, its host and
                   the input, leaving no file; with the copies made equal it runs to the results
                   of an uninterrupted run.
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
  stop_rank        SIGSTOP of one rank (tp 2; then dp 2) with BLOOM_COMM_TIMEOUT_S=4: the others
                   wait without spinning (rank 0 under 30% of a core while it waits), give up
                   after the watchdog's time with its message, and every rank is gone soon after.
The long-batch cases run the trained fixture (tests/data/trained-bloom) on one long passage,
alone in the first batch and sized to take about 15 s on this machine (from the time of a
shorter one), and 60 short ones:
  sigint_twice     a run started from a shell (no mpirun) gets Ctrl-C mid-batch: it says at once
                   that it stops after the current batch and how to stop now; the second Ctrl-C
                   ends it within 2 s, exit code 3.
  sigterm_batch    SIGTERM to every rank mid-batch (2 ranks, dp 2), as Slurm sends it: the job
                   ends within 5 s (Slurm's SIGKILL follows after KillWait, 30 s by default)
                   with exit code 3, abandoning the batch in flight.
  kill_mpirun      SIGKILL of mpirun itself mid-batch (2 ranks, dp 2): no one is left to stop the
                   ranks; each notices that its launcher is gone and stops by itself, exit code
                   3 (read as their subreaper), every rank gone within 10 s.
Each then resumes to the results of an uninterrupted run.
Ends with "N passed, M failed"; exits 1 on any failure.
"""
import ctypes
import json
import math
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
TRAINED = os.path.join(ROOT, "tests/data/trained-bloom")
LAMBADA = os.path.join(ROOT, "tests/data/lambada/lambada_test.jsonl")
RUNNER, MPIEXEC = os.path.abspath(sys.argv[1]), sys.argv[2]
ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
           OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", HDF5_USE_FILE_LOCKING="FALSE")
N = 1500            # passages
N_POISON = 320      # short passages appended for error_one_rank (both DP groups get some)
POISON = "zzpoison"
END_WITHIN = 60     # seconds from the fault to the end of the job
LONG_BATCH_S = 15   # seconds the long-batch cases' first batch takes
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


def cpu_seconds(pid):
    """utime + stime of a process, in seconds (None when it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


class Job:
    """mpirun -n RANKS RUNNER SPEC in a session of its own (n == 0: RUNNER SPEC alone, as from a
    shell); `ranks` are its rank pids."""

    def __init__(self, spec, n, env=None, cmd=None):
        self.log = open(spec + ".log", "w")
        if cmd is None:
            cmd = [RUNNER, spec] if n == 0 else [MPIEXEC, "--oversubscribe", "-n", str(n), RUNNER, spec]
        self.proc = subprocess.Popen(cmd, env=env or ENV, stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        self.spec, self.n, self.ranks = spec, n, [self.proc.pid] if n == 0 else []
        deadline = time.time() + 30
        while len(self.ranks) < n and time.time() < deadline and self.proc.poll() is None:
            self.ranks = children(self.proc.pid)
            time.sleep(0.05)

    def wait_for_text(self, text, timeout=120):
        """Until the job's output holds `text`; True when it does."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            if text in self.output():
                return True
            if self.proc.poll() is not None:
                return text in self.output()
            time.sleep(0.05)
        return False

    def wait_mid_run(self, out, rows=48, timeout=120):
        """Until the results file holds `rows` finished rows (read while the job writes it: HDF5
        file locking is off for this process, and a read that catches a write half-way is
        retried)."""
        deadline = time.time() + timeout
        while time.time() < deadline and self.proc.poll() is None:
            if done_rows(out) >= rows:
                return True
            time.sleep(0.02)
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

def write_job(tmp, name, out, tp, dataset, tokenizer=None, resume=False, model=TINY, max_tokens=1024):
    spec = os.path.join(tmp, name + ".yaml")
    with open(spec, "w") as f:
        f.write(f"""name: run
model:
  path: {model}
{f'  tokenizer: {tokenizer}' + chr(10) if tokenizer else ''}dataset:
  path: {dataset}
batch:
  size: 16
  max_tokens: {max_tokens}
parallelism:
  tp: {tp}
output:
  path: {out}
{'  resume: true' + chr(10) if resume else ''}""")
    return spec


def set_resume(spec):
    """Adds output.resume: true to the job file `spec` (if it is not there)."""
    with open(spec) as f:
        text = f.read()
    if "resume: true" not in text:
        with open(spec, "w") as f:
            f.write(text.replace("output:\n", "output:\n  resume: true\n"))


def run_to_end(spec, n):
    cmd = [RUNNER, spec] if n == 0 else [MPIEXEC, "--oversubscribe", "-n", str(n), RUNNER, spec]
    p = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=600,
                       stdin=subprocess.DEVNULL)
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
                dst.write(json.dumps({"text": f"{POISON} {i} xyz word"}) + "\n")
        self.clean = {}
        self.long_dataset = None
        self.long_clean = None

    def make_long_dataset(self, n_join):
        """LAMBADA's first `n_join` passages joined into one, then 60 short ones."""
        path = os.path.join(self.tmp, f"long-{n_join}.jsonl")
        with open(LAMBADA) as src:
            lines = src.read().splitlines()
        with open(path, "w") as dst:
            dst.write(json.dumps({"text": " ".join(json.loads(l)["text"] for l in lines[:n_join])}) + "\n")
            for l in lines[100:160]:
                dst.write(l + "\n")
        return path

    def probe_seconds(self, n_join):
        """Seconds to evaluate the long passage of `n_join` joined passages, alone."""
        probe = os.path.join(self.tmp, "probe-long.jsonl")
        with open(self.make_long_dataset(n_join)) as f:
            line = f.readline()
        with open(probe, "w") as f:
            f.write(line)
        spec = write_job(self.tmp, "probe-long", os.path.join(self.tmp, "probe-long.h5"), 1, probe,
                         model=TRAINED, max_tokens=2048)
        with open(spec) as f:
            text = f.read()
        with open(spec, "w") as f:
            f.write(text.replace("output:\n", "output:\n  overwrite: true\n"))
        p = run_to_end(spec, 0)
        m = re.search(r"evaluate ([\d.]+) s", p.stdout)
        check(m is not None, f"the probe of {n_join} joined passages reports its time")
        return max(float(m.group(1)), 0.01) if m else 0.01

    def size_long_passage(self):
        """Passages to join for a batch of about LONG_BATCH_S: probes double the length until one
        takes a third of that, then the growth measured between the last two (between linear
        and quadratic: attention's share grows with the length) extrapolates."""
        n, t, k = 10, self.probe_seconds(10), 2.0
        while t < LONG_BATCH_S / 3 and n < 640:
            t2 = self.probe_seconds(2 * n)
            k = min(max(math.log2(max(t2, 1e-3) / max(t, 1e-3)), 1.0), 2.0)  # time ~ length^k
            n, t = 2 * n, t2
        n_join = n if t >= LONG_BATCH_S else min(int(n * (LONG_BATCH_S / t) ** (1.0 / k)) + 1, 1280)
        print(f"     long batch: {n} joined passages took {t:.2f} s: joining {n_join} for about "
              f"{LONG_BATCH_S} s", flush=True)
        return n_join

    def long_job(self, name):
        """A job whose first batch is one long passage alone (batches go longest first; max_tokens
        2048 keeps it alone) that takes about LONG_BATCH_S on this machine and build: sized from
        the time of a shorter one (attention, which dominates there, grows with the square of the
        length), so that the bounds of the tests stay far below the batch whatever the CPU."""
        if self.long_dataset is None:
            n_join = self.size_long_passage()
            self.long_dataset = self.make_long_dataset(n_join)
        out = os.path.join(self.tmp, name + ".h5")
        return write_job(self.tmp, name, out, 1, self.long_dataset, model=TRAINED, max_tokens=2048), out

    def long_clean_run(self):
        """Results of an uninterrupted run of the long-batch job (tp 1; dp changes no number)."""
        if self.long_clean is None:
            spec, out = self.long_job("clean-long")
            p = run_to_end(spec, 0)
            check(p.returncode == 0, "clean run of the long-batch job exits 0")
            self.long_clean = predictions(out)
        return self.long_clean

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
    set_resume(spec)
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
    # The whole job takes ~2 s: signal as soon as a batch is in (mpirun forwards it late).
    check(job.wait_mid_run(out, rows=1), "sigterm_mpirun: batches written before the fault")
    os.kill(job.proc.pid, signal.SIGTERM)
    after_fault(fx, "sigterm_mpirun", job, out, tp=1, n=2, want_text="stopped by a signal")


def case_error_one_rank(fx):
    # Every rank reads its own copy of the model: tiny-bloom with lm_head.weight stored untied
    # (equal to the embedding, so the results are tiny-bloom's). Rank 3's copy has NaN in the
    # middle of the embedding row of a token only the short passages at the end hold, where the
    # weights fingerprint (first and last 64 KiB of each file) does not read: the ranks agree at
    # start, and only rank 3's batches that hold the token fail.
    from tokenizers import Tokenizer
    tok = Tokenizer.from_file(os.path.join(TINY, "tokenizer.json"))
    with open(fx.dataset) as f:
        texts = [json.loads(line)["text"] for line in f]
    seen = set()
    for t in texts[:N]:
        seen.update(tok.encode(t).ids)
    common = set.intersection(*(set(tok.encode(t).ids) for t in texts[N:]))
    rare = sorted(common - seen)  # " xyz": in every short passage, in none of the others
    check(len(rare) > 0, "error_one_rank: a token every short passage holds and no other")
    good = os.path.join(fx.tmp, "model-good")
    shutil.copytree(TINY, good, ignore=shutil.ignore_patterns("reference*", "*.jsonl", "tokenizer-*"))
    shard = "model-00001-of-00003.safetensors"  # word_embeddings [3000, 96] F32
    with open(os.path.join(good, shard), "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        emb = json.loads(f.read(n))["transformer.word_embeddings.weight"]
        f.seek(8 + n + emb["data_offsets"][0])
        data = f.read(emb["data_offsets"][1] - emb["data_offsets"][0])
    header = json.dumps({"lm_head.weight": dict(emb, data_offsets=[0, len(data)])}).encode()
    with open(os.path.join(good, "lm_head.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(header)) + header + data)
    for name, edit in (("model.safetensors.index.json", lambda j: j["weight_map"].update(
            {"lm_head.weight": "lm_head.safetensors"})),
                       ("config.json", lambda j: j.update(tie_word_embeddings=False))):
        with open(os.path.join(good, name)) as f:
            j = json.load(f)
        edit(j)
        with open(os.path.join(good, name), "w") as f:
            json.dump(j, f, indent=2)
    for r in range(3):
        os.symlink(good, os.path.join(fx.tmp, f"model-{r}"))
    bad = os.path.join(fx.tmp, "model-3")
    shutil.copytree(good, bad)
    with open(os.path.join(bad, shard), "r+b") as f:
        f.seek(8 + n + emb["data_offsets"][0] + (rare[0] * 96 + 5) * 4)
        f.write(struct.pack("<f", float("nan")))
    out = os.path.join(fx.tmp, "error_one_rank.h5")
    spec = write_job(fx.tmp, "error_one_rank", out, 1, fx.dataset,
                     model=os.path.join(fx.tmp, "model-${OMPI_COMM_WORLD_RANK}"),
                     tokenizer=os.path.join(good, "tokenizer.json"))
    job = Job(spec, 4)

    def repair():  # the node's copy is fixed
        shutil.copy(os.path.join(good, shard), os.path.join(bad, shard))
    after_fault(fx, "error_one_rank", job, out, tp=1, n=4, want_text="non-finite scores",
                before_resume=repair)
    check("rank 3 on" in job.output(), "error_one_rank: the message names rank 3")


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
        set_resume(spec)
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


def wait_gone(pids, timeout):
    """Seconds until every pid is gone (zombies count as gone), or None after `timeout`."""
    t0 = time.time()
    while time.time() - t0 < timeout:
        if not any(alive(p) for p in pids):
            return time.time() - t0
        time.sleep(0.05)
    return None


def resume_to_clean(name, spec, out, n, clean):
    """The file a fault left (readable, complete = 0) resumed to the uninterrupted run's results."""
    if os.path.exists(out):
        state = file_state(out)
        check(state is not None and state[0] == 0, f"{name}: file readable and marked incomplete ({state})")
    else:  # stopped inside the first batch: no batch finished, so no file (only its partial file)
        check(True, f"{name}: no results file: no batch had finished")
    set_resume(spec)
    p = run_to_end(spec, n)
    state = file_state(out)
    total = len(clean["done"])
    check(p.returncode == 0 and state == (1, total, total), f"{name}: resumed job exits 0, file complete ({state})")
    if state and state[0] == 1:
        check(same_results(predictions(out), clean), f"{name}: resumed results == uninterrupted run")


def start_long(fx, name, n):
    """The long-batch job started and inside its first batch (the long passage)."""
    spec, out = fx.long_job(name)
    job = Job(spec, n)
    started = job.wait_for_text(" passages (")  # rank 0's line just before the first batch
    check(started, f"{name}: the run started its first batch")
    time.sleep(1.0)
    return job, spec, out


def case_sigint_twice(fx):
    clean = fx.long_clean_run()
    job, spec, out = start_long(fx, "sigint_twice", 0)
    os.kill(job.proc.pid, signal.SIGINT)
    t0 = time.time()
    acked = job.wait_for_text("Ctrl-C again to stop now", timeout=2)
    check(acked and job.proc.poll() is None,
          f"sigint_twice: the first Ctrl-C is acknowledged at once ({time.time() - t0:.1f} s), the batch goes on")
    os.kill(job.proc.pid, signal.SIGINT)
    rc, took, left = job.wait(timeout=2)
    check(rc == 3, f"sigint_twice: exit code 3 within 2 s of the second Ctrl-C (rc {rc}, {took:.1f} s)")
    check("a second Ctrl-C: stopping now" in job.output(), "sigint_twice: says it stops now")
    resume_to_clean("sigint_twice", spec, out, 0, clean)


def case_sigterm_batch(fx):
    clean = fx.long_clean_run()
    job, spec, out = start_long(fx, "sigterm_batch", 2)
    for p in job.ranks:  # as srun or the job step's cgroup does at the time limit
        os.kill(p, signal.SIGTERM)
    rc, took, left = job.wait(timeout=5)
    check(rc == 3, f"sigterm_batch: the job ends within 5 s of SIGTERM, exit code 3 (rc {rc}, {took:.1f} s)")
    check(not left, f"sigterm_batch: no rank left running ({len(left)} alive)")
    check("the batch in flight did not end within 0.5 s: stopping now" in job.output(),
          "sigterm_batch: says the batch in flight is abandoned")
    resume_to_clean("sigterm_batch", spec, out, 2, clean)


def set_child_subreaper(on):
    """Orphaned descendants (ranks whose mpirun died) become this process's children, so that
    their exit status can be read (prctl PR_SET_CHILD_SUBREAPER)."""
    return ctypes.CDLL(None, use_errno=True).prctl(36, 1 if on else 0, 0, 0, 0) == 0


def case_kill_mpirun(fx):
    clean = fx.long_clean_run()
    reaper = set_child_subreaper(True)
    try:
        job, spec, out = start_long(fx, "kill_mpirun", 2)
        check(len(job.ranks) == 2, f"kill_mpirun: 2 ranks running ({len(job.ranks)})")
        os.kill(job.proc.pid, signal.SIGKILL)
        gone = wait_gone(job.ranks, 10)
        check(gone is not None, f"kill_mpirun: every rank gone within 10 s of mpirun's SIGKILL "
                                f"({'%.1f s' % gone if gone is not None else 'still running'})")
        job.wait(timeout=1)
        if reaper:
            # Deliberately: exit code 3 (stopped, resumable), not a death by SIGHUP or SIGPIPE
            # at the next write to the dead launcher.
            how = []
            for p in job.ranks:
                try:
                    _, status = os.waitpid(p, 0)
                    how.append(f"exit {os.WEXITSTATUS(status)}" if os.WIFEXITED(status)
                               else f"signal {os.WTERMSIG(status)}")
                except ChildProcessError:
                    how.append("not ours")
            check(how == ["exit 3", "exit 3"], f"kill_mpirun: each rank stops by itself, exit code 3 ({how})")
    finally:
        set_child_subreaper(False)
    resume_to_clean("kill_mpirun", spec, out, 2, clean)


def stop_one_rank(fx, name, tp):
    timeout = 4
    out = os.path.join(fx.tmp, name + ".h5")
    spec = write_job(fx.tmp, name, out, tp, fx.dataset)
    job = Job(spec, 2, env=dict(ENV, BLOOM_COMM_TIMEOUT_S=str(timeout)))
    check(len(job.ranks) == 2 and job.wait_mid_run(out), f"{name}: batches written before the fault")
    waiter, victim = job.ranks
    os.kill(victim, signal.SIGSTOP)
    t_stop = time.time()
    if tp == 2:  # rank 0 waits for its peer at its next all-reduce: it must sleep, not spin
        time.sleep(1.0)
        c0 = cpu_seconds(waiter)
        time.sleep(2.0)
        c1 = cpu_seconds(waiter)
        busy = (c1 - c0) / 2.0 if c0 is not None and c1 is not None else None
        check(busy is not None and busy < 0.3, f"{name}: rank 0 waits without spinning "
                                               f"({'%.0f%%' % (100 * busy) if busy is not None else 'gone'} of a core)")
    # The watchdog's time from the first wait (dp: after rank 0's own share), then the abort.
    gone = wait_gone(job.ranks, timeout + 30)
    check(gone is not None, f"{name}: every rank gone after the watchdog's {timeout} s "
                            f"({'%.1f s after SIGSTOP' % (time.time() - t_stop) if gone is not None else 'still running'})")
    rc, _, left = job.wait(timeout=5)
    text = job.output()
    check(rc not in (None, 0) and f"did not finish within {timeout} s (BLOOM_COMM_TIMEOUT_S): a peer "
          "rank is dead or stuck" in text, f"{name}: non-zero exit (rc {rc}) with the watchdog's message")
    resume_to_clean(name, spec, out, 2, fx.clean_run(tp))


def case_stop_rank(fx):
    stop_one_rank(fx, "stop_rank_tp2", 2)
    stop_one_rank(fx, "stop_rank_dp2", 1)


CASES = ["kill_rank", "kill_writer", "sigterm_ranks", "sigterm_mpirun", "error_one_rank",
         "ranks_disagree", "disk_full", "two_writers", "nan_weights", "stop_rank", "sigint_twice",
         "sigterm_batch", "kill_mpirun"]

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

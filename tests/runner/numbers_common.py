"""Shared by the trained-fixture tests (tests/runner/test_numbers.py, test_overrides.py,
report/test_report_paired.py): the runner under test, checks that count failures, the HF
reference verdicts, LAMBADA's split, and the statistics recomputed from a results file's rows
with scipy and the plain formulas (never taken from the runner)."""
import json
import math
import os
import re
import subprocess
import sys

import h5py
import numpy as np
import scipy.stats

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TRAINED = os.path.join(ROOT, "tests/data/trained-bloom")
LAMBADA = os.path.join(ROOT, "tests/data/lambada/lambada_test.jsonl")
RUNNER, MPIEXEC = os.path.abspath(sys.argv[1]), sys.argv[2]  # every test: RUNNER MPIEXEC CASE
ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
           OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
ENV.setdefault("BLOOM_PYTHON", sys.executable)
FT_LINE = re.compile(r"^Accuracy: (\d+\.\d{4})% \((\d+)/(\d+)\) \(elapsed time: (\d+\.\d{4}) sec\)$", re.M)
FAILED = []


def check(cond, msg):
    print(("ok   " if cond else "FAIL ") + msg, flush=True)
    if not cond:
        FAILED.append(msg)
    return cond


def close(a, b, rel=1e-12):
    return a is not None and b is not None and abs(float(a) - float(b)) <= rel * max(abs(float(b)), 1e-300)


def run(args, cwd=None, n=1, timeout=900):
    cmd = [RUNNER] + args if n == 1 else [MPIEXEC, "--oversubscribe", "-n", str(n), RUNNER] + args
    return subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=timeout, cwd=cwd)


def run_ok(args, what, **kw):
    p = run(args, **kw)
    if not check(p.returncode == 0, f"{what}: exit 0"):
        print(p.stdout[-3000:], p.stderr[-3000:])
    return p


def reference():
    return [json.loads(l) for l in open(os.path.join(TRAINED, "lambada_reference.jsonl"))]


def passages():
    out = []
    for line in open(LAMBADA):
        if line.strip():
            context, word = json.loads(line)["text"].rstrip("\n").rsplit(" ", 1)
            out.append((context, " " + word))
    return out


def read_run(path, name):
    with h5py.File(path, "r") as f:
        g = f["runs"][name]
        a = {k: (v.item() if hasattr(v, "item") else v) for k, v in g.attrs.items()}
        p = {k: g["predictions"][k][()] for k in g["predictions"]}
    return a, p


def expected_stats(p):
    """The statistics from the rows marked done, computed here: scipy for the interval."""
    ok = p["done"].astype(bool)
    c, lp, tl = p["correct"][ok].astype(float), p["target_logprob"][ok], p["target_len"][ok]
    n, k = len(c), int(c.sum())
    ci = scipy.stats.binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    ppl = math.exp(-lp.mean())
    return dict(n=n, n_correct=k, accuracy=k / n, accuracy_stderr=float(np.std(c, ddof=1) / math.sqrt(n)),
                accuracy_ci95_low=float(ci.low), accuracy_ci95_high=float(ci.high),
                token_perplexity=math.exp(-lp.sum() / tl.sum()), passage_perplexity=ppl,
                passage_perplexity_stderr=ppl * float(np.std(lp, ddof=1)) / math.sqrt(n))


STAT_KEYS = ["accuracy", "accuracy_stderr", "accuracy_ci95_low", "accuracy_ci95_high",
             "token_perplexity", "passage_perplexity"]


def check_verdicts(p, what, n=None):
    ref = reference()[:n or len(p["index"])]
    wrong = [i for i, r in enumerate(ref) if bool(p["correct"][i]) != r["correct"]]
    check(len(p["index"]) == len(ref) and not wrong,
          f"{what}: every correct row = HF's ({sum(r['correct'] for r in ref)}/{len(ref)}; differ: {wrong[:5]})")

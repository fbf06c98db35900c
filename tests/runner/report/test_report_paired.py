#!/usr/bin/env python3
"""`runner report` on two runs that can be compared: the paired comparison, the plots, resume.

usage: test_report_paired.py RUNNER MPIEXEC

One sweep over model.dtype (fp32, bf16) of the trained fixture's first 512 passages under
mpirun -n 2 (tp 1 x dp 2), then, recomputing everything from the HDF5 rows here:
  - `--diff`: discordant counts both ways, McNemar's exact p (scipy's binomial test) and the 95%
    interval of the accuracy difference, in JSON and the table; again on a doctored copy with 20
    passages made wrong and 7 made right, across files (FILE:NAME);
  - plots (runner/report/report_plots.py, its figures inspected with matplotlib): bars for the
    dtype sweep (a categorical key), the per-rank legend inside the axes, an incomplete run's
    per-rank plot saying so instead of drawing "evaluate 0 s";
  - a resumed run (half its rows undone, then `--resume`): n_evaluated counts the rows of the
    last attempt, rows equal to the uninterrupted run's, throughput marked partial, no speed-up,
    never the baseline, left out of the throughput plot.
"""
import json
import math
import os
import shutil
import sys
import tempfile

import h5py
import numpy as np
import scipy.stats

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
from numbers_common import (FAILED, LAMBADA, ROOT, TRAINED, check, check_verdicts, close, read_run,  # noqa: E402
                            run, run_ok)
sys.path.insert(0, os.path.join(ROOT, "tests/io"))
import results_reference as ref  # noqa: E402  (the checksums of io/RESULTS.md)

N = 512
A, B = "dtype=fp32", "dtype=bf16"


def sweep(tmp):
    job = os.path.join(tmp, "sweep.yaml")
    out = os.path.join(tmp, "sweep.h5")
    with open(job, "w") as f:
        f.write(f"""name: dtypes
model:
  path: {TRAINED}
dataset:
  path: {LAMBADA}
  limit: {N}
batch:
  size: 64
sweep:
  model.dtype: [fp32, bf16]
output:
  path: {out}
""")
    run_ok([job], "dtype sweep under mpirun -n 2", n=2)
    return job, out


def expected_paired(pa, pb):
    """b, c, McNemar (scipy), difference and its interval, from two runs' rows."""
    ia = {int(i): bool(c) for i, c, d in zip(pa["index"], pa["correct"], pa["done"]) if d}
    ib = {int(i): bool(c) for i, c, d in zip(pb["index"], pb["correct"], pb["done"]) if d}
    common = sorted(set(ia) & set(ib))
    n = len(common)
    b = sum(ia[i] and not ib[i] for i in common)
    c = sum(ib[i] and not ia[i] for i in common)
    p = scipy.stats.binomtest(b, b + c, 0.5).pvalue if b + c else 1.0
    d = (b - c) / n
    half = 1.959963984540054 * math.sqrt(b + c - (b - c) ** 2 / n) / n
    return dict(n_common=n, n_only_a_correct=b, n_only_b_correct=c, mcnemar_p=p, difference=d,
                difference_ci95_low=d - half, difference_ci95_high=d + half,
                accuracy_a=sum(ia[i] for i in common) / n, accuracy_b=sum(ib[i] for i in common) / n)


def check_paired(files, ref_a, ref_b, pa, pb, what):
    e = expected_paired(pa, pb)
    doc = json.loads(run_ok(["report", *files, "--run", ref_a, "--diff", ref_b, "--json"], f"{what}: --diff --json").stdout)
    got = doc["paired"]
    bad = [k for k in e if not close(got[k], e[k], rel=1e-9) and not (e[k] == 0 and got[k] == 0)]
    check(not bad, f"{what}: paired = scipy / formula (b {e['n_only_a_correct']}, c {e['n_only_b_correct']}, "
                   f"p {e['mcnemar_p']:.4g}; {bad or 'all equal'})")
    table = run_ok(["report", *files, "--run", ref_a, "--diff", ref_b], f"{what}: --diff").stdout
    check(f"McNemar exact p = {e['mcnemar_p']:.4g} ({e['n_only_a_correct']} right only in A, "
          f"{e['n_only_b_correct']} only in B)" in table and f"{100 * e['difference']:+.2f}%" in table,
          f"{what}: the table prints them")
    return e


def doctor(path, out, run, to_wrong, to_right):
    """A copy where run `run` has `to_wrong` correct passages made wrong and `to_right` the reverse."""
    shutil.copy(path, out)
    with h5py.File(out, "r+") as f:
        c = f["runs"][run]["predictions/correct"]
        v = c[()]
        right, wrong = np.flatnonzero(v == 1), np.flatnonzero(v == 0)
        v[right[:to_wrong]] = 0
        v[wrong[:to_right]] = 1
        c[...] = v
        # The changed rows' checksums recomputed, else the runner reads the copy as damaged.
        ref.reseal_rows(f["runs"][run]["predictions"], list(right[:to_wrong]) + list(wrong[:to_right]))


def load_plots():
    sys.path.insert(0, os.path.join(ROOT, "runner/report"))
    import report_plots  # noqa: E402
    return report_plots


def inside(inner, outer, slack=1.0):
    return (inner.x0 >= outer.x0 - slack and inner.x1 <= outer.x1 + slack and inner.y0 >= outer.y0 - slack
            and inner.y1 <= outer.y1 + slack)


def figure_texts(fig):
    texts = [t.get_text() for ax in fig.axes for t in ax.texts] + [ax.get_title() for ax in fig.axes]
    return " | ".join(texts)


def check_plots(tmp, path, plots):
    d = os.path.join(tmp, "plots")
    run_ok(["report", path, "--plot", d], "--plot")
    doc = json.load(open(os.path.join(d, "report.json")))
    fig = plots.figure_throughput(doc)
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_xticklabels()]
    check(len(ax.patches) == 2 and any("fp32" in l for l in labels) and any("bf16" in l for l in labels)
          and not ax.lines, f"throughput of a dtype sweep: 2 bars labelled by dtype, no lines ({labels})")
    fig = plots.figure_balance(doc)
    ax = fig.axes[0]
    legend = ax.get_legend()
    fig.canvas.draw()
    check(legend is not None and inside(legend.get_window_extent(), ax.get_window_extent()),
          "per-rank plot: the legend lies inside the axes")
    names = [t.get_text() for t in legend.get_texts()] if legend else []
    check("even DP groups shaded" in names, f"per-rank plot of a dp 2 run shades its groups ({names})")
    bars_top = max(b.get_y() + b.get_height() for c in ax.containers for b in c)
    legend_bottom = ax.transData.inverted().transform(legend.get_window_extent())[0][1] if legend else 0
    check(bars_top <= legend_bottom, "per-rank plot: the bars end below the legend")
    # An incomplete run as the per-rank run: said so, no "evaluate 0 s".
    part = os.path.join(tmp, "unfinished.h5")
    shutil.copy(path, part)
    ref.undo_rows(part, A, slice(N // 2, None))
    doc = json.loads(run_ok(["report", part, "--run", A, "--json"], "report of an incomplete run").stdout)
    text = figure_texts(plots.figure_balance(doc))
    check("no complete run" in text and "evaluate 0" not in text, f"incomplete run's per-rank plot: {text!r}")
    run_ok(["report", part, "--run", A, "--plot", os.path.join(tmp, "plots2")], "--plot of an incomplete run")


def check_resumed(tmp, job, path, plots):
    res = os.path.join(tmp, "resumed.h5")
    shutil.copy(path, res)
    with h5py.File(res, "r") as f:  # as if killed half-way through the bf16 run
        g = f["runs"][B]
        # Batches are planned longest first: undo the longest half of the passages, so that the
        # resumed attempt recomputes about half of the batches (a batch with any row not done is
        # recomputed whole).
        length = g["predictions/context_len"][()] + g["predictions/target_len"][()]
    ref.undo_rows(res, B, np.argsort(-length, kind="stable")[:N // 2])
    run_ok([job, "--output", res, "--resume"], "--resume of a half-done run", n=2)
    a, p = read_run(res, B)
    _, q = read_run(path, B)
    redone = a["n_evaluated"]
    check(N // 2 <= redone < N and a["complete"] == 1, f"resumed: n_evaluated {redone} = the rows of the batches redone")
    check(all(np.array_equal(p[k], q[k]) for k in ("index", "correct", "target_logprob")), "resumed rows = uninterrupted run's")
    doc = json.loads(run_ok(["report", res, "--json"], "report of the resumed file").stdout)
    r = {x["run"]: x for x in doc["runs"]}
    check(r[B]["throughput_partial"] and r[B]["speedup"] is None and not r[A]["throughput_partial"]
          and doc["baseline"]["run"] == A, "resumed run: throughput partial, no speed-up, not the baseline")
    table = run_ok(["report", res], "report table of the resumed file").stdout
    row = next(l for l in table.splitlines() if l.startswith(B))
    check("*" in row and f"last attempt only ({redone}/{N} passages)" in row and "partial:" in table,
          f"table marks the partial throughput: {row}")
    p = run(["report", res, "--baseline", B])
    check(p.returncode != 0 and "was resumed" in p.stderr, "--baseline of the resumed run: refused, saying why")
    fig = plots.figure_throughput(doc)
    labels = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    check(len(fig.axes[0].patches) == 1 and not any("bf16" in l for l in labels),
          f"throughput plot leaves the partial run out ({labels})")


def main(tmp):
    job, path = sweep(tmp)
    _, pa = read_run(path, A)
    _, pb = read_run(path, B)
    check_verdicts(pa, f"fp32, {N} passages, tp 1 x dp 2")
    check_paired([path], A, B, pa, pb, "fp32 vs bf16")
    doctored = os.path.join(tmp, "doctored.h5")
    doctor(path, doctored, B, 20, 7)
    _, pd = read_run(doctored, B)
    e = check_paired([path, doctored], f"sweep.h5:{A}", f"doctored.h5:{B}", pa, pd, "fp32 vs doctored bf16")
    check(e["n_only_a_correct"] >= 20 and e["mcnemar_p"] < 0.05, "the doctored copy: a difference McNemar sees")
    plots = load_plots()
    check_plots(tmp, path, plots)
    check_resumed(tmp, job, path, plots)


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        main(tmp)
    print(f"paired: {'FAILED: ' + '; '.join(FAILED) if FAILED else 'all checks passed'}")
    sys.exit(1 if FAILED else 0)

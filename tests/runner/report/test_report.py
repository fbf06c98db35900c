#!/usr/bin/env python3
"""Tests of `runner report` (runner/report/report_cmd.h, runner/report/REPORT.md).

usage: test_report.py RUNNER [MPIEXEC]

Runs a CPU sweep of the shipped tiny model (64 LAMBADA passages, batch.size [4, 16] x
parallelism.tp [1, 2], 2 ranks under mpirun), then checks every output of the report against the
results file read with h5py (never against hard-coded text):
  table / --csv / --json   each run's numbers (accuracy, token perplexity, throughput, times, memory,
                           speed-up over the slowest run and over --baseline, time breakdown,
                           per-rank sums of the timings); accuracy flags on a doctored copy
                           (a run with more correct passages) and --tolerance; an unfinished run;
                           a resumed run's timings (the breakdown uses the last attempt)
  --plot DIR               the three PNGs exist, are PNGs and read back with matplotlib
  --examples/--wrong/--diff  the passages listed (ids, verdicts, log-probs from the file; text
                           decoded by HF tokenizers when installed; context from the dataset);
                           the fallback to ids without a tokenizer
  errors                   not HDF5, truncated, HDF5 without our schema, schema bloom-eval/0,
                           unknown run: non-zero exit and a clear message
Prints "N passed, M failed" and exits non-zero on any failure.
"""
import csv
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

import h5py
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
sys.path.insert(0, os.path.join(ROOT, "tests/io"))
import results_reference as ref  # noqa: E402  (the checksums of io/RESULTS.md)
TINY = os.path.join(ROOT, "tests/data/tiny-bloom")
LAMBADA = os.path.join(ROOT, "tests/data/lambada/lambada_test.jsonl")
RUNNER = os.path.abspath(sys.argv[1])
MPIEXEC = sys.argv[2] if len(sys.argv) > 2 else "mpirun"
ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
           OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
ENV.setdefault("BLOOM_PYTHON", sys.executable)  # --plot runs the Python running this test (it has matplotlib)
LIMIT = 64
PASSED, FAILED = [], []


def check(cond, msg):
    print(("ok   " if cond else "FAIL ") + msg, flush=True)
    (PASSED if cond else FAILED).append(msg)
    return cond


def report(*args, cwd=None):
    p = subprocess.run([RUNNER, "report", *args], env=ENV, capture_output=True, text=True, timeout=300, cwd=cwd)
    return p


def report_ok(*args, what=None, **kw):
    p = report(*args, **kw)
    if not check(p.returncode == 0, f"report {' '.join(what or args)}: exit 0"):
        print(p.stdout[-2000:], p.stderr[-2000:])
    return p


# ---- the file, read with h5py ----

def read_file(path):
    runs = {}
    with h5py.File(path, "r") as f:
        for name, g in f["runs"].items():
            a = {k: (v.item() if hasattr(v, "item") else v) for k, v in g.attrs.items()}
            p = {k: g["predictions"][k][()] for k in g["predictions"]}
            t = {k: g["timings"][k][()] for k in g["timings"]}
            runs[name] = {"attrs": a, "pred": p, "timings": t}
    return runs


def expected(runs, baseline=None):
    """The numbers the report must print, derived from the file."""
    done = {n: r for n, r in runs.items() if r["attrs"]["complete"]}
    base = baseline or min(done, key=lambda n: done[n]["attrs"]["passages_per_second"])
    out = {}
    for n, r in runs.items():
        a, p, t = r["attrs"], r["pred"], r["timings"]
        ok = p["done"].astype(bool)
        ranks = a["tp"] * a["dp"]
        busy = t["forward_seconds"].sum() + t["comm_seconds"].sum()
        e = dict(a)
        e["n_done"] = int(ok.sum())
        e["n_correct"] = int(p["correct"][ok].sum())
        e["accuracy"] = e["n_correct"] / max(1, e["n_done"])
        e["token_perplexity"] = float(np.exp(-p["target_logprob"][ok].sum() / p["target_len"][ok].sum()))
        e["forward_seconds"] = float(t["forward_seconds"].sum())
        e["comm_seconds"] = float(t["comm_seconds"].sum())
        e["idle_seconds"] = max(0.0, a["evaluate_seconds"] * ranks - busy)
        e["speedup"] = a["passages_per_second"] / runs[base]["attrs"]["passages_per_second"] if a["complete"] else None
        e["per_rank"] = {}
        for rank in range(ranks):
            m = t["rank"] == rank
            e["per_rank"][rank] = dict(batches=int(m.sum()), tokens=int(t["n_tokens"][m].sum()),
                                       sequences=int(t["n_sequences"][m].sum()),
                                       forward_seconds=float(t["forward_seconds"][m].sum()),
                                       comm_seconds=float(t["comm_seconds"][m].sum()))
        out[n] = e
    return out, base


def close(a, b, rel=1e-9, abs_=1e-12):
    return abs(float(a) - float(b)) <= abs_ + rel * abs(float(b))


def printed_matches(text, value):
    """A number printed with d decimals equals `value` rounded to d decimals."""
    text = text.strip().rstrip("x%")
    dec = len(text.split(".")[1]) if "." in text else 0
    return abs(float(text) - value) <= 0.5 * 10 ** -dec + 1e-9 * abs(value)


def parse_table(stdout):
    lines = stdout.splitlines()
    head = next(i for i, l in enumerate(lines) if l.startswith("run "))
    cols = re.split(r"\s{2,}", lines[head].strip())
    rows = {}
    for l in lines[head + 1:]:
        if not l.strip():
            break
        cells = re.split(r"\s{2,}", l.strip())
        cells += [""] * (len(cols) - len(cells))
        rows[cells[0]] = dict(zip(cols, cells))
    return rows, lines


# ---- the sweep ----

def sweep(tmp):
    out = os.path.join(tmp, "sweep.h5")
    spec = os.path.join(tmp, "sweep.yaml")
    with open(spec, "w") as f:
        f.write(f"""name: sw
model:
  path: {TINY}
  dtype: fp32
  backend: cpu
dataset:
  path: {LAMBADA}
  limit: {LIMIT}
batch:
  size: 16
sweep:
  batch.size: [4, 16]
  parallelism.tp: [1, 2]
output:
  path: {out}
""")
    p = subprocess.run([MPIEXEC, "--oversubscribe", "-n", "2", RUNNER, spec], env=ENV,
                       capture_output=True, text=True, timeout=600)
    if not check(p.returncode == 0, "CPU sweep (2 ranks, batch.size x parallelism.tp) exits 0"):
        print(p.stdout[-3000:], p.stderr[-3000:])
        return None
    return out


def test_table(path, runs):
    exp, base = expected(runs)
    p = report_ok(path)
    rows, lines = parse_table(p.stdout)
    check(sorted(rows) == sorted(runs), f"table: one row per run ({sorted(rows)})")
    for n, row in rows.items():
        e = exp[n]
        good = (row["model"] == os.path.basename(e["model"]) and row["dtype"] == e["dtype"]
                and row["backend"] == e["backend"] and row["tp x dp"] == f"{e['tp']} x {e['dp']}"
                and row["batch / tokens"] == f"{e['batch_size']} / {e['max_tokens']}")
        check(good, f"table {n}: model, dtype, backend, layout, batching = file ({row})")
        m = re.fullmatch(r"([\d.]+)% \((\d+)/(\d+)\)", row["accuracy"])
        check(bool(m) and printed_matches(m.group(1), 100 * e["accuracy"]) and int(m.group(2)) == e["n_correct"]
              and int(m.group(3)) == e["n_examples"], f"table {n}: accuracy {row['accuracy']} = n_correct/n from the rows")
        for col, key in [("ppl/token", "token_perplexity"), ("passages/s", "passages_per_second"),
                         ("tokens/s", "tokens_per_second"), ("evaluate s", "evaluate_seconds"),
                         ("wall s", "wall_seconds"), ("load s", "load_seconds"), ("speed-up", "speedup")]:
            check(printed_matches(row[col], e[key]), f"table {n}: {col} {row[col]} = {e[key]:.6g}")
        m = re.fullmatch(r"([\d.]+) (B|KiB|MiB|GiB|TiB)", row["peak mem"])
        unit = {"B": 1, "KiB": 1024, "MiB": 1024 ** 2, "GiB": 1024 ** 3, "TiB": 1024 ** 4}
        check(bool(m) and printed_matches(m.group(1), e["peak_device_bytes"] / unit[m.group(2)]),
              f"table {n}: peak mem {row['peak mem']} = {e['peak_device_bytes']} bytes")
        check(("baseline" in row["notes"]) == (n == base), f"table {n}: baseline note only on the slowest run ({base})")
        check("!" not in row["notes"], f"table {n}: no accuracy flag on identical answers")
    check(any(l.startswith("speed-up:") and base in l for l in lines), "table: footnote names the baseline")
    # columns aligned: every row's 'ppl/token' cell ends where the header's does
    head = next(l for l in lines if l.startswith("run "))
    end = head.index("ppl/token") + len("ppl/token")
    body = [l for l in lines[lines.index(head) + 1:lines.index(head) + 1 + len(rows)]]
    check(all(l[end - 1] != " " and l[end] == " " for l in body), "table: right-aligned numbers end under their header")


def test_csv_json(path, runs):
    exp, base = expected(runs)
    p = report_ok(path, "--csv")
    rows = list(csv.DictReader(io.StringIO(p.stdout)))
    check(sorted(r["run"] for r in rows) == sorted(runs), "csv: one row per run")
    for r in rows:
        e = exp[r["run"]]
        ints = ["tp", "dp", "batch_size", "max_tokens", "n_examples", "n_done", "n_correct", "peak_device_bytes"]
        floats = ["accuracy", "token_perplexity", "passages_per_second", "tokens_per_second", "evaluate_seconds",
                  "wall_seconds", "load_seconds", "tokenize_seconds", "speedup", "forward_seconds",
                  "comm_seconds", "idle_seconds"]
        bad = [k for k in ints if int(r[k]) != e[k]] + [k for k in floats if not close(r[k], e[k])]
        check(not bad, f"csv {r['run']}: every number = file ({bad or 'all equal'})")
        check(r["model"] == e["model"] and r["file"] == path and r["baseline"] == str(int(r["run"] == base)),
              f"csv {r['run']}: model, file, baseline")
    p = report_ok(path, "--json")
    doc = json.loads(p.stdout)
    check(doc["baseline"]["run"] == base and doc["baseline"]["rule"] == "slowest", "json: baseline = slowest run")
    check([f["path"] for f in doc["files"]] == [path] and doc["files"][0]["schema"] == "bloom-eval/2",
          "json: files and schema")
    for r in doc["runs"]:
        e = exp[r["run"]]
        keys = ["n_correct", "n_examples", "accuracy", "token_perplexity", "passages_per_second", "tokens_per_second",
                "evaluate_seconds", "wall_seconds", "load_seconds", "peak_device_bytes", "speedup",
                "forward_seconds", "comm_seconds", "idle_seconds"]
        bad = [k for k in keys if not close(r[k], e[k])]
        check(not bad, f"json {r['run']}: every number = file ({bad or 'all equal'})")
        ranks = {x["rank"]: x for x in r["per_rank"]}
        bad = [(k, rk) for rk, want in e["per_rank"].items() for k, v in want.items() if not close(ranks[rk][k], v)]
        check(len(ranks) == e["tp"] * e["dp"] and not bad, f"json {r['run']}: per-rank sums of the timings ({bad or 'equal'})")
    # --baseline NAME
    other = max(runs, key=lambda n: runs[n]["attrs"]["passages_per_second"])
    exp2, _ = expected(runs, baseline=other)
    doc = json.loads(report_ok(path, "--json", "--baseline", other).stdout)
    check(doc["baseline"]["run"] == other and all(close(r["speedup"], exp2[r["run"]]["speedup"]) for r in doc["runs"]),
          f"--baseline {other}: speed-ups relative to it")
    p = report(path, "--baseline", "no-such-run")
    check(p.returncode != 0 and "no run 'no-such-run'" in p.stderr, "--baseline of an unknown run: clear error")


def doctored(tmp, path, runs, name, n_flip):
    """A copy where run `name` got n_flip more passages right (rows and attributes), and another
    passage a different prediction: an accuracy change no rounding explains."""
    out = os.path.join(tmp, "doctored.h5")
    shutil.copy(path, out)
    with h5py.File(out, "r+") as f:
        g = f["runs"][name]
        c = g["predictions/correct"][()]
        wrong = np.flatnonzero(c == 0)[:n_flip]
        c[wrong] = 1
        g["predictions/correct"][...] = c
        pred = g["predictions/predicted_ids"]
        target = g["predictions/target_ids"]
        for i in wrong:
            pred[i] = target[i]
        j = int(np.flatnonzero(c == 0)[0])  # a prediction change without a verdict change
        ids = pred[j].copy()
        ids[0] = (ids[0] + 1) % 100
        pred[j] = ids
        g.attrs["n_correct"] = np.int64(c.sum())
        g.attrs["accuracy"] = float(c.mean())
        # The checksums of what changed, recomputed (else the runner reads the copy as damaged).
        ref.reseal_rows(g["predictions"], list(wrong) + [j])
        ref.seal(g)
    return out, set(int(i) for i in wrong) | {j}


def test_flags(tmp, path, runs):
    name = sorted(runs)[0]
    bad, changed = doctored(tmp, path, runs, name, 10)
    brun = read_file(bad)
    exp, _ = expected(brun)
    rows, lines = parse_table(report_ok(bad).stdout)
    flagged = sorted(n for n, r in rows.items() if "! accuracy" in r["notes"])
    check(flagged == [name], f"a run with 10 more correct passages of {LIMIT} is flagged, only it ({flagged})")
    check(any(l.startswith("! accuracy") and name in l for l in lines) and any("0.2%" in l for l in lines),
          "the flag's footnote names the run and explains the tolerance")
    doc = json.loads(report_ok(bad, "--json").stdout)
    r = next(r for r in doc["runs"] if r["run"] == name)
    check(r["accuracy_flag"] and r["n_correct"] == exp[name]["n_correct"] and r["accuracy_tolerance"] == 3
          and r["others_median_correct"] == float(np.median([exp[n]["n_correct"] for n in exp if n != name])),
          "json: flag, n_correct, tolerance max(3, 0.2% of 64) = 3, median of the others")
    doc = json.loads(report_ok(bad, "--json", "--tolerance", "10").stdout)
    check(not any(r["accuracy_flag"] for r in doc["runs"]), "--tolerance 10: a difference of 10 is not flagged")
    return bad, changed


def test_incomplete(tmp, path, runs):
    out = os.path.join(tmp, "unfinished.h5")
    shutil.copy(path, out)
    name = sorted(runs)[1]
    ref.undo_rows(out, name, slice(LIMIT // 2, None))
    exp, _ = expected(read_file(out))
    doc = json.loads(report_ok(out, "--json").stdout)
    r = next(r for r in doc["runs"] if r["run"] == name)
    check(not r["complete"] and r["n_done"] == LIMIT // 2 and r["n_correct"] == exp[name]["n_correct"]
          and close(r["token_perplexity"], exp[name]["token_perplexity"]) and r["speedup"] is None,
          "unfinished run: accuracy and perplexity recomputed over the done rows, no speed-up")
    rows, lines = parse_table(report_ok(out).stdout)
    check("incomplete" in rows[name]["notes"] and any("INCOMPLETE" in l for l in lines),
          "table: unfinished run and file marked")


def test_resumed(tmp, path, runs):
    """A run stopped and resumed has the timings of both attempts; the breakdown uses the last."""
    out = os.path.join(tmp, "resumed.h5")
    shutil.copy(path, out)
    name = sorted(runs)[2]
    with h5py.File(out, "r+") as f:
        t = f["runs"][name]["timings"]
        for k in t:
            d = t[k][()]
            t[k].resize((2 * len(d),))
            t[k][len(d):] = d
    exp, _ = expected(runs)
    doc = json.loads(report_ok(out, "--json").stdout)
    r = next(r for r in doc["runs"] if r["run"] == name)
    ranks = {x["rank"]: x for x in r["per_rank"]}
    same = all(close(ranks[rk][k], v) for rk, want in exp[name]["per_rank"].items() for k, v in want.items())
    check(r["attempts"] == 2 and same and close(r["forward_seconds"], exp[name]["forward_seconds"]),
          "resumed run (timings appended twice): 2 attempts, per-rank sums of the last one")


def test_plots(tmp, path):
    d = os.path.join(tmp, "plots")
    p = report_ok(path, "--plot", d, "--json")
    check(json.loads(p.stdout)["runs"] is not None, "--plot with --json: stdout still valid JSON")
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.image as mpimg
    except ImportError as e:
        check(False, f"matplotlib importable to read the plots back ({e}): install python3-matplotlib or pip matplotlib")
        return
    for name in ["throughput.png", "time_breakdown.png", "load_balance.png"]:
        f = os.path.join(d, name)
        ok = os.path.isfile(f)
        head = open(f, "rb").read(8) if ok else b""
        check(head == b"\x89PNG\r\n\x1a\n", f"{name}: written, PNG signature")
        if ok:
            img = mpimg.imread(f)
            check(img.ndim == 3 and img.shape[0] >= 300 and img.shape[1] >= 500 and img.std() > 0.01,
                  f"{name}: matplotlib reads it back ({img.shape[1]}x{img.shape[0]}, not blank)")
    check(os.path.isfile(os.path.join(d, "report.json")), "report.json (the plots' data) beside them")
    p = report(path, "--plot", os.path.join(tmp, "plots2"), "--python", "/nonexistent/python3")
    check(p.returncode != 0 and "matplotlib" in p.stderr, "--plot without a usable Python: clear error")


def dataset_rows():
    out = []
    with open(LAMBADA) as f:
        for line in f:
            if line.strip():
                text = json.loads(line)["text"]
                context, word = text.rstrip("\n").rsplit(" ", 1)
                out.append((context, " " + word))
    return out


def test_examples(tmp, path, runs, bad, changed):
    try:
        from tokenizers import Tokenizer
        tok = Tokenizer.from_file(os.path.join(TINY, "tokenizer.json"))
    except ImportError:
        tok = None
        print("note: HF tokenizers not installed: decoded text not checked against it")
    data = dataset_rows()
    name = sorted(runs)[0]
    p = runs[name]["pred"]
    doc = json.loads(report_ok(path, "--run", name, "--examples", "--json").stdout)
    ps = doc["passages"]
    check(len(ps) == LIMIT and doc["n_listed"] == LIMIT, f"--examples: all {LIMIT} passages listed")
    bad_rows = []
    for x in ps:
        i = x["row"]
        good = (x["index"] == p["index"][i] and x["correct"] == bool(p["correct"][i])
                and close(x["target_logprob"], p["target_logprob"][i])
                and x["target_ids"] == list(p["target_ids"][i]) and x["predicted_ids"] == list(p["predicted_ids"][i])
                and x["context"] == data[x["index"]][0] and x["target"] == data[x["index"]][1])
        if tok is not None:
            good = good and x["predicted"] == tok.decode(list(map(int, p["predicted_ids"][i])), skip_special_tokens=False)
        if not good:
            bad_rows.append(i)
    check(not bad_rows, f"--examples: ids, verdicts, log-probs = file; context, target = dataset; "
                        f"predicted = tokenizer decode ({bad_rows[:5] or 'all rows'})")
    # the table form lists the same passages
    t = report_ok(path, "--run", name, "--examples", "--limit", "5", "--context-chars", "30").stdout
    tl = t.splitlines()
    body = tl[next(i for i, l in enumerate(tl) if l.startswith("index")) + 1:-1]
    check([int(l.split()[0]) for l in body] == list(p["index"][:5]) and "5 passage(s) listed" in t,
          "--examples table: --limit 5 lists the first 5 passages")
    lp = [float(l.split()[-1]) for l in body]
    check(all(printed_matches(f"{v:.4f}", w) for v, w in zip(lp, p["target_logprob"][:5])), "--examples table: log-probs")
    check(all(l.split()[-2] in ("yes", "no") for l in body), "--examples table: correct column")
    # CSV form
    rows = list(csv.DictReader(io.StringIO(report_ok(path, "--run", name, "--examples", "--csv").stdout)))
    check(len(rows) == LIMIT and all(int(r["index"]) == p["index"][int(r["row"])] and
                                     close(r["target_logprob"], p["target_logprob"][int(r["row"])]) and
                                     r["context"] == data[int(r["index"])][0] for r in rows),
          "--examples --csv: rows = file, context = dataset (newlines survive CSV quoting)")

    # --wrong on the doctored copy (some passages right)
    bp = read_file(bad)[name]["pred"]
    doc = json.loads(report_ok(bad, "--run", name, "--wrong", "--json").stdout)
    want = [int(i) for i in bp["index"][bp["correct"] == 0]]
    check([x["index"] for x in doc["passages"]] == want and all(not x["correct"] for x in doc["passages"]),
          f"--wrong: exactly the {len(want)} misses")
    # --diff: identical answers between layouts, the doctored rows between files (FILE:NAME refs)
    a, b = sorted(runs)[0], sorted(runs)[-1]
    pa, pb = runs[a]["pred"], runs[b]["pred"]
    want = [int(pa["index"][i]) for i in range(LIMIT)
            if list(pa["predicted_ids"][i]) != list(pb["predicted_ids"][i]) or pa["correct"][i] != pb["correct"][i]]
    doc = json.loads(report_ok(path, "--run", a, "--diff", b, "--json").stdout)
    check([x["index"] for x in doc["passages"]] == want and doc["n_common"] == LIMIT,
          f"--diff {a} vs {b}: the passages where they disagree ({want})")
    check(close(doc["max_abs_logprob_diff"], np.abs(pa["target_logprob"] - pb["target_logprob"]).max()),
          "--diff: max |logprob difference| = file")
    ref_a, ref_b = f"{os.path.basename(path)}:{name}", f"{os.path.basename(bad)}:{name}"
    doc = json.loads(report_ok(path, bad, "--run", ref_a, "--diff", ref_b, "--json").stdout)
    got = sorted(x["index"] for x in doc["passages"])
    check(got == sorted(changed), f"--diff across files (FILE:NAME): the {len(changed)} doctored passages")
    x = next(x for x in doc["passages"])
    check(x["a"]["correct"] == bool(pa["correct"][x["a"]["row"]]) and x["b"]["correct"] == bool(bp["correct"][x["b"]["row"]])
          and x["b"]["predicted_ids"] == list(bp["predicted_ids"][x["b"]["row"]]), "--diff: both sides = their files")
    t = report_ok(path, bad, "--run", ref_a, "--diff", ref_b).stdout
    check(f"{len(changed)} disagree" in t and f"{len(changed)} passage(s) listed" in t, "--diff table: counts")
    p2 = report(path, bad, "--run", name, "--examples")
    check(p2.returncode != 0 and "several files" in p2.stderr, "ambiguous run name over two files: clear error")

    # No tokenizer, no dataset: ids instead of text, a warning, exit 0.
    moved = os.path.join(tmp, "moved.h5")
    shutil.copy(path, moved)
    with h5py.File(moved, "r+") as f:
        f["runs"][name].attrs["tokenizer"] = "/nonexistent/tokenizer.json"
        f["runs"][name].attrs["dataset"] = "/nonexistent/lambada.jsonl"
        ref.seal(f["runs"][name])
    pr = report_ok(moved, "--run", name, "--examples", "--limit", "3")
    first = list(pa["predicted_ids"][0])
    check("warning" in pr.stderr and "tokenizer" in pr.stderr and "[" + " ".join(map(str, first)) + "]" in pr.stdout,
          "missing tokenizer: warning, token ids printed")
    doc = json.loads(report_ok(moved, "--run", name, "--examples", "--json", "--tokenizer",
                               os.path.join(TINY, "tokenizer.json"), "--dataset", LAMBADA).stdout)
    check(doc["passages"][0]["context"] == data[0][0] and doc["passages"][0]["predicted"] is not None,
          "--tokenizer / --dataset override the attributes")


def test_errors(tmp, path):
    cases = []
    junk = os.path.join(tmp, "junk.h5")
    with open(junk, "w") as f:
        f.write("this is not HDF5\n" * 100)
    cases.append((junk, "not an HDF5 file", "a text file"))
    data = open(path, "rb").read()
    for frac in (0.5, 0.95):
        cut = os.path.join(tmp, f"cut{int(frac * 100)}.h5")
        with open(cut, "wb") as f:
            f.write(data[:int(len(data) * frac)])
        cases.append((cut, "truncated", f"a copy truncated to {int(frac * 100)}%"))
    alien = os.path.join(tmp, "alien.h5")
    with h5py.File(alien, "w") as f:
        f["data"] = np.arange(10)
        f.attrs["creator"] = "someone else"
    cases.append((alien, "not a bloom-eval results file", "an HDF5 file without our schema"))
    old = os.path.join(tmp, "old.h5")
    with h5py.File(old, "w") as f:
        f.attrs["schema"] = "bloom-eval/0"
        f.create_group("runs")
    cases.append((old, "bloom-eval/0", "an HDF5 file of schema bloom-eval/0"))
    cases.append((os.path.join(tmp, "missing.h5"), "does not exist", "a missing file"))
    for f, needle, what in cases:
        for extra in ([], ["--json"], ["--run", "x", "--examples"]):
            p = report(f, *extra)
            check(p.returncode == 1 and p.stderr.startswith("error: ") and needle in p.stderr and not p.stdout,
                  f"{what} {' '.join(extra)}: exit 1, 'error: ... {needle} ...'")
    p = report(path, "--run", "no-such-run", "--examples")
    check(p.returncode != 0 and "no run 'no-such-run'" in p.stderr and "its runs are" in p.stderr,
          "unknown --run: error lists the runs")
    p = report(path, "--wrong")
    check(p.returncode != 0 and "--run" in p.stderr, "--wrong without --run: clear error")


def main():
    with tempfile.TemporaryDirectory() as tmp:
        path = sweep(tmp)
        if path:
            runs = read_file(path)
            check(len(runs) == 4 and all(r["attrs"]["complete"] for r in runs.values()), "sweep: 4 complete runs")
            for t in (test_table, test_csv_json):
                t(path, runs)
            bad, changed = test_flags(tmp, path, runs)
            test_incomplete(tmp, path, runs)
            test_resumed(tmp, path, runs)
            test_plots(tmp, path)
            test_examples(tmp, path, runs, bad, changed)
            test_errors(tmp, path)
    print(f"{len(PASSED)} passed, {len(FAILED)} failed")
    for m in FAILED:
        print("  failed: " + m)
    sys.exit(1 if FAILED else 0)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Numbers users can trust: the quick start on the trained fixture, every number checked.

usage: test_numbers.py RUNNER MPIEXEC

Runs jobs/quickstart.yaml from the repository root, as the README says (all 5153 passages of the
trained fixture), then checks on that one file, recomputing every number from the HDF5 rows with
scipy or the plain formulas (tests/runner/numbers_common.py), never taking the runner's word:
  - FasterTransformer's line `Accuracy: 50.9800% (2627/5153) (elapsed time: T sec)`, T the
    evaluate seconds; every `correct` row = HF's float64 verdict;
  - stderr, Wilson interval, both perplexities: the attributes, report's table, CSV and JSON;
  - `report --lm-eval` (lm-evaluation-harness's results JSON; perplexity_stderr against a
    bootstrap as lm-eval computes it) and its 5153 `--samples` lines;
  - provenance: absolute paths, the spec with every default, fingerprints = sha256 here, host,
    versions, UTC times;
  - `report` and the io/RESULTS.md and REPORT.md snippets from another folder;
  - a bloom-eval/1 copy: report reads it, resume refuses it;
  - --min-accuracy on the finished file (runs skipped): exit 4 below, 0 at or above.
"""
import csv
import hashlib
import io
import json
import math
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile

import h5py
import numpy as np
import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from numbers_common import (FAILED, FT_LINE, LAMBADA, ROOT, STAT_KEYS, TRAINED, check, check_verdicts,  # noqa: E402
                            close, expected_stats, passages, read_run, run, run_ok)

# ---- quickstart: one full run, every check on it ----

def case_quickstart(tmp):
    out = os.path.join(tmp, "quickstart.h5")
    p = run_ok(["jobs/quickstart.yaml", "--output", out], "jobs/quickstart.yaml from the repository root", cwd=ROOT)
    a, pred = read_run(out, "quickstart")
    m = FT_LINE.search(p.stdout)
    check(bool(m) and m.group(0).startswith("Accuracy: 50.9800% (2627/5153) (elapsed time: "),
          f"FasterTransformer's line: {m.group(0) if m else p.stdout[-300:]}")
    check(bool(m) and m.group(4) == f"{a['evaluate_seconds']:.4f}", "its elapsed time is the evaluate seconds")
    check(a["n_correct"] == 2627 and a["accuracy"] == 2627 / 5153, "n_correct 2627, accuracy 2627/5153 (HF float64)")
    check_verdicts(pred, "quickstart")
    e = expected_stats(pred)
    bad = [k for k in STAT_KEYS if not close(a[k], e[k])]
    check(not bad, f"attributes = scipy / formulas on the rows ({bad or STAT_KEYS})")
    check(a["n_evaluated"] == 5153, "n_evaluated: every row in this attempt")
    check_report_numbers(out, e)
    check_lm_eval(tmp, out, a, pred, e)
    check_provenance(out, a)
    check_other_folder(tmp, out)
    check_schema_v1(tmp, out, e)
    # --min-accuracy on a finished file: every run skipped, the threshold read from the file.
    for threshold, code in [("0.5", 0), ("51%", 4), ("50%", 0), ("0.6", 4)]:
        p = run(["jobs/quickstart.yaml", "--output", out, "--resume", "--min-accuracy", threshold], cwd=ROOT)
        check(p.returncode == code and (code == 0 or "below --min-accuracy" in p.stdout + p.stderr),
              f"--min-accuracy {threshold} on the complete file (accuracy 0.5098): exit {code} ({p.returncode})")


def check_report_numbers(out, e):
    doc = json.loads(run_ok(["report", out, "--json"], "report --json").stdout)
    r = doc["runs"][0]
    bad = [k for k in STAT_KEYS + ["passage_perplexity_stderr"] if not close(r[k], e[k])]
    check(not bad and r["n_correct"] == e["n_correct"], f"report --json = scipy / formulas ({bad or 'all'})")
    rows = list(csv.DictReader(io.StringIO(run_ok(["report", out, "--csv"], "report --csv").stdout)))
    bad = [k for k in STAT_KEYS if not close(rows[0][k], e[k])]
    check(not bad, f"report --csv = scipy / formulas ({bad or 'all'})")
    table = run_ok(["report", out], "report").stdout
    want = (f"{100 * e['accuracy']:.2f}% ({e['n_correct']}/{e['n']})", f"{100 * e['accuracy_stderr']:.2f}%",
            f"{100 * e['accuracy_ci95_low']:.2f}-{100 * e['accuracy_ci95_high']:.2f}%",
            f"{e['token_perplexity']:.3f}")
    check(all(w in table for w in want), f"report table shows {want}")


def python_repr(x):
    return repr(float(x))


def check_lm_eval(tmp, out, a, pred, e):
    doc = json.loads(run_ok(["report", out, "--run", "quickstart", "--lm-eval"], "report --lm-eval").stdout)
    t = doc["results"]["lambada_openai"]
    check(close(t["acc,none"], e["accuracy"]) and close(t["acc_stderr,none"], e["accuracy_stderr"])
          and close(t["perplexity,none"], e["passage_perplexity"])
          and close(t["perplexity_stderr,none"], e["passage_perplexity_stderr"]) and t["alias"] == "lambada_openai",
          "lm-eval results.lambada_openai: acc, acc_stderr, perplexity (per passage), perplexity_stderr, alias")
    # lm-eval bootstraps perplexity_stderr; ours (delta method) must agree within its noise.
    rng = np.random.default_rng(1234)
    lp = pred["target_logprob"]
    boot = [math.exp(-lp[rng.integers(0, len(lp), len(lp))].mean()) for _ in range(2000)]
    check(abs(np.std(boot, ddof=1) / t["perplexity_stderr,none"] - 1) < 0.15,
          f"perplexity_stderr {t['perplexity_stderr,none']:.4g} ~ bootstrap {np.std(boot, ddof=1):.4g}")
    check(doc["n-samples"]["lambada_openai"] == {"original": 5153, "effective": 5153}
          and doc["versions"]["lambada_openai"] == 1.0 and doc["n-shot"]["lambada_openai"] == 0,
          "lm-eval n-samples, versions, n-shot")
    c = doc["config"]
    check(a["model"] in c["model_args"] and c["model_dtype"] == "torch.float32" and c["batch_size"] == 64
          and c["tensor_parallel"] == 1 and c["data_parallel"] == 1 and c["device"] == "cpu",
          f"lm-eval config names model, dtype, batch and layout: {c}")
    samples = os.path.join(tmp, "samples.jsonl")
    run_ok(["report", out, "--run", "quickstart", "--samples", samples], "report --samples")
    lines = [json.loads(l) for l in open(samples)]
    check(len(lines) == 5153, f"--samples: 5153 lines ({len(lines)})")
    data, bad = passages(), []
    for i, s in enumerate(lines):
        context, target = data[s["doc_id"]]
        ll, greedy = python_repr(pred["target_logprob"][i]), str(bool(pred["correct"][i]))
        doc_text = json.dumps(s["doc"], indent=2, ensure_ascii=False)
        good = (s["doc_id"] == pred["index"][i] and s["doc"] == {"text": context + target} and s["target"] == target
                and s["arguments"] == {"gen_args_0": {"arg_0": context, "arg_1": target}}
                and s["resps"] == [[[ll, greedy]]] and s["filtered_resps"] == [[ll, greedy]]
                and s["filter"] == "none" and s["metrics"] == ["perplexity", "acc"]
                and s["perplexity"] == pred["target_logprob"][i] and s["acc"] == int(pred["correct"][i])
                and s["doc_hash"] == hashlib.sha256(doc_text.encode()).hexdigest()
                and s["prompt_hash"] == hashlib.sha256(context.encode()).hexdigest()
                and s["target_hash"] == hashlib.sha256(target.encode()).hexdigest()
                and s["predicted_ids"] == list(pred["predicted_ids"][i]))
        if not good:
            bad.append(i)
    check(not bad, f"--samples lines as lm-eval's --log_samples writes them, values = file ({bad[:5] or 'all'})")
    check(np.mean([s["acc"] for s in lines]) == e["accuracy"], "--samples: mean acc = accuracy")


def sha256_file(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def check_provenance(out, a):
    check(a["model"] == TRAINED and a["tokenizer"] == os.path.join(TRAINED, "tokenizer.json")
          and a["dataset"] == LAMBADA, "absolute model, tokenizer and dataset paths")
    spec = yaml.safe_load(a["spec"])
    keys = {f"{s}.{k}" for s, v in spec.items() if isinstance(v, dict) for k in v}
    want = {"model.path", "model.dtype", "model.backend", "model.tokenizer", "dataset.path", "dataset.limit",
            "batch.size", "batch.max_tokens", "parallelism.tp", "parallelism.dp", "output.path",
            "output.resume", "output.overwrite", "load.threads"}
    check(want <= keys and spec["method"] == "teacher_forced" and spec["batch"]["size"] == 64
          and spec["model"]["dtype"] == "fp32" and spec["output"]["path"] == out,
          f"spec: every key with defaults filled ({sorted(want - keys) or 'all'})")
    check(a["overrides"] == f"--output {out}", f"overrides recorded: {a['overrides']!r}")
    check(a["config_sha256"] == sha256_file(os.path.join(TRAINED, "config.json"))
          and a["tokenizer_sha256"] == sha256_file(os.path.join(TRAINED, "tokenizer.json"))
          and a["dataset_sha256"] == sha256_file(LAMBADA) and re.fullmatch(r"[0-9a-f]{64}", a["weights_fingerprint"]),
          "fingerprints: sha256 of config, tokenizer, dataset; weights fingerprint")
    iso = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"
    check(re.fullmatch(iso, a["started_utc"]) and re.fullmatch(iso, a["finished_utc"])
          and a["started_utc"] <= a["finished_utc"], f"UTC start {a['started_utc']} <= end {a['finished_utc']}")
    env = json.loads(a["environment"])
    v = env["versions"]
    # The HDF5 the runner links (h5py brings its own): what h5dump, of the same package, says.
    h5dump = subprocess.run(["h5dump", "--version"], capture_output=True, text=True).stdout
    version = run(["--version"]).stdout.strip()
    check(env["hosts"] == [socket.gethostname()] and len(env["ranks"]) == 1 and env["ranks"][0]["device"] == "cpu"
          and env["cpu_models"] and v["hdf5"] in h5dump and v["mpi"] and v["compiler"] and v["runner"] == version
          and {"cuda_runtime", "nccl", "os"} <= set(v), f"environment: host, CPU, versions ({v}; {h5dump.strip()})")


SNIPPET = re.compile(r"```python\n(.*?)```", re.S)


def check_other_folder(tmp, out):
    elsewhere = os.path.join(tmp, "elsewhere")
    os.makedirs(elsewhere)
    p = run_ok(["report", out, "--run", "quickstart", "--examples", "--limit", "3", "--json"],
               "report --examples from another folder", cwd=elsewhere)
    doc = json.loads(p.stdout)
    data = passages()
    check(p.stderr == "" and doc["passages"][0]["context"] == data[0][0] and doc["passages"][0]["predicted"],
          "from another folder: context and decoded text found through the absolute paths, no warning")
    for doc_path in ("io/RESULTS.md", "runner/report/REPORT.md"):
        for i, code in enumerate(SNIPPET.findall(open(os.path.join(ROOT, doc_path)).read())):
            code = code.replace('"results.h5"', repr(out)).replace('"results/quickstart.h5"', repr(out))
            p = subprocess.run([sys.executable, "-c", code], cwd=elsewhere, capture_output=True, text=True, timeout=300)
            check(p.returncode == 0 and p.stdout.strip(),
                  f"{doc_path} snippet {i + 1} runs from another folder" + ("" if p.returncode == 0 else ": " + p.stderr[-500:]))


def check_schema_v1(tmp, out, e):
    """A file as runners before bloom-eval/2 wrote it: report reads it, resume refuses it."""
    old = os.path.join(tmp, "v1.h5")
    shutil.copy(out, old)
    with h5py.File(old, "r+") as f:
        f.attrs["schema"] = "bloom-eval/1"
        g = f["runs/quickstart"]
        g.attrs["perplexity"] = g.attrs["token_perplexity"]
        for k in ["accuracy_stderr", "accuracy_ci95_low", "accuracy_ci95_high", "token_perplexity",
                  "passage_perplexity", "n_evaluated", "overrides", "started_utc", "finished_utc",
                  "environment", "config_sha256", "tokenizer_sha256", "dataset_sha256", "weights_fingerprint"]:
            del g.attrs[k]
        # nor checksums
        del f.attrs["attributes_crc32"], g.attrs["attributes_crc32"], g["predictions/checksum"]
    doc = json.loads(run_ok(["report", old, "--json"], "report of a bloom-eval/1 file").stdout)
    r = doc["runs"][0]
    check(doc["files"][0]["schema"] == "bloom-eval/1" and all(close(r[k], e[k]) for k in STAT_KEYS),
          "bloom-eval/1: statistics recomputed from its rows")
    p = run(["jobs/quickstart.yaml", "--output", old, "--resume"], cwd=ROOT)
    check(p.returncode != 0 and "older runner (schema bloom-eval/1)" in p.stdout + p.stderr,
          "resuming a bloom-eval/1 file is refused, saying why")


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        case_quickstart(tmp)
    print(f"quickstart: {'FAILED: ' + '; '.join(FAILED) if FAILED else 'all checks passed'}")
    sys.exit(1 if FAILED else 0)

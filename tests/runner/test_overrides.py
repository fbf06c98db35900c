#!/usr/bin/env python3
"""Command-line overrides and --min-accuracy of `runner run` / `runner validate` (runner/overrides.h,
runner/accuracy_check.h), on the trained fixture (small --limit: seconds).

usage: test_overrides.py RUNNER MPIEXEC

  - --set KEY=VALUE (repeatable), --limit, --output, --overwrite, --resume change the run as the
    same keys in the file would (rows, batching, dtype, output file), and the results file records
    them (`overrides`, and the `spec` with the values in effect); the job file's output is not
    touched;
  - their errors: the YAML's own messages, prefixed by the option (`--set batch.size=0: ...`), no
    results file left; a --set without '='; --resume with --overwrite;
  - --min-accuracy X: exit 4 when a run is below X (the file is written and complete), 0 when
    none is; X as a fraction or a percentage; bad X refused before anything runs;
  - validate applies the same overrides (--json shows the layout and passages they give).
"""
import json
import os
import sys
import tempfile

import h5py
import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from numbers_common import (FAILED, LAMBADA, TRAINED, check, check_verdicts, read_run, reference,  # noqa: E402
                            run, run_ok)


def job_file(tmp):
    path = os.path.join(tmp, "job.yaml")
    with open(path, "w") as f:
        f.write(f"""name: ov
model:
  path: {TRAINED}
dataset:
  path: {LAMBADA}
batch:
  size: 16
output:
  path: {os.path.join(tmp, "from-file.h5")}
""")
    return path


def main(tmp):
    job = job_file(tmp)
    ref = reference()
    out = os.path.join(tmp, "o.h5")
    n = 40
    correct = sum(r["correct"] for r in ref[:n])
    above = f"{100 * correct / n + 1:.0f}%"  # a percentage just above this run's accuracy
    p = run(["run", job, "--set", f"dataset.limit={n}", "--set", "batch.size=8", "--set", "model.dtype=bf16",
             "--output", out, "--min-accuracy", above])
    check(p.returncode == 4 and "below --min-accuracy" in p.stdout + p.stderr,
          f"--min-accuracy {above} above the run's {correct}/{n}: exit 4 ({p.returncode})")
    check(not os.path.exists(os.path.join(tmp, "from-file.h5")), "--output: the job file's output.path untouched")
    a, pred = read_run(out, "ov")
    with h5py.File(out, "r") as f:
        complete = int(f.attrs["complete"])
    check(complete == 1 and a["complete"] == 1, "below the threshold: results written and complete all the same")
    check(a["n_examples"] == n and a["batch_size"] == 8 and a["dtype"] == "bf16",
          f"--set dataset.limit / batch.size / model.dtype applied ({a['n_examples']}, {a['batch_size']}, {a['dtype']})")
    check_verdicts(pred, f"--set dataset.limit={n} (bf16)")
    check(a["overrides"] == f"--set dataset.limit={n} --set batch.size=8 --set model.dtype=bf16 --output {out}",
          f"overrides recorded: {a['overrides']!r}")
    spec = yaml.safe_load(a["spec"])
    check(spec["dataset"]["limit"] == n and spec["batch"]["size"] == 8 and spec["output"]["path"] == out,
          "the recorded spec has the values in effect")

    # --limit with --overwrite replaces the file; --min-accuracy below the run passes.
    p = run_ok(["run", job, "--limit", "24", "--output", out, "--overwrite", "--min-accuracy", "0.1"],
               "--limit 24 --overwrite --min-accuracy 0.1")
    a, pred = read_run(out, "ov")
    check(a["n_examples"] == 24 and a["overrides"] == f"--limit 24 --output {out} --overwrite",
          "--limit and --overwrite: 24 rows, recorded")
    check_verdicts(pred, "--limit 24")
    # --resume on the finished file: skipped; the threshold is checked against the file.
    p = run(["run", job, "--limit", "24", "--output", out, "--resume", "--min-accuracy", "1.0"])
    check(p.returncode == 4 and "skipped" in p.stdout, f"--resume of a complete file, --min-accuracy 1.0: exit 4 ({p.returncode})")
    p = run(["run", job, "--limit", "24", "--output", out, "--resume", "--min-accuracy", "0%"])
    check(p.returncode == 0, f"--min-accuracy 0%: exit 0 ({p.returncode})")

    # Errors: the YAML's messages, named by the option; nothing left behind.
    bad_out = os.path.join(tmp, "bad.h5")
    for args, needle in [
            (["--set", "batch.size=0"], "--set batch.size=0: batch.size must be >= 1, got 0"),
            (["--set", "batch.szie=4"], "--set batch.szie=4: unknown key 'batch.szie' (did you mean 'batch.size'?)"),
            (["--set", "model.dtype=fp4"], "--set model.dtype=fp4: model.dtype must be one of fp32, fp16, bf16, fp8"),
            (["--limit", "-3"], "--limit -3: dataset.limit must be >= 0, got -3"),
            (["--limit", "many"], "--limit many: dataset.limit must be an integer, got 'many'"),
            (["--set", "batch.size"], "--set batch.size: expected KEY=VALUE"),
            (["--min-accuracy", "35"], "--min-accuracy 35: expected a fraction in [0, 1] (0.35) or a percentage (35%)"),
            (["--min-accuracy", "lots"], "--min-accuracy lots: expected a fraction"),
            (["--resume", "--overwrite"], "excludes")]:
        p = run(["run", job, "--output", bad_out] + args)
        check(p.returncode != 0 and needle in p.stdout + p.stderr and not os.path.exists(bad_out),
              f"run {' '.join(args)}: refused with {needle!r}, no file ({p.returncode})")

    # validate applies the same overrides.
    p = run_ok(["validate", job, "--json", "--world", "2", "--set", "parallelism.tp=2", "--limit", "10",
                "--output", bad_out], "validate with overrides")
    doc = json.loads(p.stdout) if p.returncode == 0 else {"runs": [{}], "output": {}}
    r = doc["runs"][0]
    check(r.get("layout", {}).get("tp") == 2 and r.get("dataset", {}).get("passages") == 10
          and doc["output"].get("path") == bad_out, f"validate --json shows tp 2, 10 passages, the --output ({r})")
    p = run(["validate", job, "--set", "parallelism.tp=3"])
    check(p.returncode != 0 and "does not divide" in p.stdout + p.stderr,
          "validate --set parallelism.tp=3: the layout check refuses it (8 heads)")


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        main(tmp)
    print(f"overrides: {'FAILED: ' + '; '.join(FAILED) if FAILED else 'all checks passed'}")
    sys.exit(1 if FAILED else 0)

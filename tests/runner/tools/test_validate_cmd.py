#!/usr/bin/env python3
"""`runner validate`: "the job is valid" apart from "its inputs are not there yet" and from "it
cannot run on this machine".

usage: test_validate_cmd.py RUNNER

  shipped jobs   every jobs/*.yaml, in a fresh clone (the repository's jobs/ and tests/data, no
                 models/, no results/, no BLOOM_* variables): validate says `ok` (exit 0), or
                 exits 1 naming each missing input on stderr, a model folder with the
                 `runner make-model --like PRESET --dtype D --out PATH` command that makes it
                 (PRESET one of make-model's presets, PATH the job's model.path). A results
                 folder that does not exist is one `run` creates: it is named, not an error.
  missing        a job whose model and dataset do not exist: both named, the runs listed on
                 stdout, --json says ready false with each missing input; after make-model
                 makes the model (and the dataset is copied in), the same job says ok.
  machine        backend cuda on a machine without a usable GPU: exit 1, "cannot run on this
                 machine"; --no-device-check (validating on a login node) says ok.
  BLOOM_RUNS     an index past the job's runs is refused, naming the runs.
Ends with "N passed, M failed"; exits 1 on any failure.
"""
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
RUNNER = os.path.abspath(sys.argv[1])
ENV = {k: v for k, v in os.environ.items() if not k.startswith("BLOOM_")}
ENV.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
PASSED, FAILED = [], []


def check(cond, msg):
    print(("ok   " if cond else "FAIL ") + msg, flush=True)
    (PASSED if cond else FAILED).append(msg)
    return cond


def runner(args, cwd, env=None):
    return subprocess.run([RUNNER] + args, cwd=cwd, env=env or ENV, capture_output=True, text=True,
                          timeout=120, stdin=subprocess.DEVNULL)


def presets(cwd):
    text = runner(["make-model", "--help"], cwd).stdout
    m = re.search(r"shape preset: ([\w\-, ]+)", text)
    return [p.strip() for p in m.group(1).split(",")] if m else []


def fresh_clone(tmp):
    clone = os.path.join(tmp, "clone")
    os.makedirs(os.path.join(clone, "tests"))
    shutil.copytree(os.path.join(ROOT, "jobs"), os.path.join(clone, "jobs"))
    os.symlink(os.path.join(ROOT, "tests/data"), os.path.join(clone, "tests/data"))
    return clone


def model_paths(job_text):
    """The job's model.path default (`${VAR:-default}` resolved with no BLOOM_* set)."""
    m = re.search(r"^model:\n(?:  .*\n)*?  path: (.+)$", job_text, re.M)
    v = m.group(1).strip() if m else ""
    return re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", v)


def case_shipped_jobs(tmp):
    clone = fresh_clone(tmp)
    known = presets(clone)
    check(len(known) >= 5 and "bloom-7b1" in known, f"make-model lists its presets ({known})")
    jobs = sorted(glob.glob(os.path.join(clone, "jobs", "*.yaml")))
    check(len(jobs) >= 5, f"{len(jobs)} shipped jobs")
    for path in jobs:
        name = os.path.relpath(path, clone)
        p = runner(["validate", name], clone)
        if p.returncode == 0:
            check(p.stdout.rstrip().endswith("ok") and p.stderr == "", f"{name}: ok")
            check(not os.path.exists(os.path.join(clone, "results")),
                  f"{name}: validate creates nothing (a missing results folder is run's to create)")
            continue
        check(p.returncode == 1 and "the job is valid, but" in p.stderr,
              f"{name}: valid, inputs not there yet (rc {p.returncode}): {p.stderr.strip()[:300]}")
        model = model_paths(open(path).read())
        make = re.search(r"`runner make-model --like (\S+) --dtype (\w+) --out (\S+)( --tokenizer (\S+))?`",
                         p.stderr)
        check(f"model.path '{model}'" in p.stderr and make is not None,
              f"{name}: names the missing model {model} and the make-model command: {p.stderr.strip()[:400]}")
        if make:
            check(make.group(1) in known and make.group(3) == model,
                  f"{name}: make-model --like {make.group(1)} (a preset) --out {make.group(3)} (the job's model.path)")
            tok = make.group(5)
            check(tok is None or os.path.exists(os.path.join(clone, tok)),
                  f"{name}: the tokenizer it names exists ({tok})")
        check("[critical]" not in p.stdout and p.stdout.count("\n") >= 2,
              f"{name}: its runs are listed on stdout, the problem on stderr")


def case_missing(tmp):
    spec = os.path.join(tmp, "m.yaml")
    model, data = os.path.join(tmp, "models", "bloom-toy"), os.path.join(tmp, "data.jsonl")
    with open(spec, "w") as f:
        f.write(f"name: m\nmodel:\n  path: {model}\n  tokenizer: {ROOT}/tests/data/tiny-bloom/tokenizer.json\n"
                f"dataset:\n  path: {data}\n  limit: 8\noutput:\n  path: {tmp}/out/m.h5\n")
    p = runner(["validate", spec], tmp)
    check(p.returncode == 1 and f"model.path '{model}' does not exist" in p.stderr
          and f"dataset.path '{data}' does not exist" in p.stderr and "2 input(s)" in p.stderr,
          f"model and dataset named: {p.stderr.strip()[:500]}")
    check("--like PRESET" in p.stderr and "--tokenizer" not in p.stderr,
          "a model folder name that is no preset: --like PRESET, no --tokenizer (the job's is there)")
    check("m: model " + model + " (not there yet)" in p.stdout, f"the run is listed: {p.stdout.strip()}")
    p = runner(["validate", "--json", spec], tmp)
    doc = json.loads(p.stdout) if p.stdout.strip().startswith("{") else {}
    missing = {(m["key"], m["path"]) for m in doc.get("missing", [])}
    check(p.returncode == 1 and doc.get("ready") is False and
          missing == {("model.path", model), ("dataset.path", data)} and
          doc["runs"][0]["model"]["n_layer"] is None,
          f"--json: ready false, the two missing inputs, sizes unknown ({doc.get('missing')})")
    check(doc.get("output", {}).get("folder_to_create") == os.path.join(tmp, "out"),
          "--json: the results folder run will create")
    made = runner(["make-model", "--like", "tiny", "--n-layer", "1", "--dtype", "fp32", "--out", model], tmp)
    shutil.copy(os.path.join(ROOT, "tests/data/lambada/lambada_test.jsonl"), data)
    p = runner(["validate", spec], tmp)
    check(made.returncode == 0 and p.returncode == 0 and p.stdout.rstrip().endswith("ok"),
          f"made and copied: ok ({p.stdout.strip()[-200:]} {p.stderr.strip()[-300:]})")
    check(not os.path.exists(os.path.join(tmp, "out")), "validate did not create the results folder")
    p = runner([spec], tmp)
    check(p.returncode == 0 and os.path.exists(os.path.join(tmp, "out", "m.h5")),
          f"run creates the results folder (rc {p.returncode}: {p.stderr.strip()[-300:]})")


def case_machine(tmp):
    spec = os.path.join(tmp, "g.yaml")
    with open(spec, "w") as f:
        f.write(f"name: g\nmodel:\n  path: {ROOT}/tests/data/tiny-bloom\n  backend: cuda\n"
                f"dataset:\n  path: {ROOT}/tests/data/lambada/lambada_test.jsonl\noutput:\n  path: {tmp}/g.h5\n")
    has_gpu = subprocess.run(["nvidia-smi", "-L"], capture_output=True).returncode == 0 \
        if shutil.which("nvidia-smi") else False
    p = runner(["validate", spec], tmp)
    if has_gpu and p.returncode == 0:
        print("skip machine: this machine has a usable GPU")
        return
    check(p.returncode == 1 and "the job cannot run on this machine" in p.stderr
          and "model.backend cuda:" in p.stderr and not p.stdout.rstrip().endswith("ok"),
          f"backend cuda without a GPU is not ok here: {p.stderr.strip()[:300]}")
    r = runner([spec], tmp)
    check(r.returncode == 1 and "model.backend is cuda, but" in r.stderr and not os.path.exists(f"{tmp}/g.h5"),
          f"run refuses it before creating the results file: {r.stderr.strip()[-300:]}")
    p = runner(["validate", "--no-device-check", spec], tmp)
    check(p.returncode == 0 and p.stdout.rstrip().endswith("ok"), "--no-device-check: ok (for other machines)")


def case_bloom_runs(tmp):
    spec = os.path.join(ROOT, "jobs/quickstart.yaml")
    p = runner(["validate", spec], tmp, env=dict(ENV, BLOOM_RUNS="7"))
    check(p.returncode == 1 and "index 7 is out of range" in p.stderr and "0: quickstart" in p.stderr,
          f"BLOOM_RUNS=7 of a 1-run job refused: {p.stderr.strip()[:300]}")


if __name__ == "__main__":
    for c in (case_shipped_jobs, case_missing, case_machine, case_bloom_runs):
        print(f"--- {c.__name__[5:]}", flush=True)
        with tempfile.TemporaryDirectory(prefix="bloom-validate-") as tmp:
            c(tmp)
    print(f"{len(PASSED)} passed, {len(FAILED)} failed")
    sys.exit(1 if FAILED else 0)

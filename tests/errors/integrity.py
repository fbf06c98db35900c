#!/usr/bin/env python3
"""The integrity of results: resume that checks what it continues, files that cannot be mixed,
damaged or overwrite an input. Every resume here is either refused (non-zero, a message naming
the cause, the file byte-identical) or ends with the results of an uninterrupted run; never a
complete file with wrong or mixed rows, never a crash.

usage: integrity.py RUNNER MPIEXEC [CASE...]        (default: every case)

Cases (tiny-bloom on the LAMBADA passages of tests/errors/faults.py, CPU backend, mpirun):
  mixed_resume   jobs killed (SIGKILL of every rank) at three points, then resumed with one thing
                 changed: model.dtype, another model folder (weights differ), another tokenizer,
                 the dataset with one word changed (lengths kept), batch.size, parallelism.tp.
                 Each is refused naming what changed, the file untouched; the unchanged job then
                 resumes each to the uninterrupted results (one on 1 rank instead of 2: dp is
                 not compared). A complete file resumed for another
                 model is refused too (before: "skipped", and its job_spec rewritten).
  damage         a partial file with 16 bytes flipped at sampled offsets (the superblock, evenly
                 spread offsets, the global heap where the target ids are), and cut short at
                 sampled lengths, each resumed: refused as damaged, or (damage in bytes nothing
                 reads) resumed to the uninterrupted results. No crash, no hang, no wrong row.
  output_input   output.path (with output.overwrite) naming the dataset, a model file, the
                 tokenizer, the job file or a symbolic link to the dataset: refused, every input
                 byte-identical afterwards.
  failed_start   a job that fails before its first batch (a tokenizer whose ids the model lacks)
                 leaves no file: run again, it fails for the same reason, not "already exists".
Ends with "N passed, M failed"; exits 1 on any failure.
"""
import hashlib
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time

import h5py

import faults
from faults import (ENV, MPIEXEC, RUNNER, TINY, Fixture, Job, check, file_state, kill_all,
                    predictions, run_to_end, same_results, write_job)

CRASH_SIGNS = ("Segmentation fault", "core dumped", "AddressSanitizer", "terminate called", "Aborted")


def digest(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def launch(spec, n, timeout=120, env=None):
    t0 = time.time()
    p = subprocess.run([MPIEXEC, "--oversubscribe", "-n", str(n), RUNNER, spec], env=env or ENV,
                       capture_output=True, text=True, timeout=timeout)
    return p.returncode, p.stdout + p.stderr, time.time() - t0


def with_resume(spec, replace=()):
    with open(spec) as f:
        text = f.read()
    for old, new in replace:
        assert old in text, (old, text)
        text = text.replace(old, new)
    if "resume: true" not in text:
        text = text.replace("output:\n", "output:\n  resume: true\n")
    with open(spec, "w") as f:
        f.write(text)
    return spec


def killed_file(fx, name, rows, tp=1, n=2, dataset=None):
    """A results file of a job killed (every rank, SIGKILL) once `rows` rows were done."""
    out = os.path.join(fx.tmp, name + ".h5")
    spec = write_job(fx.tmp, name, out, tp, dataset or fx.dataset)
    job = Job(spec, n)
    check(job.wait_mid_run(out, rows=rows), f"{name}: {rows} rows written before the kill")
    kill_all([job.proc.pid] + job.ranks)
    job.wait(timeout=30)
    state = file_state(out)
    check(state is not None and state[0] == 0 and 0 < state[1] < state[2], f"{name}: killed mid-run ({state})")
    return spec, out


# ---- 11: resume mixes configurations ----------------------------------------------------------

def changed_inputs(fx):
    """(what, replacements in the job file, text the refusal must name): one change each."""
    tmp = fx.tmp
    other_model = os.path.join(tmp, "other-model")
    if not os.path.exists(other_model):
        shutil.copytree(TINY, other_model, ignore=shutil.ignore_patterns("reference*", "*.jsonl", "tokenizer-*"))
        shard = os.path.join(other_model, "model-00003-of-00003.safetensors")
        with open(shard, "r+b") as f:  # every weight of the last shard a little different
            n = struct.unpack("<Q", f.read(8))[0]
            data = bytearray(f.read())
            values = struct.unpack(f"<{len(data) // 4}f", data)
            f.seek(8 + n)
            f.write(struct.pack(f"<{len(values)}f", *[v * 1.001 for v in values]))
    tokenizer = os.path.join(tmp, "other-tokenizer.json")
    with open(os.path.join(TINY, "tokenizer.json")) as f:
        tok = json.load(f)
    tok["model"]["merges"] = tok["model"]["merges"][1:]  # a merge dropped: some words split otherwise
    with open(tokenizer, "w") as f:
        json.dump(tok, f)
    dataset = os.path.join(tmp, "edited.jsonl")
    with open(fx.dataset) as src:
        text = src.read()
    with open(dataset, "w") as dst:
        dst.write(text.replace(" the ", " thy ", 3))  # three words, every length kept
    return [
        ("model.dtype", [("model:\n", "model:\n  dtype: bf16\n")], "model.dtype (file: fp32, job: bf16)"),
        ("model folder", [(f"path: {TINY}", f"path: {other_model}")], "weights (file: '"),
        ("tokenizer", [("model:\n", f"model:\n  tokenizer: {tokenizer}\n")], "tokenizer (file: '"),
        ("dataset", [(f"path: {fx.dataset}", f"path: {dataset}")], "dataset (file: '"),
        ("batch.size", [("size: 16", "size: 8")], "batch.size (file: 16, job: 8)"),
        ("parallelism.tp", [("tp: 1", "tp: 2")], "parallelism.tp (file: 1, job: 2)"),
    ]


def case_mixed_resume(fx):
    changes = changed_inputs(fx)
    for point, rows in (("early", 16), ("middle", 600), ("late", 1400)):
        spec, out = killed_file(fx, f"mixed_{point}", rows)
        before = digest(out)
        for what, replace, named in changes:
            changed = os.path.join(fx.tmp, f"mixed_{point}_changed.yaml")
            shutil.copy(spec, changed)
            rc, text, took = launch(with_resume(changed, replace), 2)
            check(rc != 0 and "cannot resume results file" in text and named in text,
                  f"mixed_resume {point}: resume with another {what} refused naming it (rc {rc}, {took:.1f} s)")
            if named not in text:
                print(text[-2000:])
            check(digest(out) == before and not os.path.exists(out + ".lock"),
                  f"mixed_resume {point}: the file is untouched after the refusal ({what})")
        ranks = 1 if point == "early" else 2  # dp 2 -> 1: another number of groups, the same batches
        p = run_to_end(with_resume(spec), ranks)
        state = file_state(out)
        check(p.returncode == 0 and state is not None and state[0] == 1 and "resuming with" in p.stdout,
              f"mixed_resume {point}: the unchanged job resumes to the end on {ranks} rank(s) ({state})")
        if state and state[0] == 1:
            check(same_results(predictions(out), fx.clean_run(1)), f"mixed_resume {point}: results == uninterrupted run")
    # A complete file, resumed by a job for another model: refused, job_spec and bytes kept.
    before = digest(out)
    with h5py.File(out, "r") as f:
        job_spec = f.attrs["job_spec"]
    changed = os.path.join(fx.tmp, "mixed_complete.yaml")
    shutil.copy(spec, changed)
    rc, text, _ = launch(with_resume(changed, changes[1][1]), 2)
    check(rc != 0 and "run 'run' (complete): weights" in text, "mixed_resume: a complete file is not 'skipped' for another model")
    with h5py.File(out, "r") as f:
        check(f.attrs["job_spec"] == job_spec and digest(out) == before, "mixed_resume: its job_spec and bytes are kept")


# ---- 12, 18: resume trusts nothing it has not verified -----------------------------------------

def case_damage(fx):
    dataset = os.path.join(fx.tmp, "lambada-300.jsonl")
    with open(fx.dataset) as src, open(dataset, "w") as dst:
        dst.writelines(src.readlines()[:300])
    clean_out = os.path.join(fx.tmp, "damage_clean.h5")
    p = run_to_end(write_job(fx.tmp, "damage_clean", clean_out, 1, dataset), 1)
    check(p.returncode == 0, "damage: clean run")
    clean = predictions(clean_out)
    spec, out = killed_file(fx, "damage", rows=100, n=1, dataset=dataset)
    with_resume(spec)
    with open(out, "rb") as f:
        data = f.read()
    # Offsets: the superblock, 20 spread evenly, and 4 in the global heap (two target ids).
    offsets = [0] + [int(i * len(data) / 20) for i in range(1, 20)]
    with h5py.File(out, "r") as f:
        g = f["runs/run/predictions"]
        done = g["done"][()]
        pairs = [tuple(int(x) for x in g["target_ids"][i][:2]) for i in range(len(done))
                 if done[i] and len(g["target_ids"][i]) >= 2]
    for pair in pairs[:4]:
        at = data.find(struct.pack("<2i", *pair))
        if at > 0:
            offsets.append(at)
    trial = os.path.join(fx.tmp, "damage_trial.h5")
    spec_trial = os.path.join(fx.tmp, "damage_trial.yaml")
    with open(spec) as f:
        text = f.read().replace(out, trial)
    with open(spec_trial, "w") as f:
        f.write(text)
    outcomes = {"refused": 0, "identical": 0}
    # Some damage makes HDF5 1.10 loop forever; the runner's read of the file gives up after
    # BLOOM_VERIFY_TIMEOUT_S (default 30 s): 10 s here, and the launch must end well within that
    # plus start-up and teardown.
    limit = 10
    env = dict(ENV, BLOOM_VERIFY_TIMEOUT_S=str(limit))
    trials = [("flip", o) for o in offsets] + [("cut", int(len(data) * q)) for q in (0.1, 0.5, 0.9, 0.99)]
    t0 = time.time()
    for kind, at in trials:
        damaged = bytearray(data)
        if kind == "flip":
            for i in range(at, min(at + 16, len(damaged))):
                damaged[i] ^= 0xFF
        else:
            del damaged[at:]
        with open(trial, "wb") as f:
            f.write(damaged)
        for extra in (".lock", ".partial"):
            if os.path.exists(trial + extra):
                os.remove(trial + extra)
        before = digest(trial)
        rc, said, took = launch(spec_trial, 1, env=env)
        crashed = [s for s in CRASH_SIGNS if s in said]
        check(not crashed and took < limit + 20, f"damage: {kind} at {at}: no crash, ended in {took:.1f} s {crashed}")
        if rc == 0:
            state = file_state(trial)
            good = state is not None and state[0] == 1 and same_results(predictions(trial), clean)
            check(good, f"damage: {kind} at {at}: resumed, so the results must equal the clean run ({state})")
            outcomes["identical"] += good
        else:
            clear = any(t in said for t in ("is damaged", "not an HDF5 file", "cannot be verified",
                                             "not a bloom-eval results file", "cannot open results file"))
            check(clear and digest(trial) == before,
                  f"damage: {kind} at {at}: refused saying the file is damaged, file untouched")
            if not clear:
                print(said[-1500:])
            outcomes["refused"] += 1
    print(f"     damage: {len(trials)} trials in {time.time() - t0:.0f} s: {outcomes}")


# ---- 16: the output can destroy an input -------------------------------------------------------

def case_output_input(fx):
    model = os.path.join(fx.tmp, "oi-model")
    if not os.path.exists(model):
        shutil.copytree(TINY, model, ignore=shutil.ignore_patterns("reference*", "*.jsonl", "tokenizer-*"))
    dataset = os.path.join(fx.tmp, "oi-data.jsonl")
    shutil.copy(fx.dataset, dataset)
    link = os.path.join(fx.tmp, "oi-link.h5")
    if not os.path.lexists(link):
        os.symlink(dataset, link)
    spec = os.path.join(fx.tmp, "oi.yaml")
    targets = [("dataset", dataset), ("model file", os.path.join(model, "model-00002-of-00003.safetensors")),
               ("tokenizer", os.path.join(model, "tokenizer.json")), ("job file", spec),
               ("link to the dataset", link)]
    inputs = [dataset, spec] + [os.path.join(model, f) for f in os.listdir(model)]
    for what, out in targets:
        write_job(fx.tmp, "oi", out, 1, dataset)
        with open(spec) as f:
            text = f.read().replace(f"path: {TINY}", f"path: {model}")
        with open(spec, "w") as f:
            f.write(text.replace("output:\n", "output:\n  overwrite: true\n"))
        before = {p: digest(p) for p in inputs}
        rc, said, _ = launch(spec, 1, timeout=60)
        check(rc != 0 and "would overwrite an input of the job" in said, f"output_input: output = the {what}: refused")
        check(all(digest(p) == h for p, h in before.items()), f"output_input: output = the {what}: every input byte-identical")


# ---- 3: a failed start blocks nothing ----------------------------------------------------------

def case_failed_start(fx):
    out = os.path.join(fx.tmp, "failed_start.h5")
    spec = write_job(fx.tmp, "failed_start", out, 1, fx.dataset,
                     tokenizer=os.path.join(faults.ROOT, "tests/data/bloom-style-50k/tokenizer.json"))
    for attempt in (1, 2):
        rc, said, _ = launch(spec, 2)
        check(rc != 0 and "outside the model's vocab" in said and "already exists" not in said,
              f"failed_start: attempt {attempt} fails for its own reason, not 'already exists'")
        # (a partial file may be left when another rank's abort kills rank 0 first: the next
        # attempt removes it)
        check(not os.path.exists(out), f"failed_start: attempt {attempt} leaves no results file")


CASES = ["mixed_resume", "damage", "output_input", "failed_start"]

if __name__ == "__main__":
    chosen = sys.argv[3:] or CASES
    t0 = time.time()
    with tempfile.TemporaryDirectory(prefix="bloom-integrity-") as tmp:
        fx = Fixture(tmp)
        for c in chosen:
            print(f"--- {c}", flush=True)
            globals()["case_" + c](fx)
    print(f"integrity ({', '.join(chosen)}) in {time.time() - t0:.0f} s")
    print(f"{len(faults.PASSED)} passed, {len(faults.FAILED)} failed"
          + ("" if not faults.FAILED else ": " + "; ".join(faults.FAILED)))
    sys.exit(1 if faults.FAILED else 0)

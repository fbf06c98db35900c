#!/usr/bin/env python3
"""End-to-end tests of the runner (CTest runs each case as its own test).

usage: test_end_to_end.py RUNNER MPIEXEC CASE

Cases:
  reference   the runner on the 256 passages of tiny-bloom's lambada_reference.jsonl (HF
              transformers, float64): predicted_ids where HF's margin > 1e-3, correct,
              target_logprob within 1e-3; the schema of the results file. Then the trained
              fixture (a model that gets half of LAMBADA right) on 1024 passages: n_correct,
              the accuracy attribute and every `correct` row = HF's.
  layouts     (tp, dp) in (1,1) (2,1) (3,1) (1,2) (2,2) (1,4) over mpirun: identical
              predicted_ids (margin > 1e-3) and correct, target_logprob within 1e-4, each
              also checked against HF's reference; the trained fixture in (tp, dp) (1,1) (2,1)
              (4,1) (1,2) (2,2) (1,4) (its 8 heads) on 256 passages: correct rows = HF's.
  sweep       a sweep of 4 points lands in one file, one group per point, same answers.
  resume      a 2-rank job killed with SIGKILL mid-run, restarted with output.resume, ends
              with the results of an uninterrupted run; an existing file without resume is
              refused and left untouched.
  abort       a job whose rank dies (SIGKILL of one rank) exits non-zero within 30 s.
  validate    `runner validate` accepts a good job and rejects a bad layout clearly; its --json
              document (what slurm/ reads) describes the runs, BLOOM_RUNS applied, and says
              nothing on stdout when the job is bad; `runner --version` is the version it reports.
  log_prefix  every rank's log lines carry its own dp and tp once the layout is known: a rank
              of tp 2 x dp 2 that cannot open its tokenizer says so as "[r2 dp1 tp0]".
  max_tokens  dataset.max_tokens: the passages HF's tokenizers makes longer are cut to their
              last tokens (target kept), counted in the run attributes, scored as HF
              transformers (float64) scores the cut sequence; a passage past 2048 tokens is
              warned about; /dev/stdin as the dataset (read twice by a run) gives the rows of
              the file itself.
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
TRAINED = os.path.join(ROOT, "tests/data/trained-bloom")
LAMBADA = os.path.join(ROOT, "tests/data/lambada/lambada_test.jsonl")
RUNNER, MPIEXEC = sys.argv[1], sys.argv[2]
ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
           OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
FAILED = []


def check(cond, msg):
    print(("ok   " if cond else "FAIL ") + msg, flush=True)
    if not cond:
        FAILED.append(msg)


def job(tmp, name, out, limit=256, extra="", model=TINY):
    path = os.path.join(tmp, name + ".yaml")
    with open(path, "w") as f:
        f.write(f"""name: {name}
model:
  path: {model}
dataset:
  path: {LAMBADA}
  limit: {limit}
batch:
  size: 16
  max_tokens: 1024
output:
  path: {out}
{extra}""")
    return path


def run(args, n=1, timeout=600, check_rc=True):
    cmd = [RUNNER] + args if n == 1 else [MPIEXEC, "--oversubscribe", "-n", str(n), RUNNER] + args
    p = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=timeout)
    if check_rc and p.returncode != 0:
        print(p.stdout[-3000:], p.stderr[-3000:])
    return p


def reference(model=TINY):
    return [json.loads(l) for l in open(os.path.join(model, "lambada_reference.jsonl"))]


def check_trained(out, run, n, what):
    """The trained fixture: n_correct, the accuracy attribute and every correct row = HF's."""
    ref = reference(TRAINED)[:n]
    with h5py.File(out, "r") as f:
        a = f["runs"][run].attrs
        correct = f["runs"][run]["predictions/correct"][()]
        n_correct, accuracy = int(a["n_correct"]), float(a["accuracy"])
    want = sum(r["correct"] for r in ref)
    check(len(correct) == n and all(bool(c) == r["correct"] for c, r in zip(correct, ref)),
          f"{what}: every correct row = HF's")
    check(n_correct == want and accuracy == want / n, f"{what}: n_correct {n_correct} = HF's {want}, accuracy {want}/{n}")


def predictions(path, run):
    g = h5py.File(path, "r")["runs"][run]["predictions"]
    return {k: g[k][()] for k in g.keys()}


def compare_to_reference(pred, what):
    ref = reference()
    n = len(pred["index"])
    check(list(pred["index"]) == list(range(n)), f"{what}: rows in dataset order")
    lp = np.array([r["target_logprob"] for r in ref[:n]])
    err = np.abs(pred["target_logprob"] - lp).max()
    check(err < 1e-3, f"{what}: max |target_logprob - HF| = {err:.2e} < 1e-3")
    check(all(bool(pred["correct"][i]) == ref[i]["correct"] for i in range(n)), f"{what}: correct == HF")
    same = [list(pred["predicted_ids"][i]) == ref[i]["teacher_forced_argmax"]
            for i in range(n) if ref[i]["first_margin"] > 1e-3]
    check(all(same) and len(same) > 0.9 * n, f"{what}: predicted_ids == HF argmax on {sum(same)}/{len(same)} passages")


def case_reference(tmp):
    out = os.path.join(tmp, "ref.h5")
    p = run([job(tmp, "ref", out)])
    check(p.returncode == 0, "runner exits 0")
    check("accuracy" in p.stdout and out in p.stdout, "prints accuracy and the results path")
    f = h5py.File(out, "r")
    check(f.attrs["schema"] == "bloom-eval/2", "schema attribute")
    check(int(f.attrs["complete"]) == 1, "file marked complete")
    check("name: ref" in f.attrs["job_spec"], "job spec stored")
    r = f["runs/ref"]
    for k in ["accuracy", "n_correct", "n_examples", "token_perplexity", "model", "dtype", "backend",
              "batch_size", "tp", "dp", "load_seconds", "tokenize_seconds", "evaluate_seconds",
              "wall_seconds", "tokens_per_second"]:
        check(k in r.attrs, f"run attribute {k}")
    pred = predictions(out, "ref")
    compare_to_reference(pred, "tp1 dp1")
    n_correct = int(pred["correct"].sum())
    check(int(r.attrs["n_correct"]) == n_correct and r.attrs["n_examples"] == 256, "n_correct/n_examples agree with rows")
    ppl = np.exp(-pred["target_logprob"].sum() / pred["target_len"].sum())
    check(abs(r.attrs["token_perplexity"] - ppl) < 1e-6 * ppl, "token_perplexity = exp(-sum logprob / target tokens)")
    check(len(r["timings/batch"]) >= 256 // 16, "per-batch timings")
    out = os.path.join(tmp, "trained.h5")
    p = run([job(tmp, "trained", out, limit=1024, model=TRAINED)])
    check(p.returncode == 0, "trained fixture: exit 0")
    check_trained(out, "trained", 1024, "trained fixture, 1024 passages")


LAYOUTS = [(1, 1), (2, 1), (3, 1), (1, 2), (2, 2), (1, 4)]


def case_layouts(tmp):
    results = {}
    for tp, dp in LAYOUTS:
        out = os.path.join(tmp, f"tp{tp}dp{dp}.h5")
        p = run([job(tmp, f"tp{tp}dp{dp}", out, extra=f"parallelism:\n  tp: {tp}\n")], n=tp * dp)
        check(p.returncode == 0, f"tp {tp} dp {dp}: exit 0")
        if p.returncode == 0:
            results[(tp, dp)] = predictions(out, f"tp{tp}dp{dp}")
            compare_to_reference(results[(tp, dp)], f"tp {tp} dp {dp}")
    for tp, dp in [(1, 1), (2, 1), (4, 1), (1, 2), (2, 2), (1, 4)]:
        out = os.path.join(tmp, f"trained-tp{tp}dp{dp}.h5")
        p = run([job(tmp, f"trained-tp{tp}dp{dp}", out, model=TRAINED, extra=f"parallelism:\n  tp: {tp}\n")],
                n=tp * dp)
        check(p.returncode == 0, f"trained fixture, tp {tp} dp {dp}: exit 0")
        if p.returncode == 0:
            check_trained(out, f"trained-tp{tp}dp{dp}", 256, f"trained fixture, tp {tp} dp {dp}")
    base = results.get((1, 1))
    ref = reference()
    for key, pred in results.items():
        if base is None or key == (1, 1):
            continue
        d = np.abs(pred["target_logprob"] - base["target_logprob"]).max()
        check(d < 1e-4, f"tp {key[0]} dp {key[1]} vs tp 1 dp 1: max logprob diff {d:.2e} < 1e-4")
        check((pred["correct"] == base["correct"]).all(), f"tp {key[0]} dp {key[1]}: same correct")
        same = all(list(pred["predicted_ids"][i]) == list(base["predicted_ids"][i])
                   for i in range(len(ref)) if ref[i]["first_margin"] > 1e-3)
        check(same, f"tp {key[0]} dp {key[1]}: same predicted_ids")


def case_sweep(tmp):
    out = os.path.join(tmp, "sweep.h5")
    p = run([job(tmp, "sw", out, limit=64,
                 extra="sweep:\n  parallelism.tp: [1, 2]\n  batch.size: [4, 32]\n")], n=2)
    check(p.returncode == 0, "sweep exits 0")
    f = h5py.File(out, "r")
    names = sorted(f["runs"].keys())
    check(names == sorted(["tp=1,size=4", "tp=1,size=32", "tp=2,size=4", "tp=2,size=32"]), f"one group per point: {names}")
    first = predictions(out, names[0])
    for n in names:
        r = f["runs"][n]
        check(int(r.attrs["complete"]) == 1 and r.attrs["n_examples"] == 64, f"{n} complete")
        d = np.abs(predictions(out, n)["target_logprob"] - first["target_logprob"]).max()
        check(d < 1e-4, f"{n}: same logprobs as {names[0]} ({d:.1e})")
    check(int(f["runs/tp=2,size=4"].attrs["tp"]) == 2 and int(f["runs/tp=1,size=32"].attrs["dp"]) == 2,
          "layout attributes (tp 2 x dp 1, tp 1 x dp 2)")


N_RESUME = 5153


def case_resume(tmp):
    clean = os.path.join(tmp, "clean.h5")
    extra = "parallelism:\n  tp: 2\n"
    p = run([job(tmp, "clean", clean, limit=N_RESUME, extra=extra)], n=2)
    check(p.returncode == 0, "clean run exits 0")
    # The same job, killed mid-run.
    out = os.path.join(tmp, "killed.h5")
    spec = job(tmp, "killed", out, limit=N_RESUME, extra=extra + "  dp: 1\n")
    proc = subprocess.Popen([MPIEXEC, "--oversubscribe", "-n", "2", RUNNER, spec], env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    time.sleep(float(os.environ.get("BLOOM_TEST_KILL_AFTER", "3")))
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    # mpirun's ranks run in process groups of their own: SIGKILL of mpirun orphans them.
    subprocess.run(["pkill", "-9", "-f", spec])
    for _ in range(100):  # until every rank is gone (and its file lock with it)
        left = subprocess.run(["pgrep", "-f", spec], capture_output=True, text=True).stdout.split()
        if not left:
            break
        subprocess.run(["kill", "-9"] + left)
        time.sleep(0.1)
    for attempt in range(50):  # a killed process may release its file lock a moment late
        try:
            with h5py.File(out, "r") as f:
                done = int(f["runs/killed/predictions/done"][()].sum())
                complete = int(f.attrs["complete"])
            break
        except BlockingIOError:
            time.sleep(0.2)
    check(0 < done < N_RESUME and complete == 0, f"killed mid-run: {done}/{N_RESUME} rows done, complete=0")
    # Without resume the file is refused and left as it was.
    before = os.path.getmtime(out)
    p = run([spec], n=2, check_rc=False)
    check(p.returncode != 0 and "exists" in (p.stdout + p.stderr), "existing file refused without resume")
    check(os.path.getmtime(out) == before, "refused file untouched")
    text = open(spec).read().replace("output:\n", "output:\n  resume: true\n")
    with open(spec, "w") as f:
        f.write(text)
    p = run([spec], n=2)
    check(p.returncode == 0 and "resuming with" in p.stdout, "resumed run exits 0 and says it resumed")
    a, b = predictions(clean, "clean"), predictions(out, "killed")
    for k in ["index", "correct", "target_logprob", "context_len", "target_len"]:
        check(np.array_equal(a[k], b[k]), f"resumed == clean: {k}")
    check(all(np.array_equal(x, y) for x, y in zip(a["predicted_ids"], b["predicted_ids"])), "resumed == clean: predicted_ids")
    check(int(h5py.File(out, "r").attrs["complete"]) == 1, "resumed file complete")


def case_abort(tmp):
    out = os.path.join(tmp, "abort.h5")
    spec = job(tmp, "abort", out, limit=5153, extra="parallelism:\n  tp: 1\n")
    t0 = time.time()
    proc = subprocess.Popen([MPIEXEC, "--oversubscribe", "-n", "3", RUNNER, spec], env=ENV,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    # Mid-run: the file appears with its first finished batch (the whole job takes seconds).
    while not os.path.exists(out) and proc.poll() is None and time.time() - t0 < 60:
        time.sleep(0.02)
    victims = subprocess.run(["pgrep", "-f", f"{RUNNER} {spec}"], capture_output=True, text=True).stdout.split()
    victims = [v for v in victims if int(v) != proc.pid]
    check(len(victims) == 3, f"3 ranks running ({len(victims)})")
    if victims:
        os.kill(int(victims[-1]), signal.SIGKILL)
    try:
        proc.wait(timeout=30)
        rc = proc.returncode
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        rc = None
    took = time.time() - t0
    check(rc is not None and rc != 0, f"job ends non-zero ({rc}) within 30 s ({took:.1f} s)")
    time.sleep(1)
    left = subprocess.run(["pgrep", "-f", f"{RUNNER} {spec}"], capture_output=True, text=True).stdout.split()
    check(not left, "no rank left running")
    with h5py.File(out, "r") as f:
        check(int(f.attrs["complete"]) == 0, "results file marked incomplete")


def case_validate(tmp):
    good = job(tmp, "v", os.path.join(tmp, "v.h5"), extra="sweep:\n  parallelism.tp: [1, 2, 3]\n")
    p = run(["validate", good])
    check(p.returncode == 0 and p.stdout.count("tp ") >= 3, "validate lists 3 runs")
    bad = job(tmp, "b", os.path.join(tmp, "b.h5"), extra="parallelism:\n  tp: 4\n")
    p = run(["validate", bad], check_rc=False)
    msg = p.stdout + p.stderr
    check(p.returncode != 0 and "tp = 4 does not divide the model's 6 attention heads" in msg, "bad tp rejected: " + msg.strip()[-200:])
    bad = job(tmp, "c", os.path.join(tmp, "c.h5"), extra="parallelism:\n  tp: 2\n  dp: 3\n")
    p = run(["validate", bad, "--world", "4"], check_rc=False)
    check(p.returncode != 0 and "parallelism.dp = 3" in p.stdout + p.stderr, "bad dp rejected")
    p = run(["validate", job(tmp, "d", os.path.join(tmp, "new", "dir", "out.h5"))], check_rc=False)
    check(p.returncode == 0 and "(run creates the folder " + os.path.join(tmp, "new", "dir") + ")" in p.stdout
          and not os.path.exists(os.path.join(tmp, "new")),
          "a missing output folder is one run creates: named, not created by validate")
    p = run(["validate", job(tmp, "f", os.path.join(bad, "out.h5"))], check_rc=False)
    check(p.returncode == 1 and "is not a directory" in p.stderr, "an output folder under a file rejected")
    validate_json(tmp, good)


def validate_json(tmp, good):
    p = run(["validate", good, "--json", "--world", "6"])
    doc = json.loads(p.stdout) if p.returncode == 0 else {}
    runs = doc.get("runs", [])
    check([r["name"] for r in runs] == ["tp=1", "tp=2", "tp=3"], f"--json: the 3 runs by name ({p.stdout[:200]})")
    check([(r["layout"]["tp"], r["layout"]["dp"], r["layout"]["world"]) for r in runs] == [(1, 6, 6), (2, 3, 6), (3, 2, 6)],
          "--json: each run's layout on 6 ranks")
    check(doc.get("output", {}).get("path") == os.path.join(tmp, "v.h5") and doc.get("n_job_runs") == 3,
          "--json: the results file and the job's run count")
    m = runs[0]["model"] if runs else {}
    check((m.get("path"), m.get("n_layer"), m.get("hidden"), m.get("n_head")) == (TINY, 3, 96, 6),
          f"--json: the model and its config.json: {m}")
    check(runs and runs[0]["dataset"]["passages"] == 256 and runs[0]["batch"] == {"size": 16, "max_tokens": 1024},
          "--json: dataset passages and batching")
    p = subprocess.run([RUNNER, "validate", good, "--json"], env=dict(ENV, BLOOM_RUNS="2"), capture_output=True, text=True)
    doc = json.loads(p.stdout) if p.returncode == 0 else {}
    check([(r["index"], r["name"]) for r in doc.get("runs", [])] == [(2, "tp=3")] and doc.get("run_selector") == "2",
          "--json with BLOOM_RUNS=2: only run 2, with its index in the whole job")
    bad = job(tmp, "e", os.path.join(tmp, "e.h5"), extra="parallelism:\n  tp: 4\n")
    p = run(["validate", bad, "--json"], check_rc=False)
    check(p.returncode != 0 and p.stdout == "" and "does not divide" in p.stderr,
          "--json of a bad job: non-zero, nothing on stdout, the error on stderr")
    version = run(["--version"]).stdout.strip()
    check(version != "" and version == json.loads(run(["validate", good, "--json"]).stdout)["runner_version"],
          f"runner --version ({version}) is the version validate --json reports")


def case_log_prefix(tmp):
    # Ranks 0, 1 and 3 get a tokenizer; rank 2's is missing (rank 0's preflight sees only its own).
    for r in (0, 1, 3):
        shutil.copy(os.path.join(TINY, "tokenizer.json"), os.path.join(tmp, f"tok-{r}.json"))
    spec = job(tmp, "prefix", os.path.join(tmp, "prefix.h5"), limit=64,
               extra="parallelism:\n  tp: 2\n")
    text = open(spec).read().replace("model:\n", "model:\n  tokenizer: " + tmp + "/tok-${OMPI_COMM_WORLD_RANK}.json\n")
    with open(spec, "w") as f:
        f.write(text)
    p = run([spec], n=4, check_rc=False)
    out = p.stdout + p.stderr
    check(p.returncode != 0, "a rank without its tokenizer fails the job")
    check("[r2 dp1 tp0] [critical]" in out and "tok-2.json" in out,
          "rank 2 (tp 2 x dp 2) logs as [r2 dp1 tp0]: " + out.strip()[-300:])
    check("rank 2 on" in out, "the message names rank 2 as its origin")


def case_max_tokens(tmp):
    import torch
    from tokenizers import Tokenizer
    from transformers import BloomForCausalLM
    cap = 96  # about half of these 40 LAMBADA passages are longer (68-148 tiny-bloom tokens)
    lines = open(LAMBADA).read().splitlines()
    data = os.path.join(tmp, "d.jsonl")
    with open(data, "w") as f:
        f.write(json.dumps({"text": " ".join(json.loads(l)["text"] for l in lines[:30])}) + "\n")
        f.write("\n".join(lines[:40]) + "\n")
    whole = job(tmp, "whole", os.path.join(tmp, "whole.h5"), limit=41)
    text = open(whole).read()
    open(whole, "w").write(text.replace(LAMBADA, data))
    p = run([whole])
    check(p.returncode == 0 and "1 passage(s) are longer than the 2048 tokens BLOOM was trained on"
          in p.stderr and "dataset.max_tokens: 2048" in p.stderr,
          f"without a cut, the passage past 2048 tokens is warned about: {p.stderr.strip()[:300]}")
    out = os.path.join(tmp, "cut.h5")
    spec = job(tmp, "cut", out, limit=41)
    text = open(spec).read().replace("  limit: 41\n", f"  limit: 41\n  max_tokens: {cap}\n")
    open(spec, "w").write(text.replace(LAMBADA, data))
    p = run([spec])
    check(p.returncode == 0 and "BLOOM was trained on" not in p.stderr and
          f"dataset.max_tokens {cap} cut the start of the context of" in p.stdout,
          f"with the cut: no warning, the cut reported ({p.stdout.strip()[-300:]})")
    tok = Tokenizer.from_file(os.path.join(TINY, "tokenizer.json"))
    want = []  # (context ids kept, target ids) as the reference splits and cuts
    for l in open(data).read().splitlines():
        context, word = json.loads(l)["text"].rstrip("\n").rsplit(" ", 1)
        c = tok.encode(context, add_special_tokens=False).ids
        t = tok.encode(" " + word, add_special_tokens=False).ids
        want.append((c[-max(1, cap - len(t)):] if len(c) + len(t) > cap else c, t, len(c) + len(t) > cap))
    r = h5py.File(out, "r")["runs/cut"]
    n_cut = sum(w[2] for w in want)
    check(r.attrs["dataset_max_tokens"] == cap and r.attrs["n_passages_cut"] == n_cut and 5 <= n_cut <= 36,
          f"run attributes: dataset_max_tokens {r.attrs['dataset_max_tokens']}, n_passages_cut "
          f"{r.attrs['n_passages_cut']} (HF's tokenizer: {n_cut} passages over {cap} tokens)")
    pred = predictions(out, "cut")
    check(list(pred["context_len"]) == [len(w[0]) for w in want], "context_len: what was kept of each context")
    model = BloomForCausalLM.from_pretrained(TINY, torch_dtype=torch.float64).eval()
    err = 0.0
    for i, (c, t, cut) in enumerate(want):
        if not cut:
            continue
        ids = torch.tensor([c + t])
        with torch.no_grad():
            logp = torch.log_softmax(model(ids).logits[0], dim=-1)
        lp = sum(float(logp[len(c) - 1 + j, t[j]]) for j in range(len(t)))
        err = max(err, abs(lp - float(pred["target_logprob"][i])))
    check(err < 1e-3, f"cut passages score as HF transformers scores the cut sequence (max |diff| {err:.2e})")
    # /dev/stdin: one process reads it once and keeps it (the preflight count and the run).
    out2 = os.path.join(tmp, "stdin.h5")
    spec2 = os.path.join(tmp, "stdin.yaml")
    open(spec2, "w").write(open(spec).read().replace(data, "/dev/stdin").replace(out, out2))
    with open(data) as f:
        p = subprocess.run([RUNNER, spec2], env=ENV, stdin=f, capture_output=True, text=True, timeout=600)
    same = p.returncode == 0 and all(np.array_equal(predictions(out2, "cut")[k], pred[k])
                                     for k in ("correct", "target_logprob", "context_len"))
    check(same, f"dataset /dev/stdin gives the rows of the file (rc {p.returncode}: {p.stderr.strip()[-200:]})")


if __name__ == "__main__":
    case = sys.argv[3]
    with tempfile.TemporaryDirectory() as tmp:
        globals()["case_" + case](tmp)
    print(f"{case}: {'FAILED: ' + '; '.join(FAILED) if FAILED else 'all checks passed'}")
    sys.exit(1 if FAILED else 0)

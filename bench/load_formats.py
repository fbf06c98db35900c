#!/usr/bin/env python3
"""Load time of one checkpoint in each format the runner reads, in one process tree.

usage: load_formats.py --runner RUNNER --model HF_DIR --work DIR [--backend cuda] [--dtype fp16]
                       [--threads 4,16] [--ranks 1,2] [--repeat 2] [--limit 8]

From HF_DIR (make-model's safetensors output) it writes, into DIR:
  bin/  the same tensors as two torch.save shards split like the hub's bloom-7b1 files (~71% of
        the bytes in the first: 9.98 + 4.14 GB there), names without `transformer.` (as the
        bigscience files), pytorch_model.bin.index.json; written by torch.save
  ft/   a FasterTransformer -tp 8 folder (the largest of 8, 4, 2, 1 dividing the heads), by
        bench/write_ft_folder.py (FT's documented layout)
then runs the runner on each format (a job of --limit passages: load + a few batches), --repeat
times per --threads value, formats interleaved, and prints per format the runner's own load
seconds and GB/s (its "loaded" line: weights in the compute dtype per rank) and the process's
peak host RSS (wait4). --ranks 1,2 also runs each load as 2 data-parallel ranks on this node
(mpirun -n 2, each rank loads the whole model, each reads with its own threads: --threads per
rank): the runner's time is the slowest rank's, so the node's rate is ranks x GB per rank / s.
On the cuda backend each rank needs its own GPU. Ends by checking that every load gave identical
results.
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time

import h5py
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
LAMBADA = os.path.join(ROOT, "tests/data/lambada/lambada_test.jsonl")
LOADED = re.compile(r"loaded \S+ \((\w+), .*: ([\d.]+) GB per rank in ([\d.]+) s \(([\d.]+) GB/s\)")


def stamp(msg):
    print(f"== {time.strftime('%H:%M:%S')} {msg}", flush=True)


def write_bin(hf_dir, out):
    import torch
    from safetensors.torch import load_file
    os.makedirs(out, exist_ok=True)
    index = os.path.join(hf_dir, "model.safetensors.index.json")
    files = sorted(set(json.load(open(index))["weight_map"].values())) if os.path.exists(index) \
        else ["model.safetensors"]
    sd = {}
    for f in files:
        sd.update(load_file(os.path.join(hf_dir, f)))
    sd = {k[len("transformer."):] if k.startswith("transformer.") else k: v for k, v in sd.items()}
    total = sum(v.numel() * v.element_size() for v in sd.values())
    shards, acc = [{}, {}], 0
    for k, v in sd.items():  # state_dict order; the first shard takes ~71% of the bytes
        shards[0 if acc < 0.71 * total else 1][k] = v
        acc += v.numel() * v.element_size()
    weight_map = {}
    for i, shard in enumerate(shards):
        name = f"pytorch_model-{i + 1:05d}-of-00002.bin"
        torch.save(shard, os.path.join(out, name))
        weight_map.update({k: name for k in shard})
        print(f"  {name}: {os.path.getsize(os.path.join(out, name)) / 1e9:.2f} GB", flush=True)
    with open(os.path.join(out, "pytorch_model.bin.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=2)
    for f in ("config.json", "tokenizer.json"):
        if os.path.exists(os.path.join(hf_dir, f)):
            shutil.copy(os.path.join(hf_dir, f), out)


def run_one(a, fmt, path, threads, ranks, tag):
    out = os.path.join(a.work, f"{tag}.h5")
    job = os.path.join(a.work, f"{tag}.yaml")
    with open(job, "w") as f:
        f.write(f"""name: {tag}
model:
  path: {path}
  format: {fmt}
  tokenizer: {a.tokenizer}
  dtype: {a.dtype}
  backend: {a.backend}
dataset:
  path: {LAMBADA}
  limit: {a.limit}
load:
  threads: {threads}
output:
  path: {out}
  overwrite: true
""")
    cmd = [a.runner, job] if ranks == 1 else [a.mpiexec, "--oversubscribe", "-n", str(ranks), a.runner, job]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    text = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    m = LOADED.search(text)
    if proc.returncode != 0 or not m:
        print(text[-3000:])
        sys.exit(f"{tag}: runner failed (rc {proc.returncode})")
    return {"gb": float(m.group(2)), "s": float(m.group(3)), "gbs": float(m.group(4)),
            "node_gbs": ranks * float(m.group(4)), "rss_gb": usage.ru_maxrss * 1024 / 1e9,
            "out": out, "tag": tag}


def predictions(r):
    with h5py.File(r["out"], "r") as f:
        g = f["runs"][r["tag"]]["predictions"]
        return g["target_logprob"][()], [list(x) for x in g["predicted_ids"][()]]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runner", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--tokenizer", default=os.path.join(ROOT, "tests/data/bloom-style-50k/tokenizer.json"))
    ap.add_argument("--backend", default="cuda")
    ap.add_argument("--dtype", default="fp16")
    ap.add_argument("--threads", default="4,16")
    ap.add_argument("--ranks", default="1", help="ranks per load, e.g. 1,2 (mpirun, one node)")
    ap.add_argument("--mpiexec", default="mpirun")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--limit", type=int, default=8)
    a = ap.parse_args()
    os.makedirs(a.work, exist_ok=True)
    paths = {"safetensors": a.model, "bin": os.path.join(a.work, "bin"), "ft": os.path.join(a.work, "ft")}
    n_head = json.load(open(os.path.join(a.model, "config.json")))["n_head"]
    ft_tp = max(t for t in (8, 4, 2, 1) if n_head % t == 0)  # 8 for bloom-7b1
    if not os.path.exists(os.path.join(paths["bin"], "pytorch_model.bin.index.json")):
        stamp("writing .bin shards with torch.save")
        t0 = time.time()
        write_bin(a.model, paths["bin"])
        print(f"  {time.time() - t0:.1f} s", flush=True)
    if not os.path.exists(os.path.join(paths["ft"], f"{ft_tp}-gpu", "config.ini")):
        stamp(f"writing the FT -tp {ft_tp} folder")
        t0 = time.time()
        subprocess.run([sys.executable, os.path.join(HERE, "write_ft_folder.py"), a.model, paths["ft"],
                        "--tp", str(ft_tp), "--threads", str(min(16, os.cpu_count() or 1))], check=True)
        print(f"  {time.time() - t0:.1f} s", flush=True)
    results = {}
    for ranks in [int(n) for n in a.ranks.split(",")]:
        for threads in [int(t) for t in a.threads.split(",")]:
            for rep in range(a.repeat):
                for fmt in paths:
                    stamp(f"load {fmt}, {ranks} rank(s), {threads} reader threads each, run {rep + 1}")
                    r = run_one(a, fmt, paths[fmt], threads, ranks, f"{fmt}-n{ranks}-t{threads}-r{rep}")
                    print(f"  {r['s']:.2f} s, {r['gbs']:.2f} GB/s per rank, {r['node_gbs']:.2f} GB/s "
                          f"for the node, peak RSS {r['rss_gb']:.2f} GB", flush=True)
                    results.setdefault((fmt, threads, ranks), []).append(r)
    print(f"\nLoad of {a.model} ({a.backend}, {a.dtype}; best of {a.repeat}; page cache warm for every "
          f"format):\n")
    print("| format | ranks | reader threads per rank | GB per rank | seconds | GB/s per rank | "
          "GB/s for the node | vs safetensors | node rate vs the best 1-rank load | peak RSS GB (largest process) |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    best = {k: max(rs, key=lambda r: r["node_gbs"]) for k, rs in results.items()}
    for (fmt, threads, ranks), rs in results.items():
        b = best[(fmt, threads, ranks)]
        base = best[("safetensors", threads, ranks)]
        ones = [r["node_gbs"] for (f, _, n), r in best.items() if f == fmt and n == 1]
        vs_one = f"{b['node_gbs'] / max(max(ones), 1e-9):.2f}x" if ones else "-"
        print(f"| {fmt} | {ranks} | {threads} | {b['gb']:.2f} | {b['s']:.2f} | {b['gbs']:.2f} | "
              f"{b['node_gbs']:.2f} | {b['node_gbs'] / max(base['node_gbs'], 1e-9):.2f}x rate | {vs_one} | "
              f"{max(r['rss_gb'] for r in rs):.2f} |")
    # Same rank count: bit-identical whatever the format or reader threads. Another rank count
    # batches the passages differently (each group its share), so scores may differ in the last
    # float bits: the same predictions, log-probabilities within 1e-5.
    ok = True
    first = predictions(next(iter(results.values()))[0])
    for ranks in sorted({n for _, _, n in results}):
        runs = [predictions(r) for (_, _, n), rs in results.items() if n == ranks for r in rs]
        ref = runs[0]
        same = all(np.array_equal(p[0], ref[0]) and p[1] == ref[1] for p in runs)
        diff = float(np.max(np.abs(ref[0] - first[0])))
        close = ref[1] == first[1] and diff < 1e-5
        print(f"\n{ranks} rank(s): results identical across formats ({a.limit} passages): "
              f"{'yes' if same else 'NO'}", end="")
        print("" if ranks == 1 else f"; vs 1 rank: predictions {'equal' if ref[1] == first[1] else 'DIFFER'}, "
              f"max |d logprob| {diff:.1e}{'' if close else ' (NOT close)'}")
        ok = ok and same and close
    print()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

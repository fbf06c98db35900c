#!/usr/bin/env python3
"""Load time of one checkpoint in each format the runner reads, in one process tree.

usage: load_formats.py --runner RUNNER --model HF_DIR --work DIR [--backend cuda] [--dtype fp16]
                       [--threads 4,16] [--repeat 2] [--limit 8]

From HF_DIR (make-model's safetensors output) it writes, into DIR:
  bin/  the same tensors as two torch.save shards split like the hub's bloom-7b1 files (~71% of
        the bytes in the first: 9.98 + 4.14 GB there), names without `transformer.` (as the
        bigscience files), pytorch_model.bin.index.json; written by torch.save
  ft/   a FasterTransformer -tp 8 folder (the largest of 8, 4, 2, 1 dividing the heads), by
        bench/write_ft_folder.py (FT's documented layout)
then runs the runner on each format (a job of --limit passages: load + a few batches), --repeat
times per --threads value, formats interleaved, and prints per format the runner's own load
seconds and GB/s (its "loaded" line: weights in the compute dtype per rank) and the process's
peak host RSS (wait4). Ends by checking that the formats gave identical results.
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


def run_one(a, fmt, path, threads, tag):
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
    proc = subprocess.Popen([a.runner, job], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    text = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    m = LOADED.search(text)
    if proc.returncode != 0 or not m:
        print(text[-3000:])
        sys.exit(f"{tag}: runner failed (rc {proc.returncode})")
    return {"gb": float(m.group(2)), "s": float(m.group(3)), "gbs": float(m.group(4)),
            "rss_gb": usage.ru_maxrss * 1024 / 1e9, "out": out, "tag": tag}


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
    for threads in [int(t) for t in a.threads.split(",")]:
        for rep in range(a.repeat):
            for fmt in paths:
                stamp(f"load {fmt}, {threads} reader threads, run {rep + 1}")
                r = run_one(a, fmt, paths[fmt], threads, f"{fmt}-t{threads}-r{rep}")
                print(f"  {r['s']:.2f} s, {r['gbs']:.2f} GB/s, peak RSS {r['rss_gb']:.2f} GB", flush=True)
                results.setdefault((fmt, threads), []).append(r)
    print(f"\nLoad of {a.model} ({a.backend}, {a.dtype}; best of {a.repeat}; page cache warm for every "
          f"format):\n")
    print("| format | reader threads | GB loaded | seconds | GB/s | vs safetensors | peak host RSS GB |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for (fmt, threads), rs in results.items():
        best = max(rs, key=lambda r: r["gbs"])
        base = max(results[("safetensors", threads)], key=lambda r: r["gbs"])
        print(f"| {fmt} | {threads} | {best['gb']:.2f} | {best['s']:.2f} | {best['gbs']:.2f} | "
              f"{best['gbs'] / max(base['gbs'], 1e-9):.2f}x rate | {max(r['rss_gb'] for r in rs):.2f} |")
    ref = predictions(results[("safetensors", int(a.threads.split(',')[0]))][0])
    same = all(np.array_equal(predictions(r)[0], ref[0]) and predictions(r)[1] == ref[1]
               for rs in results.values() for r in rs)
    print(f"\nresults identical across formats ({a.limit} passages): {'yes' if same else 'NO'}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())

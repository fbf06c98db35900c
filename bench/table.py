#!/usr/bin/env python3
"""The benchmark table: seconds, tokens/s, ratio to the floor, speed-up over HF.

  table.py OURS.h5 HF.log --config config.json
floor = 2 x body parameters x tokens / the cuBLAS fp16 rate measured in the same invocation.
Our seconds are the run's evaluate_seconds (forward + scoring; loading and tokenizing apart, as
the HF baselines count only their generate/forward calls).
"""
import argparse
import json
import re

import h5py

ap = argparse.ArgumentParser()
ap.add_argument("ours")
ap.add_argument("hflog")
ap.add_argument("--config")
a = ap.parse_args()
c = json.load(open(a.config))
H, L = c["hidden_size"], c["n_layer"]
body = L * (12 * H * H + 13 * H) + 2 * H
hf, rate = {}, None
for line in open(a.hflog):
    m = re.match(r"RESULT (\S+) (.*)", line)
    if not m:
        continue
    kv = dict(x.split("=") for x in m.group(2).split())
    if m.group(1) == "matmul_fp16_8192":
        rate = float(kv["tflops"]) * 1e12
    else:
        hf[m.group(1)] = kv
f = h5py.File(a.ours, "r")
rows = []
tokens = None
for name, r in f["runs"].items():
    tokens = int(r["predictions/context_len"][()].sum() + r["predictions/target_len"][()].sum())
    rows.append((f"ours fp16 tp1 batch {r.attrs['batch_size']} / {r.attrs['max_tokens']} tok",
                 float(r.attrs["evaluate_seconds"]), float(r.attrs["accuracy"]),
                 float(r.attrs["load_seconds"])))
for k, label in [("hf_generate", "HF fp16 generate, batch 16 (seed)"), ("hf_forward", "HF fp16 forward, batch 16")]:
    if k in hf:
        rows.append((label, float(hf[k]["seconds"]), int(hf[k]["correct"]) / int(hf[k]["n"]), None))
floor = 2 * body * tokens / rate if rate else None
print(f"tokens {tokens}, body params {body:.4g}, cuBLAS fp16 8192^3 {rate / 1e12 if rate else float('nan'):.0f} TFLOP/s, "
      f"floor {floor if floor else float('nan'):.2f} s")
gen = float(hf["hf_generate"]["seconds"]) if "hf_generate" in hf else None
fwd = float(hf["hf_forward"]["seconds"]) if "hf_forward" in hf else None
print(f"{'configuration':44s} {'seconds':>8s} {'tokens/s':>10s} {'x floor':>8s} {'vs gen':>7s} {'vs fwd':>7s} {'acc':>7s}")
for label, s, acc, _ in rows:
    print(f"{label:44s} {s:8.2f} {tokens / s:10.0f} {s / floor if floor else float('nan'):8.2f} "
          f"{gen / s if gen else float('nan'):7.2f} {fwd / s if fwd else float('nan'):7.2f} {acc:7.4f}")

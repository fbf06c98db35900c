#!/usr/bin/env python3
"""The benchmark table: seconds, tokens/s, ratio to each dtype's floor, speed-up over HF.

  table.py OURS.h5 HF.log --config config.json --rates gemm_rates.txt
floor = 2 x body parameters x tokens / the GEMM rate measured in the same invocation
(bench/gemm_rates: fp16 for fp16, bf16 for bf16, fp8 with row x column scales for fp8; at
8192^3, and sustained for 3 s for fp16). Our seconds are the run's evaluate_seconds (forward +
scoring; loading, tokenizing and the start-up warm-up apart, as the HF baselines count only their
generate/forward calls).
"""
import argparse
import json
import re

import h5py

ap = argparse.ArgumentParser()
ap.add_argument("ours")
ap.add_argument("hflog")
ap.add_argument("--config")
ap.add_argument("--rates")
a = ap.parse_args()
c = json.load(open(a.config))
H, L = c["hidden_size"], c["n_layer"]
body = L * (12 * H * H + 13 * H) + 2 * H
rates = {}
for line in open(a.rates):
    f = line.split()
    if len(f) > 4 and "8192^3" in line:
        kind = "fp8" if line.startswith("fp8 (row") else f[0] if not line.startswith("fp8") else None
        if kind:
            rates[kind] = float(line.split("8192^3")[1].split()[2]) * 1e12  # best of candidates
    if line.startswith("fp16") and " sustain " in line:
        rates["fp16 sustained"] = float(line.split()[3]) * 1e12
hf = {}
for line in open(a.hflog):
    m = re.match(r"RESULT (\S+) (.*)", line)
    if m:
        hf[m.group(1)] = dict(x.split("=") for x in m.group(2).split())
f = h5py.File(a.ours, "r")
tokens = None
rows = []
for name, r in f["runs"].items():
    tokens = int(r["predictions/context_len"][()].sum() + r["predictions/target_len"][()].sum())
    dt = r.attrs["dtype"]
    dt = dt.decode() if isinstance(dt, bytes) else str(dt)
    rows.append((f"ours {dt} tp1, batches of <= {r.attrs['batch_size']} passages / "
                 f"{r.attrs['max_tokens']} tokens", dt, float(r.attrs["evaluate_seconds"]),
                 int(r.attrs["n_correct"])))
flop = 2.0 * body * tokens
print(f"tokens {tokens}, body params {body:.4g}, FLOPs {flop:.4g}")
for k, v in rates.items():
    print(f"GEMM rate {k} 8192^3: {v / 1e12:.0f} TFLOP/s -> floor {flop / v:.2f} s")
gen = float(hf["hf_generate"]["seconds"]) if "hf_generate" in hf else None
fwd = float(hf["hf_forward"]["seconds"]) if "hf_forward" in hf else None
print(f"{'configuration':58s} {'seconds':>8s} {'tokens/s':>9s} {'x floor':>8s} {'vs gen':>7s} "
      f"{'vs fwd':>7s} {'correct':>8s}")
for label, dt, s, nc in rows:
    fl = flop / rates[dt] if dt in rates else float("nan")
    print(f"{label:58s} {s:8.2f} {tokens / s:9.0f} {s / fl:8.3f} "
          f"{gen / s if gen else float('nan'):7.2f} {fwd / s if fwd else float('nan'):7.2f} {nc:8d}")
for k, label in [("hf_generate", "HF fp16 generate, batch 16 (seed)"),
                 ("hf_forward", "HF fp16 forward, batch 16")]:
    if k in hf:
        s = float(hf[k]["seconds"])
        print(f"{label:58s} {s:8.2f} {tokens / s:9.0f} {s / (flop / rates['fp16']):8.3f}")
if "fp16 sustained" in rates:
    best16 = min(s for _, dt, s, _ in rows if dt == "fp16")
    print(f"ours best fp16 against the sustained fp16 floor ({flop / rates['fp16 sustained']:.2f} s): "
          f"{best16 / (flop / rates['fp16 sustained']):.3f}x")

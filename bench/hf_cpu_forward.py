#!/usr/bin/env python3
"""HF transformers' fp32 forward on the CPU over the same passages as bench_forward.

  hf_cpu_forward.py --model DIR --tokens tokenization.jsonl --passages N [--threads T]
Each passage (context + target) is one unpadded sequence (HF's best case: no padding work);
prints seconds, tokens/s and GFLOP/s counted as 2 x body params x tokens. --threads sets
torch's intra-op threads (default: torch's own choice, one per core). On a machine shared with
other work torch's threads wait on each other (seen: 6x slower on 2 threads than on 1), so
bench/cpu_forward.sh runs both and counts HF's faster run.
"""
import argparse
import json
import time

import torch
from transformers import BloomForCausalLM

ap = argparse.ArgumentParser()
ap.add_argument("--model")
ap.add_argument("--tokens")
ap.add_argument("--passages", type=int, default=64)
ap.add_argument("--threads", type=int, default=0)
a = ap.parse_args()
if a.threads > 0:
    torch.set_num_threads(a.threads)
rows = [json.loads(l) for _, l in zip(range(a.passages), open(a.tokens))]
model = BloomForCausalLM.from_pretrained(a.model, dtype=torch.float32).eval()
c = model.config
H, L = c.hidden_size, c.n_layer
body = L * (12 * H * H + 13 * H) + 2 * H
seqs = [torch.tensor([r["context_ids"] + r["target_ids"]]) for r in rows]
tokens = sum(s.shape[1] for s in seqs)
with torch.inference_mode():
    model(seqs[0])  # warm-up
    t0 = time.perf_counter()
    for s in seqs:
        model(s)
    secs = time.perf_counter() - t0
print(f"HF transformers fp32 CPU forward ({torch.get_num_threads()} threads): {len(seqs)} passages, "
      f"{tokens} tokens in {secs:.3f} s = {tokens / secs:.1f} tokens/s, {2 * body * tokens / secs / 1e9:.1f} GFLOP/s (body)")
print(f"RESULT hf_seconds={secs:.4f} tokens={tokens} gflops={2 * body * tokens / secs / 1e9:.2f}")

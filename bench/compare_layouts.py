#!/usr/bin/env python3
"""Every run of a results file against its first: predicted_ids identical where HF's margin
(from a hf_lambada.py forward file) allows (> 0.05 at every target position), correct, and the
largest target_logprob difference; plus each run's evaluate seconds and scaling vs the first.

  compare_layouts.py RESULTS.h5 HF.forward.jsonl
"""
import json
import sys

import h5py
import numpy as np

f = h5py.File(sys.argv[1], "r")
hf = {r["index"]: r for r in map(json.loads, open(sys.argv[2]))}
names = list(f["runs"].keys())
base = f["runs"][names[0]]
bp = base["predictions"]
for n in names:
    r = f["runs"][n]
    p = r["predictions"]
    same = sum(list(p["predicted_ids"][i]) == list(bp["predicted_ids"][i])
               for i in hf if min(hf[i]["margins"]) > 0.05)
    considered = sum(1 for i in hf if min(hf[i]["margins"]) > 0.05)
    d = np.abs(p["target_logprob"][()] - bp["target_logprob"][()]).max()
    print(f"{n}: tp {r.attrs['tp']} x dp {r.attrs['dp']}: evaluate {r.attrs['evaluate_seconds']:.2f} s "
          f"(x{base.attrs['evaluate_seconds'] / r.attrs['evaluate_seconds']:.2f} vs {names[0]}), "
          f"load {r.attrs['load_seconds']:.1f} s, accuracy {r.attrs['accuracy']:.4f}; vs {names[0]}: "
          f"predicted_ids same on {same}/{considered}, correct same on "
          f"{int((p['correct'][()] == bp['correct'][()]).sum())}/{len(p['correct'])}, max logprob diff {d:.4f}")
    t = r["timings"]
    busy = t["forward_seconds"][()] + t["comm_seconds"][()]
    print(f"   communication share {t['comm_seconds'][()].sum() / max(busy.sum(), 1e-9):.3f} of busy time")

#!/usr/bin/env python3
"""Our results file against HF's teacher-forced fp16 run on the same passages.

  compare_hf.py OURS.h5 RUN HF.forward.jsonl [--margin 0.05]

Prints the largest |target_logprob(ours) - target_logprob(HF)| and the share of passages whose
predicted_ids equal HF's argmax among those where HF's own top-1 minus top-2 margin is above
--margin at every target position (where the margin is tiny, fp16 rounding may flip it).
"""
import argparse
import json

import h5py
import numpy as np

ap = argparse.ArgumentParser()
ap.add_argument("ours")
ap.add_argument("run")
ap.add_argument("hf")
ap.add_argument("--margin", type=float, default=0.05)
a = ap.parse_args()
g = h5py.File(a.ours, "r")["runs"][a.run]["predictions"]
pred, lp, correct = g["predicted_ids"][()], g["target_logprob"][()], g["correct"][()]
hf = [json.loads(l) for l in open(a.hf)]
diff, same, considered, agree_correct = 0.0, 0, 0, 0
for r in hf:
    i = r["index"]
    diff = max(diff, abs(lp[i] - r["target_logprob"]))
    agree_correct += bool(correct[i]) == r["correct"]
    if min(r["margins"]) > a.margin:
        considered += 1
        same += list(pred[i]) == r["argmax"]
print(f"passages {len(hf)}: max |target_logprob - HF| = {diff:.4f}; predicted_ids == HF argmax on "
      f"{same}/{considered} ({100.0 * same / max(considered, 1):.2f}%) where HF margin > {a.margin}; "
      f"correct agrees on {agree_correct}/{len(hf)}; accuracy ours {correct[[r['index'] for r in hf]].mean():.4f} "
      f"HF {np.mean([r['correct'] for r in hf]):.4f}")
print(f"RESULT compare max_logprob_diff={diff:.5f} same_share={same / max(considered, 1):.5f}")

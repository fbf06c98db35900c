#!/usr/bin/env python3
"""The FP8 evaluation mode (model.dtype: fp8) on the CPU against HF transformers made to do the
same arithmetic, on the trained fixture.

  test_fp8_hf.py RUNNER MPIEXEC [--passages N]

The oracle: HF's BloomForCausalLM in float64 on the fixture's fp16 weights, with each block's four
linear layers replaced by the FP8 recipe of core/fp8.h written here with torch's own
float8_e4m3fn cast: activations quantized per token and weights per output channel (amax / 448,
x * (448 / amax) in fp32, rounded to e4m3), the dequantized operands multiplied in float64, the
bias added after. Our CPU fp8 run (dp 2 under mpirun) on all 5153 passages must then agree with
the oracle on the first N (default 96) passages (see main() for why the check is distributional:
median log-prob difference, share within 0.1, argmax where the oracle's margin exceeds 0.05,
and far closer than the unquantized model); over all of LAMBADA it reports n_correct and the passages whose
verdict changes against HF's float64 reference on the unquantized weights (the fp16 figure), and
requires the quantization to show (some log-prob moves by > 1e-3) while the model survives it
(at least 95% of the unquantized n_correct).
"""
import json
import os
import subprocess
import sys
import tempfile

import h5py
import numpy as np
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TRAINED = os.path.join(ROOT, "tests/data/trained-bloom")
LAMBADA = os.path.join(ROOT, "tests/data/lambada/lambada_test.jsonl")
TOKENS = os.path.join(ROOT, "tests/data/tiny-bloom/tokenization.jsonl")  # same tokenizer
RUNNER, MPIEXEC = os.path.abspath(sys.argv[1]), sys.argv[2]
N = int(sys.argv[sys.argv.index("--passages") + 1]) if "--passages" in sys.argv else 96
ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
           OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")


def qdq_rows(t):
    """Per-row e4m3 quantize + dequantize, the recipe of core/fp8.h, by torch's cast."""
    t32 = t.to(torch.float32)
    amax = t32.abs().amax(dim=-1, keepdim=True)
    ok = amax > 0
    inv = torch.where(ok, torch.tensor(448.0) / amax, torch.ones_like(amax))
    scale = torch.where(ok, amax / torch.tensor(448.0), torch.ones_like(amax))
    q = (t32 * inv).clamp(-448.0, 448.0).to(torch.float8_e4m3fn).to(torch.float64)
    return q * scale.to(torch.float64)


def fp8_linear(module):
    wq = qdq_rows(module.weight.detach())  # rows of [out, in]: per output channel
    bias = module.bias.detach().to(torch.float64) if module.bias is not None else None

    def forward(x):
        y = qdq_rows(x) @ wq.T
        return y + bias if bias is not None else y
    return forward


def oracle(n):
    from transformers import BloomForCausalLM
    model = BloomForCausalLM.from_pretrained(TRAINED, torch_dtype=torch.float64).eval()
    for block in model.transformer.h:
        for lin in (block.self_attention.query_key_value, block.self_attention.dense,
                    block.mlp.dense_h_to_4h, block.mlp.dense_4h_to_h):
            lin.forward = fp8_linear(lin)
    out = []
    with torch.no_grad():
        for line, _ in zip(open(TOKENS), range(n)):
            r = json.loads(line)
            ctx, tgt = r["context_ids"], r["target_ids"]
            ids = torch.tensor([ctx + tgt])
            logp = torch.log_softmax(model(ids).logits[0].to(torch.float64), dim=-1)
            pos = [len(ctx) + j - 1 for j in range(len(tgt))]
            top2 = logp[pos].topk(2, dim=-1)
            out.append({"argmax": top2.indices[:, 0].tolist(),
                        "margin": float((top2.values[:, 0] - top2.values[:, 1]).min()),
                        "logprob": float(sum(logp[p, t] for p, t in zip(pos, tgt)))})
    return out


def main():
    failed = []
    tmp = tempfile.mkdtemp(prefix="bloom-fp8-")
    out = os.path.join(tmp, "fp8.h5")
    job = os.path.join(tmp, "job.yaml")
    with open(job, "w") as f:
        f.write(f"name: fp8\nmodel:\n  path: {TRAINED}\n  dtype: fp8\n  backend: cpu\n"
                f"dataset:\n  path: {LAMBADA}\nbatch:\n  size: 64\n"
                f"output:\n  path: {out}\n  overwrite: true\n")
    p = subprocess.run([MPIEXEC, "--oversubscribe", "-n", "2", RUNNER, "run", job], env=ENV,
                       capture_output=True, text=True, timeout=1200)
    if p.returncode != 0:
        print(p.stdout[-3000:], p.stderr[-3000:])
        sys.exit("runner failed")
    g = h5py.File(out, "r")["runs/fp8"]
    pred, lp, correct = g["predictions/predicted_ids"][()], g["predictions/target_logprob"][()], \
        g["predictions/correct"][()]
    ref = [json.loads(l) for l in open(os.path.join(TRAINED, "lambada_reference.jsonl"))]
    n_ref = sum(r["correct"] for r in ref)
    changed = [i for i, r in enumerate(ref) if bool(correct[i]) != r["correct"]]
    moved = max(abs(lp[i] - r["target_logprob"]) for i, r in enumerate(ref))
    print(f"fp8 on the CPU: n_correct {int(correct.sum())}/{len(ref)} (unquantized, HF float64: "
          f"{n_ref}); verdict changed on {len(changed)} passages "
          f"({sum(bool(correct[i]) for i in changed)} now right, "
          f"{sum(not correct[i] for i in changed)} now wrong); largest log-prob move {moved:.4f}")
    if moved < 1e-3:
        failed.append("fp8 gives the unquantized log-probs: the quantization did not happen")
    if correct.sum() < 0.95 * n_ref:
        failed.append(f"fp8 n_correct {int(correct.sum())} is below 95% of {n_ref}")

    # FP8 rounding is discontinuous: wherever a value sits near an e4m3 boundary, a last-bit
    # difference (fp32 against float64, another summation order) picks the neighbouring code,
    # and this small overfitted model amplifies some of those flips (the oracle itself, run with
    # fp32 instead of float64 outside the linear layers, moves by up to ~2 on a few passages).
    # (median 1.4e-3, 90% 0.58, max 1.96 over these passages on 2026-12-01). So the check is
    # distributional: the typical passage agrees closely, the argmax agrees where the oracle is
    # sure, and our run sits nearer the FP8 oracle than the unquantized model. (Our run sits a
    # little farther from the oracle than the oracle's fp32 variant does, median 7e-3 against
    # 1.4e-3: the CPU ops' vectorised exp and tanh flip other codes than torch's.) The FP8
    # arithmetic itself is checked exactly per op in tests/kernels/test_linear_fp8.cpp.
    hf = oracle(N)
    ours = np.array([abs(lp[i] - r["logprob"]) for i, r in enumerate(hf)])
    unquant = np.array([abs(ref[i]["target_logprob"] - r["logprob"]) for i, r in enumerate(hf)])
    same = sum(list(pred[i]) == r["argmax"] for i, r in enumerate(hf) if r["margin"] > 0.05)
    considered = sum(r["margin"] > 0.05 for r in hf)
    near = float((ours < 0.1).mean())
    to_unquant = np.array([abs(lp[i] - ref[i]["target_logprob"]) for i in range(len(hf))])
    print(f"against HF with the same FP8 arithmetic, first {N} passages: |target_logprob diff| "
          f"median {np.median(ours):.2e}, 90% {np.quantile(ours, 0.9):.2e}, max {ours.max():.2e}; "
          f"{100 * near:.0f}% within 0.1; argmax equal on {same}/{considered} (oracle margin "
          f"> 0.05). Medians: the unquantized model to the oracle {np.median(unquant):.2e}, our run "
          f"to the unquantized model {np.median(to_unquant):.2e}")
    if np.median(ours) > 2e-2:
        failed.append(f"median log-prob difference to the FP8 oracle {np.median(ours):.3g}")
    if np.median(ours) > np.median(to_unquant):
        failed.append(f"our run is not nearer the FP8 oracle (median {np.median(ours):.3g}) than "
                      f"the unquantized model ({np.median(to_unquant):.3g})")
    if same < 0.9 * considered:
        failed.append(f"argmax equal to the FP8 oracle on only {same}/{considered}")
    for f in failed:
        print("FAIL:", f)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()

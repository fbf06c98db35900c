#!/usr/bin/env python3
"""HF transformers baselines on pre-tokenized LAMBADA (the seed's workflow, made measurable).

  hf_lambada.py --model DIR --tokens tokenization.jsonl [--batch 16] [--limit N]
                [--mode generate,forward] [--dtype fp16] [--out PREFIX] [--matmul]

generate: left-padded batches of 16 in dataset order, greedy `generate` of the batch's longest
          target, a passage correct when its generated tokens equal its target (FasterTransformer's
          bloom_lambada.py --test-hf, in fp16).
forward:  one teacher-forced forward per left-padded batch: target log-prob, argmax at every
          target position and HF's own top-1 minus top-2 log-prob margin there.
--matmul: the cuBLAS fp16 rate on an 8192^3 product (torch.matmul), median of 20.
Seconds count the generate/forward calls only (as the seed did), synchronized.
Writes PREFIX.<mode>.jsonl (one line per passage) and prints one RESULT line per mode.
"""
import argparse
import json
import time

import torch


def batches(rows, n):
    for i in range(0, len(rows), n):
        yield rows[i:i + n]


def left_pad(seqs, pad):
    L = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), L), pad, dtype=torch.long)
    mask = torch.zeros((len(seqs), L), dtype=torch.long)
    for i, s in enumerate(seqs):
        ids[i, L - len(s):] = torch.tensor(s)
        mask[i, L - len(s):] = 1
    return ids.cuda(), mask.cuda()


def run_generate(model, rows, bs, pad, out):
    correct, secs = 0, 0.0
    with torch.inference_mode(), open(out, "w") as f:
        for b in batches(rows, bs):
            ids, mask = left_pad([r["context_ids"] for r in b], pad)
            n_new = max(len(r["target_ids"]) for r in b)
            torch.cuda.synchronize()
            t0 = time.perf_counter()
            gen = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=n_new,
                                 min_new_tokens=n_new, do_sample=False, num_beams=1,
                                 pad_token_id=pad)
            torch.cuda.synchronize()
            secs += time.perf_counter() - t0
            gen = gen[:, ids.shape[1]:].tolist()
            for r, g in zip(b, gen):
                ok = g[:len(r["target_ids"])] == r["target_ids"]
                correct += ok
                f.write(json.dumps({"index": r["index"], "correct": ok,
                                    "generated_ids": g[:len(r["target_ids"])]}) + "\n")
    return correct, secs


def run_forward(model, rows, bs, pad, out):
    correct, secs = 0, 0.0
    with torch.inference_mode(), open(out, "w") as f:
        for b in batches(rows, bs):
            seqs = [r["context_ids"] + r["target_ids"] for r in b]
            ids, mask = left_pad(seqs, pad)
            torch.cuda.synchronize()
            t0 = time.perf_counter()
            logits = model(input_ids=ids, attention_mask=mask).logits
            torch.cuda.synchronize()
            secs += time.perf_counter() - t0
            L = ids.shape[1]
            for i, r in enumerate(b):
                nt = len(r["target_ids"])
                pos = torch.arange(L - nt - 1, L - 1, device=logits.device)
                lp = torch.log_softmax(logits[i, pos].float(), dim=-1)
                top2 = lp.topk(2, dim=-1)
                tgt = torch.tensor(r["target_ids"], device=lp.device)
                argmax = top2.indices[:, 0].tolist()
                ok = argmax == r["target_ids"]
                correct += ok
                f.write(json.dumps({
                    "index": r["index"], "correct": ok, "argmax": argmax,
                    "target_logprob": lp.gather(1, tgt[:, None]).sum().item(),
                    "margins": (top2.values[:, 0] - top2.values[:, 1]).tolist()}) + "\n")
    return correct, secs


def matmul_rate():
    a = torch.randn(8192, 8192, device="cuda", dtype=torch.float16)
    b = torch.randn(8192, 8192, device="cuda", dtype=torch.float16)
    for _ in range(3):
        a @ b
    times = []
    for _ in range(20):
        s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        s.record()
        a @ b
        e.record()
        e.synchronize()
        times.append(s.elapsed_time(e) / 1e3)
    times.sort()
    return 2 * 8192 ** 3 / times[len(times) // 2]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model")
    ap.add_argument("--tokens")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--mode", default="generate,forward")
    ap.add_argument("--dtype", default="fp16")
    ap.add_argument("--out", default="hf")
    ap.add_argument("--matmul", action="store_true")
    ap.add_argument("--device-map", default="", help="e.g. balanced_low_0 (accelerate placement over all GPUs)")
    a = ap.parse_args()
    if a.matmul:
        print(f"RESULT matmul_fp16_8192 tflops={matmul_rate() / 1e12:.1f}", flush=True)
    if not a.model:
        return
    from transformers import BloomForCausalLM
    rows = [json.loads(l) for l in open(a.tokens)]
    if a.limit:
        rows = rows[:a.limit]
    dtype = {"fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32}[a.dtype]
    t0 = time.perf_counter()
    if a.device_map:
        model = BloomForCausalLM.from_pretrained(a.model, dtype=dtype, device_map=a.device_map).eval()
    else:
        model = BloomForCausalLM.from_pretrained(a.model, dtype=dtype).cuda().eval()
    print(f"hf load {time.perf_counter() - t0:.1f} s", flush=True)
    ntok = sum(len(r["context_ids"]) + len(r["target_ids"]) for r in rows)
    for mode in a.mode.split(","):
        fn = run_generate if mode == "generate" else run_forward
        c, s = fn(model, rows, a.batch, 3, f"{a.out}.{mode}.jsonl")
        tag = f"{mode}_{a.device_map}" if a.device_map else mode
        print(f"RESULT hf_{tag} seconds={s:.3f} correct={c} n={len(rows)} tokens={ntok}", flush=True)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""End-to-end tests of the checkpoint formats: the runner on the same trained BLOOM stored as HF
safetensors, as PyTorch .bin shards that torch itself writes here, and as the FasterTransformer
folder FT's own converter wrote (tests/data/trained-bloom-ft/8-gpu); HF transformers is the
oracle for the untied lm_head. CTest runs each case as its own test.

usage: test_formats_end_to_end.py RUNNER MPIEXEC CASE [--passages N]

Cases:
  formats  all 5153 passages, CPU, fp32 (dp 2 under mpirun), for safetensors, two fp16 .bin forms
           and the FT folder: n_correct == 2627, every predicted_ids row == HF's
           teacher_forced_argmax, |target_logprob - HF| < 1e-3, and results identical between
           the formats (the same fp16 values go in). The .bin forms, written by torch.save from
           tests/data/trained-bloom/model.safetensors:
             bin-hf     names with `transformer.`, 3 shards + pytorch_model.bin.index.json, each
                        tensor its own storage, lm_head.weight saved as the embedding tensor itself
                        (tied: one storage under two names)
             bin-plain  names without it (the original bigscience files), 4 shards, every tensor a
                        view into one storage per shard (storage offsets)
           The "loaded" log line names each format.
  bf16     the two .bin forms in bf16 against a bf16 safetensors file torch writes from the same
           bf16 tensors: identical results (first N passages, default 512).
  ft_tp    the FT folder (given as the converter's output folder) at tp 1, 2, 4 and 8 in one job
           under mpirun -n 8: identical predicted_ids and correct, log-probs within 1e-4, equal to
           HF's argmax (first N passages, default 512).
  untied   a small BLOOM with tie_word_embeddings false built by HF here: the runner's log-probs
           and argmax equal HF's live (and differ from scoring with the embedding); the same
           weights with tie_word_embeddings true equal HF's tied model and warn that
           lm_head.weight is ignored; extra layers' tensors are warned about; no lm_head with
           tie_word_embeddings false is refused.
  ft_writer  bench/write_ft_folder.py (the bench's FT folder writer) on the trained model writes
           byte for byte the folder FT's own converter wrote; a -tp 2 folder it writes runs at
           tp 4 identically to safetensors (ranks read parts of one rank file).
  inspect  `runner inspect` on each form: format, files, dtypes, parameter count, tp sizes;
           exit 1 and the problem named for a checkpoint missing a tensor; `runner validate`
           of an FT job.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

import h5py
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DATA = os.path.join(ROOT, "tests/data")
TRAINED = os.path.join(DATA, "trained-bloom")
FT = os.path.join(DATA, "trained-bloom-ft")  # holds 8-gpu/
TOKENIZER = os.path.join(TRAINED, "tokenizer.json")
LAMBADA = os.path.join(DATA, "lambada/lambada_test.jsonl")
RUNNER, MPIEXEC = os.path.abspath(sys.argv[1]), sys.argv[2]
CASE = sys.argv[3]
PASSAGES = int(sys.argv[sys.argv.index("--passages") + 1]) if "--passages" in sys.argv else None
ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
           OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
FAILED = []


def check(cond, msg):
    print(("ok   " if cond else "FAIL ") + msg, flush=True)
    if not cond:
        FAILED.append(msg)


def run(args, n=1, timeout=1200):
    cmd = [RUNNER] + args if n == 1 else [MPIEXEC, "--oversubscribe", "-n", str(n), RUNNER] + args
    p = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=timeout)
    if p.returncode != 0:
        print(" ".join(cmd), "->", p.returncode, "\n", p.stdout[-3000:], p.stderr[-3000:])
    return p


def job(tmp, name, model, limit, extra="", model_extra=""):
    path = os.path.join(tmp, name + ".yaml")
    with open(path, "w") as f:
        f.write(f"""name: {name}
model:
  path: {model}
  tokenizer: {TOKENIZER}
{model_extra}dataset:
  path: {LAMBADA}
  limit: {limit}
output:
  path: {os.path.join(tmp, name + '.h5')}
{extra}""")
    return path, os.path.join(tmp, name + ".h5")


def predictions(path, run_name):
    with h5py.File(path, "r") as f:
        g = f["runs"][run_name]["predictions"]
        out = {k: g[k][()] for k in g.keys()}
        out["n_correct"] = int(f["runs"][run_name].attrs["n_correct"])
        out["complete"] = int(f.attrs["complete"])
    return out


def reference():
    return [json.loads(l) for l in open(os.path.join(TRAINED, "lambada_reference.jsonl"))]


def same_results(a, b):
    return (np.array_equal(a["correct"], b["correct"])
            and np.array_equal(a["target_logprob"], b["target_logprob"])
            and all(np.array_equal(x, y) for x, y in zip(a["predicted_ids"], b["predicted_ids"])))


# ---- the .bin forms, written by torch ---------------------------------------------------------

def write_index(folder, shards, prefix="pytorch_model"):
    """shards: list of {name: tensor}; writes the files and HF's index."""
    n = len(shards)
    weight_map, total = {}, 0
    import torch
    for i, shard in enumerate(shards):
        file = f"{prefix}-{i + 1:05d}-of-{n:05d}.bin"
        torch.save(shard, os.path.join(folder, file))
        for k, v in shard.items():
            weight_map[k] = file
            total += v.numel() * v.element_size()
    with open(os.path.join(folder, f"{prefix}.bin.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=2)


def split(names, parts):
    per = -(-len(names) // parts)
    return [names[i:i + per] for i in range(0, len(names), per)]


def make_bin_forms(tmp, dtype):
    """bin-hf and bin-plain (see the docstring) in `dtype`; returns {form: folder}."""
    import torch
    from safetensors.torch import load_file
    sd = {k: v.to(dtype) for k, v in load_file(os.path.join(TRAINED, "model.safetensors")).items()}
    tag = str(dtype).replace("torch.", "")
    forms = {}
    # bin-hf: HF names, separate storages, lm_head.weight = the embedding tensor (tied).
    d = os.path.join(tmp, f"bin-hf-{tag}")
    os.makedirs(d)
    names = list(sd)
    shards = [{k: sd[k] for k in part} for part in split(names, 3)]
    emb = "transformer.word_embeddings.weight"
    for s in shards:
        if emb in s:
            s["lm_head.weight"] = s[emb]
    write_index(d, shards)
    forms["bin-hf"] = d
    # bin-plain: no prefix, each shard's tensors are views into one flat storage.
    d = os.path.join(tmp, f"bin-plain-{tag}")
    os.makedirs(d)
    plain = {k[len("transformer."):]: v for k, v in sd.items()}
    shards = []
    for part in split(list(plain), 4):
        flat = torch.cat([plain[k].flatten() for k in part])
        views, off = {}, 0
        for k in part:
            n = plain[k].numel()
            views[k] = flat[off:off + n].view(plain[k].shape)
            off += n
        shards.append(views)
    write_index(d, shards)
    forms["bin-plain"] = d
    for d in forms.values():
        shutil.copy(os.path.join(TRAINED, "config.json"), d)
    return forms, sd


# ---- cases ------------------------------------------------------------------------------------

def case_formats(tmp):
    import torch
    n = PASSAGES or 5153
    forms, _ = make_bin_forms(tmp, torch.float16)
    # The views really share storages with offsets, as torch wrote them.
    shard = torch.load(os.path.join(forms["bin-plain"], "pytorch_model-00002-of-00004.bin"))
    offsets = sorted(t.storage_offset() for t in shard.values())
    check(len({t.untyped_storage().data_ptr() for t in shard.values()}) == 1 and offsets[-1] > 0,
          "bin-plain: one storage per shard, tensors at storage offsets")
    models = {"safetensors": TRAINED, "bin-hf": forms["bin-hf"], "bin-plain": forms["bin-plain"],
              "ft": FT}
    ref = reference()[:n]
    results = {}
    for form, path in models.items():
        spec, out = job(tmp, form, path, n)
        p = run([spec], n=2)
        log = p.stdout + p.stderr
        fmt = {"bin-hf": "bin", "bin-plain": "bin"}.get(form, form)
        check(p.returncode == 0 and f"({fmt}, 4 layers" in log, f"{form}: exit 0, 'loaded' line names {fmt}")
        check("[warning]" not in log, f"{form}: no warnings (a tied lm_head saved as the embedding's storage is not one)")
        if p.returncode != 0:
            continue
        r = results[form] = predictions(out, form)
        check(r["complete"] == 1 and r["n_correct"] == (2627 if n == 5153 else sum(x["correct"] for x in ref)),
              f"{form}: n_correct {r['n_correct']} on {n} passages (HF float64: 2627 of 5153)")
        argmax_ok = sum(list(r["predicted_ids"][i]) == ref[i]["teacher_forced_argmax"] for i in range(n))
        check(argmax_ok == n, f"{form}: predicted_ids == HF teacher_forced_argmax on {argmax_ok}/{n}")
        err = np.abs(r["target_logprob"] - np.array([x["target_logprob"] for x in ref])).max()
        check(err < 1e-3, f"{form}: max |target_logprob - HF| = {err:.2e} < 1e-3")
    for form, r in results.items():
        if form != "safetensors" and "safetensors" in results:
            check(same_results(r, results["safetensors"]), f"{form}: results identical to safetensors")


def case_bf16(tmp):
    import torch
    from safetensors.torch import save_file
    n = PASSAGES or 512
    forms, sd = make_bin_forms(tmp, torch.bfloat16)
    st = os.path.join(tmp, "st-bf16")
    os.makedirs(st)
    save_file(sd, os.path.join(st, "model.safetensors"), metadata={"format": "pt"})
    shutil.copy(os.path.join(TRAINED, "config.json"), st)
    results = {}
    for form, path in [("st-bf16", st), ("bin-hf", forms["bin-hf"]), ("bin-plain", forms["bin-plain"])]:
        spec, out = job(tmp, form, path, n)
        p = run([spec], n=2)
        check(p.returncode == 0, f"{form} (bf16): exit 0")
        if p.returncode == 0:
            results[form] = predictions(out, form)
    ref = reference()[:n]
    if "st-bf16" in results:
        acc = results["st-bf16"]["n_correct"]
        check(abs(acc - sum(x["correct"] for x in ref)) <= 0.05 * n,
              f"bf16 weights still close to HF's verdicts ({acc} correct of {n})")
    for form in ("bin-hf", "bin-plain"):
        if form in results and "st-bf16" in results:
            check(same_results(results[form], results["st-bf16"]), f"{form} bf16: identical to bf16 safetensors")


def case_ft_tp(tmp):
    n = PASSAGES or 512
    spec, out = job(tmp, "ft", FT, n, extra="sweep:\n  parallelism.tp: [1, 2, 4, 8]\n")
    p = run([spec], n=8)
    check(p.returncode == 0, "FT folder under mpirun -n 8, tp 1, 2, 4, 8: exit 0")
    if p.returncode != 0:
        return
    ref = reference()[:n]
    with h5py.File(out, "r") as f:
        names = sorted(f["runs"].keys())
    check(len(names) == 4, f"four runs: {names}")
    base = predictions(out, names[0])
    for name in names:
        r = predictions(out, name)
        ok = sum(list(r["predicted_ids"][i]) == ref[i]["teacher_forced_argmax"] for i in range(n))
        check(ok == n, f"{name}: predicted_ids == HF argmax on {ok}/{n}")
        same = all(np.array_equal(x, y) for x, y in zip(r["predicted_ids"], base["predicted_ids"]))
        check(same and np.array_equal(r["correct"], base["correct"]), f"{name}: same predictions as {names[0]}")
        d = np.abs(r["target_logprob"] - base["target_logprob"]).max()
        check(d < 1e-4, f"{name}: max |logprob - {names[0]}| = {d:.1e} < 1e-4")


def passages(n):
    out = []
    for line in open(LAMBADA):
        text = json.loads(line)["text"].rstrip("\n")
        context, word = text.rsplit(" ", 1)
        out.append((context, " " + word))
        if len(out) == n:
            break
    return out


def hf_scores(model, n, head=None):
    """HF's teacher-forced target log-probs and argmax rows (float64), live."""
    import torch
    from tokenizers import Tokenizer
    tok = Tokenizer.from_file(TOKENIZER)
    model = model.double().eval()
    lps, args = [], []
    for context, target in passages(n):
        c = tok.encode(context, add_special_tokens=False).ids
        t = tok.encode(target, add_special_tokens=False).ids
        with torch.no_grad():
            hidden = model.transformer(torch.tensor([c + t])).last_hidden_state[0]
            w = model.lm_head.weight if head is None else head
            logp = torch.log_softmax(hidden[len(c) - 1:len(c) + len(t) - 1] @ w.double().T, -1)
        lps.append(float(sum(logp[j, t[j]] for j in range(len(t)))))
        args.append(logp.argmax(-1).tolist())
    return np.array(lps), args


def case_untied(tmp):
    import torch
    from transformers import BloomConfig, BloomForCausalLM
    n = PASSAGES or 48
    torch.manual_seed(0)
    cfg = BloomConfig(vocab_size=3000, hidden_size=64, n_layer=2, n_head=4, tie_word_embeddings=False)
    m = BloomForCausalLM(cfg)
    with torch.no_grad():
        m.lm_head.weight.normal_(0.0, 0.5)  # far from the embedding
    untied = os.path.join(tmp, "untied")
    m.save_pretrained(untied)
    check(m.lm_head.weight.data_ptr() != m.transformer.word_embeddings.weight.data_ptr(), "HF model is untied")
    want_lp, want_arg = hf_scores(m, n)
    emb_lp, _ = hf_scores(m, n, head=m.transformer.word_embeddings.weight)
    spec, out = job(tmp, "untied", untied, n, model_extra="  dtype: fp32\n")
    p = run([spec])
    check(p.returncode == 0 and "[warning]" not in p.stdout + p.stderr, "untied: exit 0, no warning")
    if p.returncode == 0:
        r = predictions(out, "untied")
        err = np.abs(r["target_logprob"] - want_lp).max()
        check(err < 1e-4, f"untied: max |target_logprob - HF| = {err:.1e} < 1e-4")
        check(all(list(r["predicted_ids"][i]) == want_arg[i] for i in range(n)), "untied: predicted_ids == HF argmax")
        check(np.abs(r["target_logprob"] - emb_lp).max() > 1.0, "untied: not what the embedding as lm_head gives")
    # tie_word_embeddings true with the same files: HF transformers ties only equal values, so it
    # keeps and uses this lm_head.weight; so do we, with a warning.
    tied = os.path.join(tmp, "tied")
    shutil.copytree(untied, tied)
    c = json.load(open(os.path.join(tied, "config.json")))
    c["tie_word_embeddings"] = True
    json.dump(c, open(os.path.join(tied, "config.json"), "w"))
    hf_tied = BloomForCausalLM.from_pretrained(tied)
    check(hf_tied.lm_head.weight.data_ptr() != hf_tied.transformer.word_embeddings.weight.data_ptr(),
          "HF does not tie an lm_head.weight of other values")
    tied_lp, _ = hf_scores(hf_tied, n)
    spec, out = job(tmp, "tied", tied, n)
    p = run([spec])
    check(p.returncode == 0 and "lm_head.weight differs from word_embeddings.weight although config.json says "
          "tie_word_embeddings: true" in p.stdout + p.stderr, "tied config, other lm_head: warned")
    if p.returncode == 0:
        err = np.abs(predictions(out, "tied")["target_logprob"] - tied_lp).max()
        check(err < 1e-4, f"tied config: max |target_logprob - HF| = {err:.1e} < 1e-4")
    # Extra layers in the files: named in a warning, results unchanged.
    from safetensors.torch import load_file, save_file
    extra = os.path.join(tmp, "extra")
    shutil.copytree(untied, extra)
    sd = load_file(os.path.join(extra, "model.safetensors"))
    for k in list(sd):
        if k.startswith("transformer.h.0."):
            sd[k.replace("h.0.", "h.7.")] = sd[k].clone()
    sd["transformer.unexpected.weight"] = torch.zeros(3)
    save_file(sd, os.path.join(extra, "model.safetensors"), metadata={"format": "pt"})
    spec, out = job(tmp, "extra", extra, n)
    p = run([spec])
    log = p.stdout + p.stderr
    check(p.returncode == 0 and "h.7.* (12 tensors), unexpected.weight" in log, "extra tensors named in a warning")
    if p.returncode == 0:
        check(np.array_equal(predictions(out, "extra")["target_logprob"], predictions(os.path.join(tmp, "untied.h5"), "untied")["target_logprob"]),
              "extra tensors: results unchanged")
    # Untied config without an lm_head.weight: refused before the run starts.
    del sd["lm_head.weight"]
    save_file(sd, os.path.join(extra, "model.safetensors"), metadata={"format": "pt"})
    spec, out = job(tmp, "nohead", extra, n)
    p = run([spec])
    check(p.returncode != 0 and "tie_word_embeddings: false, but there is no lm_head.weight" in p.stdout + p.stderr
          and not os.path.exists(out), "untied without lm_head: refused, no results file")


def case_inspect(tmp):
    import torch
    forms, _ = make_bin_forms(tmp, torch.float16)
    for path, fmt, files in [(TRAINED, "safetensors", "1 in"), (forms["bin-hf"], "bin", "3 in"),
                             (FT, "ft", "221 in")]:
        p = run(["inspect", path])
        out = p.stdout
        check(p.returncode == 0 and f"format:     {fmt}" in out and f"files:      {files}" in out
              and "3,928,064" in out and "parallelism.tp 1, 2, 4, 8" in out and "ok: loads" in out,
              f"inspect {fmt}: format, files, parameters, tp sizes")
    check("F16 x 54 tensors" in run(["inspect", forms["bin-hf"]]).stdout, "inspect bin: stored dtypes (lm_head included)")
    spec, _ = job(tmp, "v", FT, 8, extra="parallelism:\n  tp: 4\n")
    p = run(["validate", spec, "--world", "4"])
    check(p.returncode == 0 and "(ft, 4 layers" in p.stdout, "validate: an FT job at tp 4 is valid, format named")
    broken = os.path.join(tmp, "broken")
    shutil.copytree(forms["bin-plain"], broken)
    idx = json.load(open(os.path.join(broken, "pytorch_model.bin.index.json")))
    del idx["weight_map"]["h.3.mlp.dense_h_to_4h.bias"]
    json.dump(idx, open(os.path.join(broken, "pytorch_model.bin.index.json"), "w"))
    p = run(["inspect", broken])
    check(p.returncode == 1 and "problem:    tensor h.3.mlp.dense_h_to_4h.bias (with or without `transformer.`) not found" in p.stdout,
          "inspect names a missing tensor, exit 1")


def case_ft_writer(tmp):
    import filecmp
    p = subprocess.run([sys.executable, os.path.join(ROOT, "bench/write_ft_folder.py"), TRAINED, tmp,
                        "--tp", "8"], capture_output=True, text=True)
    check(p.returncode == 0, "write_ft_folder.py exits 0")
    ours, theirs = os.path.join(tmp, "8-gpu"), os.path.join(FT, "8-gpu")
    names = sorted(os.listdir(theirs))
    check(sorted(os.listdir(ours)) == names, f"the same {len(names)} files as FT's converter")
    same = [n for n in names if filecmp.cmp(os.path.join(ours, n), os.path.join(theirs, n), shallow=False)]
    check(len(same) == len(names), f"byte-identical to FT's converter: {len(same)}/{len(names)} files")
    # A -tp 2 folder at tp 4: each rank reads part of one rank file (the 8-gpu runs read across
    # several); identical to safetensors at tp 4.
    subprocess.run([sys.executable, os.path.join(ROOT, "bench/write_ft_folder.py"), TRAINED, tmp, "--tp", "2"],
                   check=True, capture_output=True)
    n = PASSAGES or 64
    results = {}
    for name, path in [("st", TRAINED), ("ft2", os.path.join(tmp, "2-gpu"))]:
        spec, out = job(tmp, name, path, n, extra="parallelism:\n  tp: 4\n")
        p = run([spec], n=4)
        check(p.returncode == 0, f"{name} at tp 4: exit 0")
        if p.returncode == 0:
            results[name] = predictions(out, name)
    if len(results) == 2:
        check(same_results(results["ft2"], results["st"]), "a -tp 2 FT folder at tp 4: identical to safetensors at tp 4")


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        globals()["case_" + CASE](tmp)
    print(f"{CASE}: {'FAILED: ' + '; '.join(FAILED) if FAILED else 'all checks passed'}")
    sys.exit(1 if FAILED else 0)

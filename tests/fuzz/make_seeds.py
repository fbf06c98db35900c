#!/usr/bin/env python3
"""Writes the seed inputs of the fuzz targets (one folder per target) into OUT_DIR.

usage: make_seeds.py OUT_DIR

run_fuzzers.sh starts each target from these seeds plus the kept corpus (corpus/<target>/); the
seeds only need to reach the interesting formats (a valid tokenizer.json, safetensors file,
JSON-lines dataset, job spec and results file), the fuzzer does the rest. Each input's first byte is the mode
byte the target documents.
"""
import json
import os
import struct
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = sys.argv[1]


def put(target, name, data):
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def byte_alphabet():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return [chr(c) for c in cs]


def small_tokenizer(legacy=False, extra_added=None):
    """A valid BLOOM-style tokenizer.json: the 256 byte tokens, a few merges, special tokens."""
    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2, "<pad>": 3}
    for ch in byte_alphabet():
        vocab.setdefault(ch, len(vocab))
    merges = [("Ġ", "t"), ("h", "e"), ("Ġt", "he"), ("i", "n"), ("Ġ", "a")]
    for a, b in merges:
        vocab.setdefault(a + b, len(vocab))
    added = [{"id": i, "content": t, "single_word": False, "lstrip": False, "rstrip": False,
              "normalized": False, "special": True} for t, i in list(vocab.items())[:4]]
    if extra_added:
        added.append(extra_added)
    return json.dumps({
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": added,
        "normalizer": None,
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": " ?[^(\\s|[.,!?…。，、।۔،])]+"},
             "behavior": "Isolated", "invert": False},
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}]},
        "post_processor": None,
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": "<unk>" if legacy else None,
                  "continuing_subword_prefix": None, "end_of_word_suffix": None, "fuse_unk": legacy,
                  "byte_fallback": False, "ignore_merges": False, "vocab": vocab,
                  "merges": [f"{a} {b}" for a, b in merges] if legacy else [list(m) for m in merges]},
    }, ensure_ascii=False)


def lambada_lines(n):
    with open(os.path.join(ROOT, "tests/data/lambada/lambada_test.jsonl"), encoding="utf-8") as f:
        return [next(f) for _ in range(n)]


def tokenizer_seeds():
    texts = ["Hello world", "the cat sat on the mat.", "<s>hi</s><pad>", "  spaces\t\tand\nnewlines\n",
             "café … 。，、।۔، 日本語 😀", "\x00\x01\x7f", "a" * 200]
    texts += [json.loads(l)["text"][:300] for l in lambada_lines(3)]
    for i, t in enumerate(texts):
        put("fuzz_tokenizer", f"encode-{i}", b"\x00" + t.encode())
    put("fuzz_tokenizer", "encode-invalid-utf8", b"\x00ab\xff\xfe\xc3 \xe2\x82 x\xed\xa0\x80")
    put("fuzz_tokenizer", "load-small", b"\x01" + small_tokenizer().encode())
    put("fuzz_tokenizer", "load-legacy-merges", b"\x01" + small_tokenizer(legacy=True).encode())
    put("fuzz_tokenizer", "load-added-lstrip", b"\x01" + small_tokenizer(extra_added={
        "id": 266, "content": "[MASK]", "single_word": False, "lstrip": True, "rstrip": True,
        "normalized": True, "special": False}).encode())


def safetensors_file(tensors, meta=True):
    header, data = {}, b""
    if meta:
        header["__metadata__"] = {"format": "pt"}
    for name, dtype, shape, payload in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(payload)]}
        data += payload
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    return h, data


def safetensors_seeds():
    tensors = [("a.weight", "F32", [2, 3], struct.pack("<6f", *range(6))),
               ("b", "F16", [4], struct.pack("<4e", 1.0, -2.0, 0.5, 65504.0)),
               ("c", "BF16", [2], b"\x80\x3f\x00\xc0"),
               ("ids", "I64", [3], struct.pack("<3q", 1, -1, 2**31 - 1)),
               ("i32", "I32", [1, 1], struct.pack("<i", 7)),
               ("empty", "F32", [0, 5], b""), ("scalar", "F32", [], struct.pack("<f", 3.0)),
               ("u8", "U8", [3], b"\x01\x02\x03")]
    h, d = safetensors_file(tensors)
    put("fuzz_safetensors", "raw-all-dtypes", b"\x01" + struct.pack("<Q", len(h)) + h + d)
    put("fuzz_safetensors", "split-all-dtypes", b"\x00" + h + b"\x00" + d)
    h, d = safetensors_file(tensors[:1], meta=False)
    put("fuzz_safetensors", "raw-one", b"\x01" + struct.pack("<Q", len(h)) + h + d)
    put("fuzz_safetensors", "split-one", b"\x00" + h + b"\x00" + d)
    with open(os.path.join(ROOT, "tests/data/tiny-bloom/model-00003-of-00003.safetensors"), "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = f.read(n)
    put("fuzz_safetensors", "split-tiny-bloom-header", b"\x00" + header + b"\x00" + b"\x00" * 64)


def dataset_seeds():
    for i, t in enumerate(["context word", "a b\n\n", "nospace", "ends with space ", " lead",
                           "multi  space  end", "x y\r\n"]):
        put("fuzz_dataset", f"split-{i}", b"\x00" + t.encode())
    lines = "".join(lambada_lines(3))
    put("fuzz_dataset", "file-3", b"\x01\x00" + lines.encode())
    put("fuzz_dataset", "file-limit-1", b"\x01\x01" + lines.encode())
    put("fuzz_dataset", "file-mixed", b"\x01\x00" + b'{"text": "a b"}\r\n\n  \n{"text": "c d e", "x": 1}\n[1]\n{"text": 3}\n')


def job_spec_seeds():
    for name in sorted(os.listdir(os.path.join(ROOT, "jobs"))):
        if name.endswith(".yaml"):
            with open(os.path.join(ROOT, "jobs", name), "rb") as f:
                put("fuzz_job_spec", "jobs-" + name, f.read())
    put("fuzz_job_spec", "full", """name: full
model: {path: ${MODEL_DIR:-m}, dtype: fp16, backend: cuda, tokenizer: t.json}
dataset: {path: d.jsonl, limit: 10}
batch: {size: 8, max_tokens: 2048}
parallelism: {tp: 2, dp: 1}
output: {path: o.h5, resume: true}
method: teacher_forced
load: {threads: 2}
sweep:
  batch.size: [1, 2]
  model.dtype: [fp32, bf16]
""")
    put("fuzz_job_spec", "typo", "name: x\nmodle:\n  path: p\n")
    put("fuzz_job_spec", "bad-yaml", "name: [x\n")


def torch_file_seeds():
    """torch.save's own output (whole files, odd mode) and its pickles (even mode)."""
    import collections
    import io
    import zipfile
    import torch
    sd = collections.OrderedDict()
    base = torch.arange(12, dtype=torch.float16)
    sd["a"] = base[2:8].view(2, 3)
    sd["base"] = base
    sd["c"] = torch.zeros(2, dtype=torch.bfloat16)
    sd["p"] = torch.nn.Parameter(torch.ones(3))
    sd["s"] = torch.tensor(1.5)
    sd._metadata = collections.OrderedDict({"": {"version": 1}})
    for name, obj, proto in [("state-dict", sd, 2), ("dict-proto4", dict(sd), 4),
                             ("one", {"w": torch.ones(2, 2)}, 2)]:
        buf = io.BytesIO()
        torch.save(obj, buf, pickle_protocol=proto)
        raw = buf.getvalue()
        put("fuzz_torch_file", "file-" + name, b"\x01" + raw)
        with zipfile.ZipFile(io.BytesIO(raw)) as z:
            pkl = z.read("archive/data.pkl")
        # Storage keys 0..3 exist in the archive the target builds around a pickle.
        put("fuzz_torch_file", "pickle-" + name, b"\x00" + pkl)


def results_file_seeds():
    """Small results files written from io/RESULTS.md by tests/io/results_reference.py (h5py)."""
    sys.path.insert(0, os.path.join(ROOT, "tests/io"))
    try:
        import results_reference as ref
    except ImportError:
        print("make_seeds.py: no h5py, no fuzz_results_file seeds (the kept corpus has some)")
        return
    rows = [(0, True, -0.5, 10, [5, 6], [5, 6]), (1, False, -3.25, 12, [7], [9])]
    d = os.path.join(OUT, "fuzz_results_file")
    os.makedirs(d, exist_ok=True)
    ref.write_results(os.path.join(d, "complete"), rows, done=[1, 1], complete=1, timings=1)
    ref.write_results(os.path.join(d, "partial"), rows, done=[1, 0], complete=0, timings=1)


tokenizer_seeds()
safetensors_seeds()
torch_file_seeds()
dataset_seeds()
job_spec_seeds()
results_file_seeds()

#!/usr/bin/env python3
"""End-to-end test of `runner make-model`: HF transformers must load what it writes.

Usage: test_make_model.py RUNNER [--fp16-only]

Writes tiny BLOOM checkpoints with the runner (fp16 single file; unless --fp16-only also bf16 and
fp32 with a shard limit small enough to force HF-style sharding, and one with shape overrides),
then loads each with BloomForCausalLM.from_pretrained(output_loading_info=True) and checks: no
missing/unexpected/mismatched keys, config values, weight statistics, tied lm_head, finite logits
from a forward pass, determinism from the seed, dtype-independence of the values, and the copied
tokenizer. Prints "N passed, M failed" and exits non-zero on any failure.
"""
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import traceback

import torch
from safetensors.numpy import load_file
from transformers import BloomForCausalLM

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
TOKENIZER = os.path.join(REPO, "tests", "data", "tiny-bloom", "tokenizer.json")
TINY = dict(hidden_size=96, n_head=6, n_layer=3, vocab_size=3000)
TORCH_DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


def make(runner, out, *args):
    cmd = [runner, "make-model", "--out", out, *args]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} exited {r.returncode}:\n{r.stdout}{r.stderr}")
    return r


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def load_weights(folder):
    """All tensors of an fp32 or fp16 checkpoint folder as numpy arrays."""
    out = {}
    for f in sorted(os.listdir(folder)):
        if f.endswith(".safetensors"):
            out.update(load_file(os.path.join(folder, f)))
    return out


def check_hf_load(folder, dtype, shape=TINY):
    """from_pretrained with no key problems, the config we asked for, finite logits."""
    model, info = BloomForCausalLM.from_pretrained(folder, output_loading_info=True)
    for key in ("missing_keys", "unexpected_keys", "mismatched_keys", "error_msgs"):
        assert not info.get(key), f"{key}: {info.get(key)}"
    c = model.config
    expect = dict(model_type="bloom", layer_norm_epsilon=1e-5, bos_token_id=1, eos_token_id=2,
                  pad_token_id=3, unk_token_id=0, apply_residual_connection_post_layernorm=False,
                  tie_word_embeddings=True, **shape)
    for k, v in expect.items():
        assert getattr(c, k) == v, f"config.{k} = {getattr(c, k)!r}, expected {v!r}"
    assert c.architectures == ["BloomForCausalLM"], c.architectures
    assert model.dtype == TORCH_DTYPES[dtype], f"model dtype {model.dtype}, expected {dtype}"
    assert model.lm_head.weight.data_ptr() == model.transformer.word_embeddings.weight.data_ptr(), \
        "lm_head is not tied to word_embeddings"
    ids = torch.tensor([[5, 17, 230, 9, 2999 % shape["vocab_size"], 44, 1, 0]])
    with torch.no_grad():
        logits = model(ids).logits
    assert logits.shape == (1, ids.shape[1], shape["vocab_size"]), logits.shape
    assert torch.isfinite(logits.float()).all(), "non-finite logits"
    assert logits.float().std() > 0, "constant logits"
    return model


def check_weight_stats(model):
    sd = {k: v.float() for k, v in model.state_dict().items()}
    emb = sd["transformer.word_embeddings.weight"]
    assert abs(emb.mean()) < 0.002 and 0.018 < emb.std() < 0.022, (emb.mean(), emb.std())
    qkv = sd["transformer.h.0.self_attention.query_key_value.weight"]
    assert 0.018 < qkv.std() < 0.022, qkv.std()
    ln = sd["transformer.h.1.input_layernorm.weight"]
    assert 0.95 < ln.mean() < 1.05 and 0.05 < ln.std() < 0.2, (ln.mean(), ln.std())
    bias = sd["transformer.h.2.mlp.dense_h_to_4h.bias"]
    assert (bias != 0).all() and 0.01 < bias.std() < 0.03, bias.std()
    names = {k for k in sd if k != "lm_head.weight"}
    assert all(k.startswith("transformer.") for k in names), names


def main():
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    runner = sys.argv[1]
    fp16_only = "--fp16-only" in sys.argv[2:]
    torch.set_num_threads(2)
    tmp = tempfile.mkdtemp(prefix="bloom_make_model_")
    d = lambda name: os.path.join(tmp, name)
    results = []

    def case(name, fn):
        try:
            fn()
            results.append((name, None))
            print(f"PASS {name}")
        except Exception:
            results.append((name, traceback.format_exc()))
            print(f"FAIL {name}\n{traceback.format_exc()}")

    def fp16_single_file():
        make(runner, d("fp16"), "--like", "tiny", "--dtype", "fp16", "--seed", "1")
        files = sorted(os.listdir(d("fp16")))
        assert files == ["config.json", "model.safetensors"], files
        with open(os.path.join(d("fp16"), "config.json")) as f:
            assert json.load(f)["dtype"] == "float16"
        check_weight_stats(check_hf_load(d("fp16"), "fp16"))

    def deterministic_seed():
        make(runner, d("fp16_again"), "--like", "tiny", "--dtype", "fp16", "--seed", "1",
             "--threads", "1")
        make(runner, d("fp16_seed2"), "--like", "tiny", "--dtype", "fp16", "--seed", "2")
        a, b, c = (sha256(os.path.join(d(x), "model.safetensors"))
                   for x in ("fp16", "fp16_again", "fp16_seed2"))
        assert a == b, "same seed (different thread count) gave different weights"
        assert a != c, "different seeds gave the same weights"

    case("fp16 single file loads in HF", fp16_single_file)
    case("same seed same bytes, other seed other bytes", deterministic_seed)

    if not fp16_only:
        def sharded(dtype, limit):
            def run():
                out = d(dtype + "_sharded")
                make(runner, out, "--like", "tiny", "--dtype", dtype, "--seed", "1",
                     "--max-shard-size", limit, "--tokenizer", TOKENIZER)
                files = sorted(os.listdir(out))
                shards = [f for f in files if f.endswith(".safetensors")]
                assert len(shards) > 1 and "model.safetensors" not in files, files
                n = len(shards)
                expect = [f"model-{i:05d}-of-{n:05d}.safetensors" for i in range(1, n + 1)]
                assert shards == expect, shards
                with open(os.path.join(out, "model.safetensors.index.json")) as f:
                    index = json.load(f)
                n_tensors = len(index["weight_map"])
                assert n_tensors == 5 + 12 * TINY["n_layer"], n_tensors
                assert set(index["weight_map"].values()) == set(shards)
                assert sha256(os.path.join(out, "tokenizer.json")) == sha256(TOKENIZER)
                check_weight_stats(check_hf_load(out, dtype))
            return run

        case("bf16 sharded loads in HF", sharded("bf16", "300KB"))
        case("fp32 sharded loads in HF", sharded("fp32", "1MB"))

        def values_independent_of_dtype():
            w32 = load_weights(d("fp32_sharded"))
            w16 = load_weights(d("fp16"))
            assert set(w32) == set(w16)
            for k in w32:
                assert (w32[k].astype("float16") == w16[k]).all(), f"{k}: fp16 != fp32 rounded"

        case("fp16 weights are the fp32 weights rounded", values_independent_of_dtype)

        def overrides():
            shape = dict(hidden_size=64, n_head=4, n_layer=2, vocab_size=500)
            make(runner, d("override"), "--like", "bloom-560m", "--dtype", "fp32", "--hidden", "64",
                 "--n-head", "4", "--n-layer", "2", "--vocab", "500")
            check_hf_load(d("override"), "fp32", shape)

        case("shape overrides", overrides)

        def bad_options_fail():
            for args in (["--like", "no-such-model"], ["--dtype", "int8"],
                         ["--hidden", "100", "--n-head", "6"], ["--max-shard-size", "5XB"]):
                r = subprocess.run([runner, "make-model", "--out", d("bad"), *args],
                                   capture_output=True, text=True)
                assert r.returncode != 0, f"{args} succeeded"

        case("bad options fail", bad_options_fail)

    failed = [n for n, err in results if err]
    print(f"{len(results) - len(failed)} passed, {len(failed)} failed")
    if not failed:
        import shutil
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        print(f"outputs kept in {tmp}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Writes a HF BLOOM checkpoint (safetensors, fp16/fp32) as a FasterTransformer folder
<OUT>/<TP>-gpu/, in the layout FT's huggingface_bloom_convert.py documents (facts from its source,
written here independently; /work/shared/reference/bloom-facts.md section 1.3):
  - config.ini, section [gpt]: num_layer, head_num, inter_size = 4 x hidden, size_per_head,
    vocab_size, tensor_para_size, weight_data_type, model_variant, layernorm_eps, ...
  - one raw little-endian file per tensor, model.<name>.bin, or per tensor and rank,
    model.<name>.<rank>.bin; names without `transformer.`, h.N -> layers.N,
    word_embeddings -> wte, word_embeddings_layernorm -> pre_decoder_layernorm,
    ln_f -> final_layernorm, self_attention -> attention;
  - every 2-D weight transposed to [in, out] except wte; QKV weight [3H, H] viewed as
    [H, NH, 3, HD] after the transpose, reordered to [H, 3, NH, HD] = [H, 3, H] (bias [3, H]) and
    split on the last axis; dense and 4h->h split on axis 0; h->4h (weight and bias) on the
    last axis; no lm_head.

usage: write_ft_folder.py HF_DIR OUT_DIR [--tp 8] [--threads 8]
The bench uses it for a bloom-7b1-shaped folder (bench/load_formats.py). On the trained fixture
it writes byte for byte what FT's own converter wrote (tests/data/trained-bloom-ft; checked by
tests/engine/test_formats_end_to_end.py ft_writer).
"""
import argparse
import json
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from safetensors import safe_open


def tensors(hf_dir):
    index = os.path.join(hf_dir, "model.safetensors.index.json")
    files = sorted(set(json.load(open(index))["weight_map"].values())) if os.path.exists(index) \
        else ["model.safetensors"]
    for f in files:
        with safe_open(os.path.join(hf_dir, f), framework="np") as st:
            for k in st.keys():
                yield k, st.get_slice(k)


def ft_name(hf):
    n = hf[len("transformer."):] if hf.startswith("transformer.") else hf
    n = n.replace("word_embeddings_layernorm", "pre_decoder_layernorm")
    n = n.replace("word_embeddings.weight", "wte").replace("ln_f.", "final_layernorm.")
    n = n.replace("self_attention.", "attention.")
    if n.startswith("h."):
        n = "layers." + n[2:]
    return "model." + n


def convert(name, array, cfg, tp, out):
    """Writes one HF tensor as its FT file(s)."""
    nh, hidden = cfg["n_head"], cfg["hidden_size"]
    hd = hidden // nh
    stem = os.path.join(out, ft_name(name))
    if "query_key_value" in name:
        if array.ndim == 2:  # [3H, H] rows [NH, 3, HD] -> [H, 3, NH, HD]
            a = array.T.reshape(hidden, nh, 3, hd).transpose(0, 2, 1, 3).reshape(hidden, 3, hidden)
        else:
            a = array.reshape(nh, 3, hd).transpose(1, 0, 2).reshape(3, hidden)
        parts = np.split(a, tp, axis=-1)
    elif name.endswith("dense_h_to_4h.weight"):
        parts = np.split(array.T, tp, axis=-1)
    elif name.endswith("dense_h_to_4h.bias"):
        parts = np.split(array, tp, axis=-1)
    elif name.endswith(("attention.dense.weight", "dense_4h_to_h.weight")):
        parts = np.split(array.T, tp, axis=0)
    else:  # 1-D, and wte as it is
        np.ascontiguousarray(array).tofile(stem + ".bin")
        return array.nbytes
    for r, p in enumerate(parts):
        np.ascontiguousarray(p).tofile(f"{stem}.{r}.bin")
    return array.nbytes


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("hf_dir")
    ap.add_argument("out_dir")
    ap.add_argument("--tp", type=int, default=8)
    ap.add_argument("--threads", type=int, default=8)
    a = ap.parse_args()
    cfg = json.load(open(os.path.join(a.hf_dir, "config.json")))
    out = os.path.join(a.out_dir, f"{a.tp}-gpu")
    os.makedirs(out, exist_ok=True)
    dtype = None
    with ThreadPoolExecutor(a.threads) as pool:
        jobs = []
        for name, sl in tensors(a.hf_dir):
            if name == "lm_head.weight":
                continue
            arr = sl[:]
            dtype = dtype or arr.dtype
            jobs.append(pool.submit(convert, name, arr, cfg, a.tp, out))
        total = sum(j.result() for j in jobs)
    hidden, nh = cfg["hidden_size"], cfg["n_head"]
    post = cfg.get("apply_residual_connection_post_layernorm", False)
    ini = {"model_name": "", "num_layer": cfg["n_layer"], "head_num": nh, "inter_size": 4 * hidden,
           "size_per_head": hidden // nh, "vocab_size": cfg["vocab_size"], "tensor_para_size": a.tp,
           "weight_data_type": {np.dtype("float16"): "fp16", np.dtype("float32"): "fp32"}[dtype],
           "model_variant": "bloom-post" if post else "bloom-pre",
           "layernorm_eps": cfg.get("layer_norm_epsilon", 1e-5),
           "layernorm_type": "post_layernorm" if post else "pre_layernorm",
           "activation_type": "Gelu", "has_positional_encoding": False,
           "has_pre_decoder_layernorm": True, "has_post_decoder_layernorm": True,
           "use_attention_linear_bias": True, "start_id": cfg.get("bos_token_id", 1),
           "end_id": cfg.get("eos_token_id", 2)}
    with open(os.path.join(out, "config.ini"), "w") as f:
        f.write("[gpt]\n" + "".join(f"{k}={v}\n" for k, v in ini.items()) + "\n")  # as configparser
    print(f"wrote {out}: {total / 1e9:.2f} GB")


if __name__ == "__main__":
    main()

"""The catalogue's cases for PyTorch .bin weights and FasterTransformer folders (imported by
catalogue.py after its safetensors section, which documents what a case is and checks).

The .bin inputs are written by torch.save from the catalogue's small model (its safetensors
weights), then damaged; the FT inputs are copies of tests/data/trained-bloom-ft/8-gpu, the folder
FasterTransformer's own converter wrote. CASES holds (section, name, message, cause, fix, make,
output, pattern) tuples in catalogue order; each make(ctx) returns a catalogue Launch.
"""
import os
import pickle
import re
import shutil
import struct
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FT_FIXTURE = os.path.join(ROOT, "tests/data/trained-bloom-ft/8-gpu")
FT_TOKENIZER = os.path.join(ROOT, "tests/data/trained-bloom/tokenizer.json")

CASES = []


def case(section, name, message, cause, fix, output="absent", pattern=None):
    def register(make):
        CASES.append((section, name, message, cause, fix, make, output, pattern))
        return make
    return register


# ---- inputs -----------------------------------------------------------------------------------

def bin_model(ctx, edit=None, shards=1):
    """A copy of the small model with its weights as torch.save files (one, or shards + index);
    edit(state_dict) may change the tensors first."""
    import torch
    from safetensors.torch import load_file
    m = ctx.model()
    st = os.path.join(m, "model.safetensors")
    sd = load_file(st)
    os.remove(st)
    if edit:
        edit(sd)
    if shards == 1:
        torch.save(sd, os.path.join(m, "pytorch_model.bin"))
        return m
    names = list(sd)
    per = -(-len(names) // shards)
    weight_map = {}
    for i in range(shards):
        file = f"pytorch_model-{i + 1:05d}-of-{shards:05d}.bin"
        part = {k: sd[k] for k in names[i * per:(i + 1) * per]}
        torch.save(part, os.path.join(m, file))
        weight_map.update({k: file for k in part})
    import json
    with open(os.path.join(m, "pytorch_model.bin.index.json"), "w") as f:
        json.dump({"metadata": {}, "weight_map": weight_map}, f)
    return m


def rezip(path, edit=None, deflate=False):
    """Rewrites a torch.save file with zipfile: entries through edit(name, bytes), storages
    deflated if asked."""
    tmp = path + ".tmp"
    with zipfile.ZipFile(path) as zin, zipfile.ZipFile(tmp, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            if edit:
                data = edit(info.filename, data)
            method = zipfile.ZIP_DEFLATED if deflate and "/data/" in info.filename else zipfile.ZIP_STORED
            zout.writestr(info.filename, data, compress_type=method)
    os.replace(tmp, path)


def ft_folder(ctx, edit_ini=None):
    """A copy of FT's -tp 8 folder of the trained model, config.ini through edit_ini(text)."""
    d = ctx.path("ft", "8-gpu")
    shutil.copytree(FT_FIXTURE, d)
    if edit_ini:
        p = os.path.join(d, "config.ini")
        text = open(p).read()
        with open(p, "w") as f:
            f.write(edit_ini(text))
    return d


def ft_run(ctx, model, tokenizer=True):
    return ctx.run(model=model, model_extra=f"  tokenizer: {FT_TOKENIZER}\n" if tokenizer else "")


# ---- PyTorch .bin -----------------------------------------------------------------------------

BIN = "PyTorch .bin weights"


@case(BIN, "file truncated", "no zip end-of-central-directory record",
      "A .bin file is cut short (interrupted download or copy): a torch.save file ends with its "
      "zip directory, so a truncated one has none.",
      "Download the file again; compare its size or sha256 with the repository's.",
      pattern=r"pytorch_model\.bin: no zip end-of-central-directory record in the last \d+ bytes: "
              r"the file is truncated")
def _(ctx):
    m = bin_model(ctx)
    p = os.path.join(m, "pytorch_model.bin")
    os.truncate(p, os.path.getsize(p) // 2)
    return ctx.run(model=m)


@case(BIN, "corrupt zip directory", "has no valid header (corrupt archive)",
      "The zip directory at the end of a .bin file is damaged (bad disk, bad copy).",
      "Download the file again.", pattern=r"pytorch_model\.bin: central-directory entry 0 of \d+")
def _(ctx):
    m = bin_model(ctx)
    p = os.path.join(m, "pytorch_model.bin")
    raw = bytearray(open(p, "rb").read())
    eocd = raw.rfind(b"PK\x05\x06")
    cd = struct.unpack_from("<I", raw, eocd + 16)[0]
    raw[cd:cd + 4] = b"XXXX"
    open(p, "wb").write(bytes(raw))
    return ctx.run(model=m)


@case(BIN, "pickle calls a foreign function", "refuses the pickle global 'posix.system'",
      "The file's pickle (data.pkl) names a function torch.save never writes for a state dict "
      "(here os.system): a malicious file, or not a checkpoint. Nothing in it was run: the "
      "runner reads the pickle with a restricted reader that calls nothing (torch.load without "
      "weights_only would have run it).",
      "Do not load the file with torch either; get the weights from a source you trust "
      "(safetensors where there is a choice).",
      pattern=r"pytorch_model\.bin: archive/data\.pkl: refuses the pickle global")
def _(ctx):
    m = ctx.model()
    os.remove(os.path.join(m, "model.safetensors"))
    pwned = ctx.path("pwned")

    class Evil:
        def __reduce__(self):
            return (os.system, ("touch " + pwned,))

    with zipfile.ZipFile(os.path.join(m, "pytorch_model.bin"), "w") as z:
        z.writestr("archive/data.pkl", pickle.dumps({"transformer.ln_f.weight": Evil()}, protocol=2))
        z.writestr("archive/byteorder", "little")
    launch = ctx.run(model=m)
    launch.absent = [pwned]  # the call never ran
    return launch


@case(BIN, "storage shorter than its tensor", "shorter than the",
      "A tensor's storage entry in the .bin archive holds fewer bytes than the pickle says (a "
      "damaged or hand-edited file).", "Download the file again.",
      pattern=r"pytorch_model\.bin: tensor \S+: its storage \S+/data/0 is \d+ bytes, shorter than")
def _(ctx):
    m = bin_model(ctx)
    rezip(os.path.join(m, "pytorch_model.bin"),
          lambda n, d: d[:len(d) // 2] if n.endswith("/data/0") else d)
    return ctx.run(model=m)


@case(BIN, "tensor missing from every shard",
      "tensor h.0.mlp.dense_4h_to_h.bias (with or without `transformer.`) not found in",
      "No shard of the .bin checkpoint holds a tensor BLOOM needs (incomplete download, or "
      "another architecture).", "Download the checkpoint again.",
      pattern=r"pytorch_model\.bin\.index\.json and its shards pytorch_model-00001-of-00003\.bin")
def _(ctx):
    return ctx.run(model=bin_model(ctx, lambda sd: sd.pop("transformer.h.0.mlp.dense_4h_to_h.bias"), 3))


@case(BIN, "index names a missing shard", "pytorch_model-00002-of-00002.bin (holding tensor",
      "pytorch_model.bin.index.json names a shard file that is not in the folder.",
      "Download the missing shard (the message names it).", pattern=r"does not exist")
def _(ctx):
    m = bin_model(ctx, shards=2)
    os.remove(os.path.join(m, "pytorch_model-00002-of-00002.bin"))
    return ctx.run(model=m)


@case(BIN, "tensor not contiguous", "is not contiguous, so it cannot be read in place",
      "A tensor was saved as a non-contiguous view (e.g. a transpose), which cannot be read in "
      "place from the file.",
      "Save `tensor.contiguous()` instead (or re-save the checkpoint with save_pretrained).")
def _(ctx):
    def transpose(sd):
        w = "transformer.h.0.self_attention.dense.weight"
        sd[w] = sd[w].t().contiguous().t()  # same shape and values, column-major strides
    return ctx.run(model=bin_model(ctx, transpose))


@case(BIN, "compressed entries", "is compressed (zip method 8)",
      "The .bin archive was re-zipped with compression; torch.save stores its entries "
      "uncompressed, which is what lets the runner read them in place.",
      "Use the file as torch.save wrote it, or load and save it again with torch.")
def _(ctx):
    m = bin_model(ctx)
    rezip(os.path.join(m, "pytorch_model.bin"), deflate=True)
    return ctx.run(model=m)


@case(BIN, "legacy torch.save format", "written in torch.save's legacy format",
      "The .bin file predates torch 1.6's zip format; its tensors cannot be located without "
      "unpickling it.", "Load it with torch and save it again (torch >= 1.6 writes the zip format).")
def _(ctx):
    import torch
    from safetensors.torch import load_file
    m = ctx.model()
    st = os.path.join(m, "model.safetensors")
    torch.save(load_file(st), os.path.join(m, "pytorch_model.bin"), _use_new_zipfile_serialization=False)
    os.remove(st)
    return ctx.run(model=m)


@case(BIN, "integer tensor", "is stored as LongStorage; BLOOM weights must be F32, F16 or BF16",
      "A weight is stored as integers (a quantized or foreign checkpoint).",
      "Use the original fp32/fp16/bf16 weights.")
def _(ctx):
    def ints(sd):
        sd["transformer.ln_f.bias"] = sd["transformer.ln_f.bias"].long()
    return ctx.run(model=bin_model(ctx, ints))


# ---- FasterTransformer ------------------------------------------------------------------------

FT = "FasterTransformer folders"


@case(FT, "a rank's file missing", ": missing (4h->h weight, rank file 3 of the 8",
      "A FasterTransformer folder lacks one of the per-rank files its config.ini's "
      "tensor_para_size asks for (an interrupted conversion or copy).",
      "Copy the folder again, or run FT's converter again.",
      pattern=r"8-gpu/model\.layers\.2\.mlp\.dense_4h_to_h\.weight\.3\.bin: missing")
def _(ctx):
    d = ft_folder(ctx)
    os.remove(os.path.join(d, "model.layers.2.mlp.dense_4h_to_h.weight.3.bin"))
    return ft_run(ctx, d)


@case(FT, "file size disagrees with config.ini", "bytes, expected",
      "A raw FT file has a size other than what config.ini gives (head_num, size_per_head, "
      "vocab_size, weight_data_type): truncated, or config.ini of another model.",
      "Use the config.ini the converter wrote with these files, or copy the folder again.",
      pattern=r"model\.wte\.bin: 1000 bytes, expected 1536000 \(\[3000, 256\] x 2 bytes of fp16\)")
def _(ctx):
    d = ft_folder(ctx)
    os.truncate(os.path.join(d, "model.wte.bin"), 1000)
    return ft_run(ctx, d)


@case(FT, "unknown weight_data_type", "weight_data_type 'int8' is not one of fp32, fp16, bf16",
      "config.ini's weight_data_type is not a dtype the raw files can be read as (they have no "
      "header, so it must be right).", "Set it to the dtype the converter wrote (-dt fp32 or fp16).",
      pattern=r"config\.ini:9: \[gpt\] weight_data_type")
def _(ctx):
    return ft_run(ctx, ft_folder(ctx, lambda t: t.replace("weight_data_type=fp16", "weight_data_type=int8")))


@case(FT, "not BLOOM's MLP", "but BLOOM's MLP is 4 x hidden",
      "config.ini's inter_size is not 4 x head_num x size_per_head: not a BLOOM model, or a "
      "damaged config.ini.", "Use the config.ini the converter wrote for this BLOOM model.")
def _(ctx):
    return ft_run(ctx, ft_folder(ctx, lambda t: t.replace("inter_size=1024", "inter_size=1000")))


@case(FT, "another model variant", "model_variant is 'gpt': not a BLOOM folder",
      "config.ini describes another FasterTransformer model (BLOOM's are bloom-pre or bloom-post).",
      "Point model.path at a BLOOM folder converted by huggingface_bloom_convert.py.")
def _(ctx):
    return ft_run(ctx, ft_folder(ctx, lambda t: t.replace("model_variant=bloom-pre", "model_variant=gpt")))


@case(FT, "no tokenizer given", "the tokenizer is not part of one: set model.tokenizer",
      "model.path is a FasterTransformer folder and model.tokenizer is not set: the converter "
      "copies no tokenizer.json.", "Set model.tokenizer to the tokenizer.json of the HF model "
      "the folder was converted from.")
def _(ctx):
    return ft_run(ctx, ft_folder(ctx), tokenizer=False)


@case(FT, "two converted folders", "holds 2 FasterTransformer folders (2-gpu, 8-gpu)",
      "model.path is a converter output folder with several <N>-gpu folders: which one is meant "
      "is not clear (any of them runs at every tp).", "Set model.path to one of the <N>-gpu folders.")
def _(ctx):
    d = ft_folder(ctx)
    shutil.copytree(d, os.path.join(os.path.dirname(d), "2-gpu"))
    return ft_run(ctx, os.path.dirname(d))

#!/usr/bin/env python3
"""Writes the inputs of the io/ reader tests (test_torch_file, test_zip_archive) into OUT_DIR,
made by the real writers: torch.save, Python's zipfile and pickle.

usage: make_io_fixtures.py OUT_DIR [PWNED]

  plain.bin         torch.save of an OrderedDict state dict (with _metadata, as state_dict()
                    returns it): fp32, fp16, bf16 tensors, a view with a storage offset and its
                    base sharing one storage, a tensor saved under two names (tied weights), an
                    nn.Parameter, a 0-d and an empty tensor
  expect.safetensors  the same tensors, contiguous copies, by safetensors (the oracle)
  buffer.bin        plain.bin's dict saved through a BytesIO (torch names the archive "archive")
  dict_proto4.bin   a plain dict (HF's shards) with pickle_protocol=4 (FRAME, MEMOIZE, ...)
  noncontig.bin     a transposed view (not contiguous)
  long.bin          an int64 tensor
  legacy.bin        torch.save's pre-1.6 format (_use_new_zipfile_serialization=False)
  compressed.bin    plain.bin re-zipped with its storages deflated
  truncated.bin     plain.bin cut in half
  short_storage.bin plain.bin with the storage of "a" cut short
  hostile2.bin, hostile4.bin  torch-like archives whose data.pkl calls os.system (protocol 2:
                    GLOBAL; protocol 4: STACK_GLOBAL) to create PWNED (default OUT_DIR/pwned)
  stored.zip        zipfile: a stored and a deflated entry
  zip64.zip         a sparse ZIP64 archive (entry data beyond 4 GiB), hand-written from APPNOTE
                    6.3 and checked here with zipfile; it occupies a few KB on disk
"""
import collections
import io
import os
import pickle
import struct
import sys
import zipfile

import torch
from safetensors.torch import save_file

OUT = sys.argv[1]
os.makedirs(OUT, exist_ok=True)
PWNED = sys.argv[2] if len(sys.argv) > 2 else os.path.join(OUT, "pwned")


def path(name):
    return os.path.join(OUT, name)


def state_dict():
    sd = collections.OrderedDict()
    base = torch.arange(12, dtype=torch.float16) / 4
    sd["a"] = torch.arange(12, dtype=torch.float32).reshape(3, 4) - 5.5
    sd["view"] = base[2:8].view(2, 3)  # storage offset 2, shares base's storage
    sd["base"] = base
    sd["c"] = torch.tensor([1.0, -2.0, 0.5, 3.140625, 1e-3], dtype=torch.bfloat16)
    sd["p"] = torch.nn.Parameter(torch.tensor([[1.5, 2.5], [3.5, 4.5]]))
    sd["tied"] = sd["a"]  # one tensor under two names
    sd["scalar"] = torch.tensor(7.25)
    sd["empty"] = torch.zeros(0, 3, dtype=torch.float16)
    big = torch.linspace(-1, 1, 70000, dtype=torch.float32)  # numel > 65535: BININT
    sd["big"] = big
    sd._metadata = collections.OrderedDict({"": {"version": 1}})
    return sd


def rezip(src, dst, edit=None, deflate=lambda name: False):
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            if edit:
                data = edit(info.filename, data)
            zout.writestr(info.filename, data, compress_type=zipfile.ZIP_DEFLATED
                          if deflate(info.filename) else zipfile.ZIP_STORED)


def hostile(name, protocol):
    class Evil:
        def __reduce__(self):
            return (os.system, ("touch " + PWNED,))

    payload = pickle.dumps({"w": Evil()}, protocol=protocol)
    with zipfile.ZipFile(path(name), "w", zipfile.ZIP_STORED) as z:
        z.writestr("archive/data.pkl", payload)
        z.writestr("archive/byteorder", "little")
        z.writestr("archive/version", "3\n")


def zip64_sparse(name):
    """Entry 'small' at offset 0, entry 'far' with its local header at 5 GiB; ZIP64 central
    directory fields, ZIP64 end record and locator."""
    far_off = 5 << 30
    far_data = b"far away bytes"
    with open(path(name), "wb") as f:
        def local(fname, data):
            n = fname.encode()
            return struct.pack("<IHHHHHIIIHH", 0x04034B50, 45, 0, 0, 0, 0, zipfile.crc32(data),
                               len(data), len(data), len(n), 0) + n + data
        f.write(local("small", b"near"))
        f.seek(far_off)
        f.write(local("far", far_data))
        cd_off = f.tell()
        cd = b""
        for fname, data, off in (("small", b"near", 0), ("far", far_data, far_off)):
            n = fname.encode()
            extra = struct.pack("<HHQ", 1, 8, off) if off >= 0xFFFFFFFF else b""
            cd += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 45, 45, 0, 0, 0, 0,
                              zipfile.crc32(data), len(data), len(data), len(n), len(extra), 0, 0,
                              0, 0, 0xFFFFFFFF if off >= 0xFFFFFFFF else off) + n + extra
        f.write(cd)
        z64 = f.tell()
        f.write(struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0, 2, 2, len(cd), cd_off))
        f.write(struct.pack("<IIQI", 0x07064B50, 0, z64, 1))
        f.write(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 2, 2, 0xFFFFFFFF, 0xFFFFFFFF, 0))
    with zipfile.ZipFile(path(name)) as z:  # the oracle agrees with what was written
        assert z.read("far") == far_data and z.read("small") == b"near"
        assert z.getinfo("far").header_offset == far_off


def main():
    sd = state_dict()
    torch.save(sd, path("plain.bin"))
    save_file({k: v.detach().contiguous().clone() for k, v in sd.items() if k != "tied"},
              path("expect.safetensors"))
    buf = io.BytesIO()
    torch.save(sd, buf)
    with open(path("buffer.bin"), "wb") as f:
        f.write(buf.getvalue())
    torch.save(dict(sd), path("dict_proto4.bin"), pickle_protocol=4)
    torch.save({"t": torch.arange(6, dtype=torch.float32).reshape(2, 3).t()}, path("noncontig.bin"))
    torch.save({"ids": torch.arange(3)}, path("long.bin"))
    torch.save(sd, path("legacy.bin"), _use_new_zipfile_serialization=False)
    rezip(path("plain.bin"), path("compressed.bin"), deflate=lambda n: "/data/" in n)
    raw = open(path("plain.bin"), "rb").read()
    with open(path("truncated.bin"), "wb") as f:
        f.write(raw[: len(raw) // 2])
    rezip(path("plain.bin"), path("short_storage.bin"),
          lambda n, d: d[: len(d) // 2] if n.endswith("/data/0") else d)
    hostile("hostile2.bin", 2)
    hostile("hostile4.bin", 4)
    with zipfile.ZipFile(path("stored.zip"), "w") as z:
        z.writestr("dir/stored.txt", "stored bytes", compress_type=zipfile.ZIP_STORED)
        z.writestr("deflated.txt", "deflated " * 20, compress_type=zipfile.ZIP_DEFLATED)
    zip64_sparse("zip64.zip")


if __name__ == "__main__":
    main()

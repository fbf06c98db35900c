"""Writes e4m3_reference.txt: float32 values and the FP8 E4M3 byte torch gives each
(x.to(torch.float8_e4m3fn), round to nearest even, saturating), the oracle of tests/core/test_fp8.cpp.
Run: python3 tests/data/fp8/make_e4m3_reference.py   (torch 2.11 made the checked-in file)."""
import os
import struct

import torch

g = torch.Generator().manual_seed(0)
vals = [0.0, -0.0, 1.0, -1.0, 448.0, 449.0, 464.0, 1e4, -1e4, float("inf"), float("-inf"),
        2.0 ** -9, 2.0 ** -10, 1.5 * 2.0 ** -10, 2.5 * 2.0 ** -9, 2.0 ** -6, 0.99 * 2.0 ** -6]
# every code's value and the midpoints between neighbours (ties to even)
codes = torch.arange(256, dtype=torch.uint8).view(torch.float8_e4m3fn).float()
finite = sorted({v for v in codes.tolist() if v == v})
vals += finite
vals += [(a + b) / 2 for a, b in zip(finite, finite[1:])]
# random magnitudes across the whole range
mag = torch.exp2(torch.empty(3000).uniform_(-14, 10, generator=g))
sign = torch.where(torch.rand(3000, generator=g) < 0.5, -1.0, 1.0)
vals += (mag * sign).tolist()
x = torch.tensor(vals, dtype=torch.float32)
q = x.to(torch.float8_e4m3fn).view(torch.uint8)
out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "e4m3_reference.txt")
with open(out, "w") as f:
    f.write("# float32 bits (hex)  e4m3 byte (decimal): torch %s\n" % torch.__version__)
    for v, b in zip(x.tolist(), q.tolist()):
        f.write("%08x %d\n" % (struct.unpack("<I", struct.pack("<f", v))[0], b))
print(out, len(vals))

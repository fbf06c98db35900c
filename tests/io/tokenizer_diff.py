#!/usr/bin/env python3
"""Differential test of our tokenizer against HF tokenizers.

Generates random strings (fixed seed) mixing scripts, every Unicode whitespace kind, zero-width
characters, BLOOM's 11 split punctuation marks, parentheses, pipes, digits, special tokens written
in text, lone combining marks, emoji (ZWJ sequences, flags, skin tones), U+FFFD, noncharacters and
arbitrary code points; encodes each with HF `tokenizers` (add_special_tokens=False) and with
`RUNNER tokenize --tokenizer TOKENIZER_JSON` (fed JSON lines {"text": ...}); compares every one.
A second, smaller batch feeds raw (non-JSON) lines holding invalid UTF-8, which our tokenizer must
encode like HF encodes `line.decode("utf-8", "replace")`.

Usage: python3 tests/io/tokenizer_diff.py RUNNER_BINARY TOKENIZER_JSON [--n 10000] [--seed 1234]
Exit status: 0 when everything matches, 1 on any mismatch, 2 when the runner fails.
"""
import argparse
import json
import random
import subprocess
import sys

from tokenizers import Tokenizer

WHITESPACE = ["\t", "\n", "\v", "\f", "\r", " ", "\u0085", "\u00a0", "\u1680", "\u2028", "\u2029",
              "\u202f", "\u205f", "\u3000"] + [chr(c) for c in range(0x2000, 0x200B)]
ZERO_WIDTH = ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u180e", "\u00ad"]
SPLIT_PUNCT = [".", ",", "!", "?", "\u2026", "\u3002", "\uff0c", "\u3001", "\u0964", "\u06d4", "\u060c"]
OTHER_PUNCT = list("()|[]{}<>\"'`-_:;/\\@#$%^&*+=~") + ["\u00bf", "\u00a1", "\u2014", "\u201c", "\u201d"]
SPECIAL = ["<s>", "</s>", "<pad>", "<unk>", "<s", "s>", "</", "<pad", "<<s>>", "<s></s>"]
EMOJI = ["\U0001F600", "\U0001F44D\U0001F3FD", "\U0001F468\u200d\U0001F469\u200d\U0001F467\u200d\U0001F466",
         "\U0001F3F3\ufe0f\u200d\U0001F308", "\U0001F1EB\U0001F1F7", "\u2764\ufe0f", "\U0001F9D1\u200d\U0001F4BB",
         "\U0001F44B", "\U0001F3B8", "#\ufe0f\u20e3"]
RANGES = {
    "latin": [(0x61, 0x7A), (0x41, 0x5A)],
    "accented": [(0xC0, 0xFF), (0x100, 0x17F), (0x1E00, 0x1EFF)],
    "cjk": [(0x4E00, 0x9FFF), (0x3040, 0x30FF), (0xAC00, 0xD7A3)],
    "arabic": [(0x0600, 0x06FF)],
    "devanagari": [(0x0900, 0x097F)],
    "cyrillic": [(0x0400, 0x04FF)],
    "digits": [(0x30, 0x39), (0x0660, 0x0669), (0x0966, 0x096F), (0xFF10, 0xFF19)],
    "combining": [(0x0300, 0x036F), (0x0900, 0x0903), (0x093A, 0x094F), (0x064B, 0x065F), (0x20D0, 0x20FF)],
}
NONCHARS = [chr(c) for c in range(0xFDD0, 0xFDF0)] + [chr((p << 16) | 0xFFFE) for p in range(17)] + \
           [chr((p << 16) | 0xFFFF) for p in range(17)] + ["\ufffd", "\ufffc", "\U0010fffd"]


def random_scalar(rng):
    while True:
        c = rng.randrange(0x110000)
        if not 0xD800 <= c <= 0xDFFF:
            return chr(c)


def word(rng, script):
    return "".join(chr(rng.randint(*rng.choice(RANGES[script]))) for _ in range(rng.randint(1, 8)))


def atom(rng):
    kind = rng.choices(
        ["space", "word", "ws", "zw", "punct", "other", "special", "emoji", "combining", "nonchar",
         "any", "spaces"],
        weights=[20, 30, 8, 4, 8, 5, 3, 4, 3, 2, 3, 3])[0]
    if kind == "space":
        return " "
    if kind == "word":
        return word(rng, rng.choice(list(RANGES)))
    if kind == "ws":
        return "".join(rng.choice(WHITESPACE) for _ in range(rng.randint(1, 3)))
    if kind == "zw":
        return rng.choice(ZERO_WIDTH)
    if kind == "punct":
        return "".join(rng.choice(SPLIT_PUNCT) for _ in range(rng.randint(1, 3)))
    if kind == "other":
        return rng.choice(OTHER_PUNCT)
    if kind == "special":
        return rng.choice(SPECIAL)
    if kind == "emoji":
        return rng.choice(EMOJI)
    if kind == "combining":
        return word(rng, "combining")
    if kind == "nonchar":
        return rng.choice(NONCHARS)
    if kind == "any":
        return random_scalar(rng)
    return " " * rng.randint(2, 5)


def random_text(rng):
    return "".join(atom(rng) for _ in range(rng.randint(0, 40)))


def random_invalid_line(rng):
    """Raw bytes with invalid UTF-8; no newline, not JSON."""
    pieces = []
    for _ in range(rng.randint(1, 12)):
        r = rng.random()
        if r < 0.4:
            pieces.append(random_text(rng).encode("utf-8"))
        elif r < 0.6:
            pieces.append(bytes([rng.randrange(0x80, 0x100)]))
        elif r < 0.8:  # a valid sequence cut short
            b = rng.choice(["\u00e9", "\u4e2d", "\U0001F600", "\u0915"]).encode("utf-8")
            pieces.append(b[:rng.randint(1, len(b) - 1)] if len(b) > 1 else b)
        else:  # surrogates, overlongs, above U+10FFFF
            pieces.append(rng.choice([b"\xed\xa0\x80", b"\xc0\xaf", b"\xe0\x80\xaf", b"\xf4\x90\x80\x80",
                                      b"\xf8\x88\x80\x80\x80", b"\xff\xfe"]))
    line = b"".join(pieces).replace(b"\n", b" ")
    return b"x" + line if line.startswith(b"{") else line


def run_runner(runner, tokenizer_json, payload):
    proc = subprocess.run([runner, "tokenize", "--tokenizer", tokenizer_json], input=payload,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr.decode("utf-8", "replace"))
        print(f"runner failed with exit status {proc.returncode}")
        sys.exit(2)
    return [json.loads(line) for line in proc.stdout.decode("utf-8").splitlines()]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runner")
    ap.add_argument("tokenizer_json")
    ap.add_argument("--n", type=int, default=10000, help="random JSON-line strings (default 10000)")
    ap.add_argument("--n-invalid", type=int, default=500, help="raw invalid-UTF-8 lines (default 500)")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--show", type=int, default=5, help="mismatches to print")
    args = ap.parse_args()

    rng = random.Random(args.seed)
    hf = Tokenizer.from_file(args.tokenizer_json)
    texts = [random_text(rng) for _ in range(args.n)]
    raw_lines = [random_invalid_line(rng) for _ in range(args.n_invalid)]

    # Alternate escaped (\uXXXX, surrogate pairs) and raw UTF-8 JSON; then the raw invalid lines.
    payload = b"".join(json.dumps({"text": t}, ensure_ascii=(i % 2 == 0)).encode("utf-8") + b"\n"
                       for i, t in enumerate(texts))
    payload += b"".join(line + b"\n" for line in raw_lines)
    ours = run_runner(args.runner, args.tokenizer_json, payload)
    cases = [(t, t) for t in texts] + [(line, line.decode("utf-8", "replace")) for line in raw_lines]
    if len(ours) != len(cases):
        print(f"runner printed {len(ours)} lines for {len(cases)} inputs")
        return 2

    want = [e.ids for e in hf.encode_batch([c[1] for c in cases], add_special_tokens=False)]
    failed = [i for i in range(len(cases)) if ours[i] != want[i]]
    for i in failed[:args.show]:
        shown, text = cases[i]
        print(f"MISMATCH #{i}: input {shown!r}")
        print(f"  hf   {want[i]}  tokens {hf.encode(text, add_special_tokens=False).tokens}")
        print(f"  ours {ours[i]}")
    n_json, n_raw = len(texts), len(raw_lines)
    bad_json = sum(1 for i in failed if i < n_json)
    print(f"{args.tokenizer_json}: {len(cases) - len(failed)} passed, {len(failed)} failed "
          f"({n_json - bad_json}/{n_json} random strings, {n_raw - (len(failed) - bad_json)}/{n_raw} "
          f"invalid-UTF-8 raw lines; seed {args.seed})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

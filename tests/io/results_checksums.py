#!/usr/bin/env python3
"""The integrity rules of io/RESULTS.md hold across implementations: the runner's row and
attribute checksums recomputed with zlib (tests/io/results_reference.py) on a file it wrote,
and a file written by h5py following RESULTS.md read by `runner report`; one flipped value in
it (the checksum not updated) refused.

usage: results_checksums.py RUNNER
Ends with "N passed, M failed"; exits 1 on any failure.
"""
import os
import subprocess
import sys
import tempfile

import h5py

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import results_reference as ref  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RUNNER = sys.argv[1]
PASSED, FAILED = [], []


def check(cond, msg):
    print(("ok   " if cond else "FAIL ") + msg, flush=True)
    (PASSED if cond else FAILED).append(msg)


def main():
    with tempfile.TemporaryDirectory(prefix="bloom-checksums-") as tmp:
        out = os.path.join(tmp, "r.h5")
        job = os.path.join(tmp, "job.yaml")
        with open(job, "w") as f:
            f.write(f"name: run\nmodel:\n  path: {ROOT}/tests/data/tiny-bloom\ndataset:\n"
                    f"  path: {ROOT}/tests/data/lambada/lambada_test.jsonl\n  limit: 40\n"
                    f"output:\n  path: {out}\n")
        p = subprocess.run([RUNNER, job], capture_output=True, text=True, timeout=300)
        check(p.returncode == 0, "the runner writes a file")
        with h5py.File(out, "r") as f:
            check(f.attrs[ref.ATTRIBUTES_CHECKSUM] == ref.attributes_crc(f.attrs), "root attribute CRC == zlib's")
            g = f["runs/run"]
            check(g.attrs[ref.ATTRIBUTES_CHECKSUM] == ref.attributes_crc(g.attrs), "run attribute CRC == zlib's")
            pr = g["predictions"]
            rows = [ref.row_crc(i, int(pr["index"][i]), bool(pr["correct"][i]), float(pr["target_logprob"][i]),
                                int(pr["context_len"][i]), [int(x) for x in pr["target_ids"][i]],
                                [int(x) for x in pr["predicted_ids"][i]]) for i in range(len(pr["done"]))]
            check(list(pr["checksum"][()]) == rows, f"all {len(rows)} row CRCs == zlib's")
            check(all(pr[k].fletcher32 for k in ("index", "correct", "target_logprob", "done", "checksum")),
                  "fixed-size columns carry Fletcher32")

        # A file written here, by the rules alone, is read by the runner ...
        mine = os.path.join(tmp, "mine.h5")
        rows = [(0, True, -0.5, 10, [5, 6], [5, 6]), (1, False, -3.25, 12, [7], [9]), (2, False, 0.0, 0, [], [])]
        ref.write_results(mine, rows, done=[1, 1, 0], complete=0)
        p = subprocess.run([RUNNER, "report", mine, "--json"], capture_output=True, text=True, timeout=60)
        check(p.returncode == 0, "runner report reads a file written by h5py from RESULTS.md")
        if p.returncode:
            print(p.stdout[-2000:], p.stderr[-2000:])
        # ... and a value changed behind its checksum's back is refused.
        with h5py.File(mine, "r+") as f:
            f["runs/run/predictions/target_logprob"][1] = -3.0
        p = subprocess.run([RUNNER, "report", mine], capture_output=True, text=True, timeout=60)
        said = p.stdout + p.stderr
        check(p.returncode != 0 and "row 1 of run 'run' does not match its checksum" in said,
              "a row changed without its checksum is refused")
    print(f"{len(PASSED)} passed, {len(FAILED)} failed")
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())

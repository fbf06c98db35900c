"""An independent reading of io/RESULTS.md's integrity rules, with h5py and zlib: the CRC-32 of a
prediction row and of a group's attributes, and a writer of small results files in the schema.
Used by tests/io/results_checksums.py (the runner's checksums recomputed here, and files written
here read by the runner) and by tests/fuzz/make_seeds.py (seed files for fuzz_results_file).
"""
import struct
import zlib

import h5py
import numpy as np

SCHEMA = "bloom-eval/2"
ATTRIBUTES_CHECKSUM = "attributes_crc32"


def row_crc(row, index, correct, target_logprob, context_len, target_ids, predicted_ids):
    data = struct.pack("<qqBdii", row, index, 1 if correct else 0, target_logprob, context_len,
                       len(target_ids))
    data += struct.pack(f"<{len(target_ids)}i", *target_ids)
    data += struct.pack(f"<{len(predicted_ids)}i", *predicted_ids)
    return zlib.crc32(data)


def reseal_rows(predictions, rows):
    """Recomputes the stored checksum of each row in `rows` of an h5py predictions group (after
    a test changed them)."""
    p = predictions
    for i in rows:
        p["checksum"][i] = row_crc(int(i), int(p["index"][i]), bool(p["correct"][i]),
                                   float(p["target_logprob"][i]), int(p["context_len"][i]),
                                   [int(x) for x in p["target_ids"][i]],
                                   [int(x) for x in p["predicted_ids"][i]])


def undo_rows(path, run, rows):
    """Makes the results file at `path` look as a job killed mid-run left it: `rows` of `run` not
    done, the run and the file incomplete, their attributes resealed."""
    with h5py.File(path, "r+") as f:
        g = f["runs"][run]
        done = g["predictions/done"][()]
        done[rows] = 0
        g["predictions/done"][...] = done
        g.attrs["complete"] = np.uint8(0)
        f.attrs["complete"] = np.uint8(0)
        seal(g)
        seal(f)


def attributes_crc(attrs):
    """CRC-32 of an h5py AttributeManager (or a dict of name -> value) as RESULTS.md defines it."""
    data = b""
    for name in sorted(attrs.keys(), key=lambda n: n.encode()):
        if name == ATTRIBUTES_CHECKSUM:
            continue
        value = attrs[name]
        if isinstance(value, bytes):
            value = value.decode()
        if isinstance(value, str):
            data += name.encode() + b"\0s" + value.encode() + b"\0"
        elif isinstance(value, (float, np.floating)):
            data += name.encode() + b"\0f" + struct.pack("<d", float(value))
        elif isinstance(value, (int, np.integer, bool, np.bool_)):
            data += name.encode() + b"\0i" + struct.pack("<q", int(value))
    return zlib.crc32(data)


def seal(group):
    group.attrs[ATTRIBUTES_CHECKSUM] = np.int64(attributes_crc(group.attrs))


TIMINGS = [("batch", "i8"), ("rank", "i4"), ("dp_rank", "i4"), ("tp_rank", "i4"),
           ("n_sequences", "i4"), ("n_tokens", "i8"), ("forward_seconds", "f8"),
           ("comm_seconds", "f8"), ("wait_seconds", "f8"), ("start_seconds", "f8")]


def write_results(path, rows, done, complete, run="run", timings=2):
    """A results file with one run of `rows` (index, correct, logprob, context_len, target_ids,
    predicted_ids), `done` flags and checksums, as the runner writes them."""
    with h5py.File(path, "w", libver=("v108", "v108")) as f:
        for k, v in (("schema", SCHEMA), ("runner_version", "results_reference.py"),
                     ("job_spec", "name: run\n"), ("created", "2026-01-01T00:00:00Z")):
            f.attrs[k] = v
        f.attrs["complete"] = np.uint8(complete)
        seal(f)
        g = f.create_group("runs", track_order=True).create_group(run)
        n = len(rows)
        strings = {"model": "models/seed", "dtype": "fp32", "backend": "cpu", "method": "teacher_forced",
                   "tokenizer": "models/seed/tokenizer.json", "dataset": "lambada_test.jsonl",
                   "spec": "name: run\n", "overrides": "", "started_utc": "2026-01-01T00:00:00Z",
                   "finished_utc": "2026-01-01T00:00:01Z", "environment": "{}"}
        for k in ("config_sha256", "tokenizer_sha256", "dataset_sha256", "weights_fingerprint"):
            strings[k] = "0" * 64
        ints = {"batch_size": 16, "max_tokens": 1024, "tp": 1, "dp": 1, "n_examples": n,
                "n_correct": sum(1 for r, d in zip(rows, done) if d and r[1]), "peak_device_bytes": 0,
                "n_evaluated": n}
        floats = {k: 0.0 for k in ("load_seconds", "tokenize_seconds", "evaluate_seconds", "wall_seconds",
                                   "tokens_per_second", "passages_per_second", "accuracy_stderr",
                                   "accuracy_ci95_low", "accuracy_ci95_high")}
        floats["accuracy"] = ints["n_correct"] / max(n, 1)
        floats["token_perplexity"] = 2.0
        floats["passage_perplexity"] = 2.0
        for k, v in strings.items():
            g.attrs[k] = v
        for k, v in ints.items():
            g.attrs[k] = np.int64(v)
        for k, v in floats.items():
            g.attrs[k] = np.float64(v)
        g.attrs["complete"] = np.uint8(complete)
        seal(g)
        p = g.create_group("predictions")
        chunk = (max(n, 1),)

        def column(name, values, dtype):
            p.create_dataset(name, data=np.array(values, dtype=dtype), chunks=chunk, fletcher32=True)
        column("index", [r[0] for r in rows], "i8")
        column("correct", [int(r[1]) for r in rows], "u1")
        column("target_logprob", [r[2] for r in rows], "f8")
        column("context_len", [r[3] for r in rows], "i4")
        column("target_len", [len(r[4]) for r in rows], "i4")
        vlen = h5py.vlen_dtype(np.dtype("<i4"))
        for name, k in (("target_ids", 4), ("predicted_ids", 5)):
            d = p.create_dataset(name, (n,), dtype=vlen, chunks=chunk)
            for i, r in enumerate(rows):
                d[i] = np.array(r[k], dtype="<i4")
        column("checksum", [row_crc(i, *r) if done[i] else 0 for i, r in enumerate(rows)], "i8")
        column("done", done, "u1")
        t = g.create_group("timings")
        for name, dtype in TIMINGS:
            t.create_dataset(name, data=np.arange(timings, dtype=dtype), maxshape=(None,), chunks=(16,),
                             fletcher32=True)

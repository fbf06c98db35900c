#!/usr/bin/env python3
"""The catalogue of bad inputs: every case is a job (or an input file) with one thing wrong, the
message the runner must print for it, and what users should do about it.

usage: catalogue.py RUNNER MPIEXEC [-k SUBSTRING] [--write-doc [FILE]]

Each case checks that the runner
  - exits with the documented code (1: failed; 2: a usage error, such as a job path that is not
    a readable regular file), within a time limit (never a hang: 60 s per launch),
  - prints the expected message on stderr (a substring), no source location (`file.cpp:123`:
    those are for `runner -v`), and no crash report (no "Segmentation fault", "core dumped",
    sanitizer report, uncaught-exception abort),
  - leaves no misleading output: no results file where the mistake is caught before the run
    starts (`absent`), a file whose root attribute `complete` is 0 where the run had started
    (`incomplete`), or, for an existing file it must not touch, the same bytes (`untouched`).
The inputs are made at run time in a temporary folder from tests/data (a small model made with
`runner make-model`, copies of tiny-bloom, lines of LAMBADA).

jobs/ERRORS.md, the users' table (message -> cause -> fix), is generated from this file:
`catalogue.py RUNNER MPIEXEC --write-doc` rewrites it; every run checks that it is up to date.
Ends with "N passed, M failed"; exits 1 on any failure.
"""
import hashlib
import json
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time

import h5py

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DATA = os.path.join(ROOT, "tests/data")
TINY = os.path.join(DATA, "tiny-bloom")
LAMBADA = os.path.join(DATA, "lambada/lambada_test.jsonl")
DOC = os.path.join(ROOT, "jobs/ERRORS.md")
TIMEOUT = 60
ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
           OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
ENV.pop("BLOOM_CATALOGUE_UNSET", None)
CRASH_SIGNS = ["Segmentation fault", "core dumped", "AddressSanitizer", "runtime error:",
               "terminate called", "std::bad_alloc", "Aborted"]

CASES = []


class Case:
    """One bad input. `make(ctx)` writes the inputs and returns a Launch."""

    def __init__(self, section, name, message, cause, fix, make, output="absent", pattern=None, rc=1):
        self.section, self.name, self.message = section, name, message
        self.cause, self.fix, self.make, self.output, self.pattern = cause, fix, make, output, pattern
        self.rc = rc


def case(section, name, message, cause, fix, output="absent", pattern=None, rc=1):
    def register(make):
        CASES.append(Case(section, name, message, cause, fix, make, output, pattern, rc))
        return make
    return register


class Launch:
    def __init__(self, args, ranks=1, out=None, cleanup=None, cmd=None):
        self.args, self.ranks, self.out, self.cleanup = args, ranks, out, cleanup
        self.cmd = cmd  # the whole command line, when not RUNNER + args (under mpirun)
        self.absent = []  # files the launch must not create (a refused pickle's call)


class Ctx:
    """A case's temporary folder and the shared fixtures."""

    def __init__(self, tmp, shared):
        self.tmp, self.shared = tmp, shared
        self.out = os.path.join(tmp, "results.h5")

    def path(self, *parts):
        return os.path.join(self.tmp, *parts)

    def write(self, name, data):
        p = self.path(name)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb") as f:
            f.write(data if isinstance(data, bytes) else data.encode())
        return p

    def model(self, name="model"):
        """A private copy of the small single-file model (1 layer, hidden 32, 4 heads)."""
        dst = self.path(name)
        shutil.copytree(self.shared["model"], dst)
        return dst

    def tiny(self, name="tiny"):
        """A private copy of tiny-bloom (3 shards + index, 6 heads), without the HF references."""
        dst = self.path(name)
        os.makedirs(dst)
        for f in os.listdir(TINY):
            if f.startswith("model") or f in ("config.json", "tokenizer.json"):
                shutil.copy(os.path.join(TINY, f), dst)
        return dst

    def job(self, model=None, dataset=None, out=None, limit=8, extra="", model_extra="",
            output_extra="", name="catalogue", text=None):
        text = text if text is not None else f"""name: {name}
model:
  path: {model or self.shared['model']}
{model_extra}dataset:
  path: {dataset or self.shared['dataset']}
  limit: {limit}
output:
  path: {out or self.out}
{output_extra}{extra}"""
        return self.write("job.yaml", text)

    def run(self, ranks=1, **kw):
        return Launch([self.job(**kw)], ranks=ranks, out=kw.get("out", self.out))


# ---- safetensors helpers ----------------------------------------------------------------------

def read_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    n = struct.unpack("<Q", raw[:8])[0]
    return json.loads(raw[8:8 + n]), raw[8 + n:]


def write_safetensors(path, header, data, header_len=None):
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h) if header_len is None else header_len) + h + data)


def edit_header(ctx, edit):
    """A model copy whose model.safetensors header went through edit(header) (data unchanged)."""
    m = ctx.model()
    st = os.path.join(m, "model.safetensors")
    header, data = read_safetensors(st)
    edit(header)
    write_safetensors(st, header, data)
    return m


def tensors_by_offset(header):
    return sorted((k for k in header if k != "__metadata__"), key=lambda k: header[k]["data_offsets"][0])


def edit_config(ctx, edit, base=None):
    m = base or ctx.model()
    p = os.path.join(m, "config.json")
    with open(p) as f:
        c = json.load(f)
    edit(c)
    with open(p, "w") as f:
        json.dump(c, f)
    return m


# ---- the catalogue ----------------------------------------------------------------------------
# Messages are substrings of what the runner prints; keep them specific enough to identify the
# check, generic enough to survive rewording of the surrounding text.

JOB = "Job file"


@case(JOB, "YAML syntax error", "YAML syntax error",
      "The job file is not valid YAML (here an unclosed `[`). The message starts with "
      "`FILE:LINE:COLUMN:` where the parser noticed it (at or after the mistake).",
      "Fix the YAML at that place; `runner validate JOB.yaml` checks a job without running it.",
      pattern=r"job\.yaml:\d+:\d+: YAML syntax error")
def _(ctx):
    return Launch([ctx.job(text="name: t\nmodel:\n  path: [a, b\ndataset:\n  path: d\n")])


@case(JOB, "tab used for indentation", "illegal tab when looking for indentation",
      "YAML indents with spaces only.", "Replace the tabs with spaces.",
      pattern=r"job\.yaml:2:\d+: YAML syntax error")
def _(ctx):
    return Launch([ctx.job(text="name: t\n\tmodel: x\n")])


@case(JOB, "not a mapping", "a job file is a YAML mapping",
      "The file is a list or a single value instead of `key: value` lines.",
      "Start from jobs/quickstart.yaml; jobs/README.md lists every key.")
def _(ctx):
    return Launch([ctx.job(text="- name: t\n- model: m\n")])


@case(JOB, "misspelled section", "unknown key 'modle' (did you mean 'model'?)",
      "A section name is misspelled.", "Use the suggested name.", pattern=r"job\.yaml:2:1: unknown key")
def _(ctx):
    return Launch([ctx.job(text=open(ctx.job()).read().replace("model:", "modle:"))])


@case(JOB, "misspelled key", "unknown key 'batch.szie' (did you mean 'batch.size'?)",
      "A key inside a section is misspelled.", "Use the suggested key.")
def _(ctx):
    return ctx.run(extra="batch:\n  szie: 8\n")


@case(JOB, "unknown key", "unknown key 'colour'",
      "A key the runner does not know (and that is not close to one it knows).",
      "Remove it; jobs/README.md lists every key.")
def _(ctx):
    return ctx.run(extra="colour: red\n")


@case(JOB, "key given twice", "'batch.size' is given twice (first at line",
      "The same key appears twice; YAML forbids it and the second value would silently win.",
      "Keep one.")
def _(ctx):
    return ctx.run(extra="batch:\n  size: 8\n  size: 16\n")


@case(JOB, "section given a value", "'model' must be a mapping",
      "A section (`model`, `dataset`, `batch`, `parallelism`, `output`, `load`) was given a "
      "value instead of keys.", "Write `model:` and its keys indented below it (`  path: ...`).")
def _(ctx):
    return Launch([ctx.job(text=f"name: t\nmodel: {TINY}\ndataset:\n  path: d\n")])


@case(JOB, "list where a value is expected", "'dataset.path' must be a single value",
      "A key was given a list or mapping.", "Give one value; to try several, use `sweep:`.")
def _(ctx):
    return Launch([ctx.job(text=f"name: t\nmodel:\n  path: m\ndataset:\n  path: [a, b]\noutput:\n  path: o\n")])


@case(JOB, "required key missing", "missing required key 'dataset.path'",
      "`name`, `model.path`, `dataset.path` and `output.path` are required.", "Add the key.")
def _(ctx):
    return Launch([ctx.job(text=f"name: t\nmodel:\n  path: m\noutput:\n  path: {ctx.out}\n")])


@case(JOB, "not an integer", "batch.size must be an integer, got 'many'",
      "An integer key holds text.", "Write a whole number.")
def _(ctx):
    return ctx.run(extra="batch:\n  size: many\n")


@case(JOB, "integer out of range", "batch.size must be >= 1, got 0",
      "Integers have lower bounds: batch.size, parallelism.tp and load.threads >= 1; "
      "dataset.limit, batch.max_tokens and parallelism.dp >= 0 (0: automatic / all).",
      "Use a value in range.")
def _(ctx):
    return ctx.run(extra="batch:\n  size: 0\n")


@case(JOB, "negative limit", "dataset.limit must be >= 0, got -5",
      "dataset.limit counts passages from the start of the file; 0 means all.", "Use 0 or more.")
def _(ctx):
    return ctx.run(limit=-5)


@case(JOB, "unknown dtype", "model.dtype must be one of fp32, fp16, bf16, fp8, got 'fp4'",
      "The compute dtype is not one of those the engine has.", "Use fp32, fp16, bf16 or fp8.")
def _(ctx):
    return ctx.run(model_extra="  dtype: fp4\n")


@case(JOB, "unknown backend", "model.backend must be one of cpu, cuda, got 'gpu'",
      "The backend is `cpu` or `cuda`.", "Use `cuda` for GPUs.")
def _(ctx):
    return ctx.run(model_extra="  backend: gpu\n")


@case(JOB, "unknown method", "method must be one of teacher_forced, got 'beam'",
      "Only teacher-forced scoring is implemented (it gives greedy decoding's verdict).",
      "Drop the key or write teacher_forced.")
def _(ctx):
    return ctx.run(extra="method: beam\n")


@case(JOB, "not a boolean", "output.resume must be true or false, got 'maybe'",
      "A yes/no key holds something else.", "Write true or false.")
def _(ctx):
    return ctx.run(output_extra="  resume: maybe\n")


@case(JOB, "resume and overwrite together", "output.resume and output.overwrite exclude each other",
      "Continuing a file and replacing it are opposite requests.", "Keep one of them.")
def _(ctx):
    return ctx.run(output_extra="  resume: true\n  overwrite: true\n")


@case(JOB, "environment variable not set", "environment variable BLOOM_CATALOGUE_UNSET is not set",
      "A `${VAR}` in a value names a variable that is not set (or empty).",
      "Export it, or give a default: `${VAR:-default}`.")
def _(ctx):
    return ctx.run(out="${BLOOM_CATALOGUE_UNSET}/results.h5")


@case(JOB, "name with a slash", "name must not contain '/'",
      "The job name becomes an HDF5 group name.", "Use another separator.")
def _(ctx):
    return ctx.run(name="a/b")


@case(JOB, "misspelled sweep key", "unknown sweep key 'sweep.batch.szie' (did you mean 'batch.size'?)",
      "A sweep axis names a key that does not exist.", "Use the suggested key (dotted: section.key).")
def _(ctx):
    return ctx.run(extra="sweep:\n  batch.szie: [1, 2]\n")


@case(JOB, "empty sweep list", "sweep.batch.size must be a non-empty list of values",
      "A sweep axis has no values, or a single value that is not a list.",
      "Give a list: `batch.size: [8, 16]`.")
def _(ctx):
    return ctx.run(extra="sweep:\n  batch.size: []\n")


@case(JOB, "output swept", "output.path cannot be swept",
      "All runs of a job go to one results file, one group per run.",
      "Sweep something else, or write one job per output file.")
def _(ctx):
    return ctx.run(extra=f"sweep:\n  output.path: [{ctx.path('a.h5')}, {ctx.path('b.h5')}]\n")


@case(JOB, "sweep too large", "the sweep makes more than 10000 runs",
      "The product of the sweep's lists is huge (here 11^4 runs).", "Split it into several jobs.")
def _(ctx):
    vals = "[" + ", ".join(str(i) for i in range(1, 12)) + "]"
    return ctx.run(extra=f"sweep:\n  batch.size: {vals}\n  batch.max_tokens: {vals}\n"
                         f"  dataset.limit: {vals}\n  load.threads: {vals}\n")


@case(JOB, "unknown model format", "model.format must be one of auto, safetensors, bin, ft, got 'gguf'",
      "model.format names a format the runner does not read.",
      "Use auto (the default: found from the files), safetensors, bin or ft.")
def _(ctx):
    return ctx.run(model_extra="  format: gguf\n")


@case(JOB, "job file missing", "no-such-job.yaml' does not exist",
      "The job file path is wrong (a usage error: exit code 2).",
      "Check the path (relative paths start from the current folder).", rc=2,
      pattern=r"job file '[^']+' does not exist")
def _(ctx):
    return Launch([ctx.path("no-such-job.yaml")])


@case(JOB, "--set without KEY=", "--set batch.size: expected KEY=VALUE",
      "A command-line override is not of the form KEY=VALUE.",
      "Write `--set batch.size=32` (dotted keys as in jobs/README.md).")
def _(ctx):
    return Launch([ctx.job(), "--set", "batch.size"])


@case(JOB, "--set of an unknown key", "--set batch.szie=4: unknown key 'batch.szie' (did you mean 'batch.size'?)",
      "A command-line override names a key the job file could not have.", "Use the suggested key.")
def _(ctx):
    return Launch([ctx.job(), "--set", "batch.szie=4"])


@case(JOB, "--set of a bad value", "--set batch.size=0: batch.size must be >= 1, got 0",
      "An override's value fails the check the same key gets in the file (here a lower bound); "
      "the message starts with the option instead of the file's line.",
      "Give a value the key accepts (jobs/README.md lists them).")
def _(ctx):
    return Launch([ctx.job(), "--set", "batch.size=0"])


@case(JOB, "--min-accuracy not a fraction", "--min-accuracy 35: expected a fraction in [0, 1] (0.35) or a percentage (35%)",
      "The threshold is neither a fraction in [0, 1] nor a percentage (FasterTransformer's "
      "--acc-threshold takes percentages: `35` alone is ambiguous).", "Write `0.35` or `35%`.")
def _(ctx):
    return Launch([ctx.job(), "--min-accuracy", "35"])
@case(JOB, "job file is a directory", "is a directory, not a YAML file",
      "The job path names a folder (exit code 2).", "Name the YAML file in it.", rc=2)
def _(ctx):
    os.makedirs(ctx.path("jobs"))
    return Launch(["validate", ctx.path("jobs")])


@case(JOB, "job file is a FIFO", "is a named pipe (FIFO), not a regular file",
      "The job path is a named pipe: reading it would wait for a writer, and under mpirun every "
      "rank reads the job file, which a pipe allows once (exit code 2, at once).",
      "Write the job to a file first.", rc=2)
def _(ctx):
    os.mkfifo(ctx.path("job.fifo"))
    return Launch([ctx.path("job.fifo")])


@case(JOB, "two YAML documents", "the job file holds 2 YAML documents",
      "The file has a `---` line followed by more keys: a second YAML document, which would be "
      "ignored.", "One job per file; several variants of a job go in one `sweep:`.",
      pattern=r"job\.yaml:\d+: the job file holds 2 YAML documents")
def _(ctx):
    return Launch([ctx.job(extra="---\nname: second\n")])


@case(JOB, "too many load threads", "load.threads must be <= 256, got 100000",
      "load.threads asks for more reading threads than make sense (each costs a stack; "
      "100000 exhaust the process).", "Use at most 256 (the default 4 suits most file systems).")
def _(ctx):
    return ctx.run(extra="load:\n  threads: 100000\n")


@case(JOB, "run named '.'", "name must not be '.'",
      "`.` and `..` name a group itself and its parent in the results file.", "Use another name.")
def _(ctx):
    return ctx.run(name=".")


@case(JOB, "dataset.max_tokens too small", "dataset.max_tokens must be 0 (no cut) or >= 2, got 1",
      "A cut to one token leaves no room for a context before the target.",
      "Use 0 (no cut) or a length such as 2048, the length BLOOM was trained on.")
def _(ctx):
    text = open(ctx.job()).read().replace("  limit: 8\n", "  limit: 8\n  max_tokens: 1\n")
    return Launch([ctx.job(text=text)])


@case(JOB, "section given twice", "'dataset' is given twice (first at line",
      "A section appears twice; YAML forbids it, and its keys would be merged silently.",
      "Keep one section with all its keys.")
def _(ctx):
    return ctx.run(extra="dataset:\n  limit: 3\n")


LAYOUT = "Parallel layout"


@case(LAYOUT, "tp does not divide the heads", "parallelism.tp = 4 does not divide the model's 6 attention heads",
      "Tensor parallelism splits the attention heads evenly over tp ranks.",
      "Pick a tp from the list the message gives (divisors of n_head that divide the ranks).")
def _(ctx):
    return ctx.run(ranks=4, model=TINY, extra="parallelism:\n  tp: 4\n")


@case(LAYOUT, "ranks not a multiple of tp", "parallelism.tp = 2 does not divide the 3 MPI rank(s)",
      "The ranks form groups of tp; 3 ranks cannot.", "Launch a multiple of tp ranks (mpirun -n).")
def _(ctx):
    return ctx.run(ranks=3, extra="parallelism:\n  tp: 2\n")


@case(LAYOUT, "tp without mpirun", "parallelism.tp = 2 does not divide the 1 MPI rank(s)",
      "The runner was started directly (one rank) for a tensor-parallel job.",
      "Launch it under mpirun -n TP x DP or srun.")
def _(ctx):
    return ctx.run(extra="parallelism:\n  tp: 2\n")


@case(LAYOUT, "dp x tp is not the world", "parallelism.dp = 3 x parallelism.tp = 1 = 3 ranks, but 2 were launched",
      "An explicit dp disagrees with the number of ranks.",
      "Drop parallelism.dp (it defaults to ranks / tp) or launch dp x tp ranks.")
def _(ctx):
    return ctx.run(ranks=2, extra="parallelism:\n  dp: 3\n")


@case(LAYOUT, "more ranks than passages", "3 data-parallel groups (3 ranks / tp 1) but only 2 passage(s)",
      "Every data-parallel group needs at least one passage.",
      "Launch fewer ranks, use a larger tp, or evaluate more passages (dataset.limit).")
def _(ctx):
    return ctx.run(ranks=3, limit=2)


@case(LAYOUT, "ranks see different inputs", "the ranks of this job see different inputs",
      "Ranks read different copies of an input (here rank 1's dataset, named through "
      "`${OMPI_COMM_WORLD_RANK}`, has one word changed): their rows would not belong together. "
      "Every rank fingerprints the job, config, weights, tokenizer and dataset before any work; the "
      "message names each rank and host that differs, what differs and the paths on both sides.",
      "Give every rank the same copy (node-local copies, environment variables in the job file).",
      pattern=r"rank 1 on \S+: dataset '[^']*lambada-1\.jsonl' [0-9a-f]{12} \(rank 0 on \S+: '[^']*lambada-0\.jsonl' [0-9a-f]{12}\)")
def _(ctx):
    with open(ctx.shared["dataset"]) as f:
        lines = f.readlines()[:8]
    ctx.write("lambada-0.jsonl", "".join(lines))
    ctx.write("lambada-1.jsonl", "".join(lines).replace(" the ", " a ", 1))
    return ctx.run(ranks=2, dataset=ctx.path("lambada-${OMPI_COMM_WORLD_RANK}.jsonl"))


MODEL = "Model folder"


@case(MODEL, "model folder missing", "does not exist (a HF BLOOM checkpoint folder",
      "model.path names nothing. The message says how to make a model of that name: "
      "`runner make-model --like NAME ...` for random weights of a BLOOM shape, or where to "
      "download the real ones. `runner validate` lists every input a job is missing.",
      "Check the path, or make or download the model there.",
      pattern=r"make random weights of this shape with `runner make-model --like PRESET --dtype "
              r"fp32 --out \S+no-such-model")
def _(ctx):
    return ctx.run(model=ctx.path("no-such-model"))


@case(MODEL, "config.json missing", "cannot open model config",
      "The folder has no config.json.", "Copy config.json from the model's HF repository.")
def _(ctx):
    m = ctx.model()
    os.remove(os.path.join(m, "config.json"))
    return ctx.run(model=m)


@case(MODEL, "config.json not JSON", "config.json: not valid JSON",
      "config.json is damaged.", "Download it again.")
def _(ctx):
    m = ctx.model()
    with open(os.path.join(m, "config.json"), "w") as f:
        f.write('{"n_head": 4,')
    return ctx.run(model=m)


@case(MODEL, "config.json lacks a key", "config.json: missing key 'n_head'",
      "config.json lacks a size the model needs (n_head, hidden_size, n_layer, vocab_size).",
      "Use the config.json of the checkpoint.")
def _(ctx):
    return ctx.run(model=edit_config(ctx, lambda c: c.pop("n_head")))


@case(MODEL, "not a BLOOM model", "model_type is \"gpt2\", only bloom is supported",
      "config.json describes another architecture.", "Point model.path at a BLOOM checkpoint.")
def _(ctx):
    return ctx.run(model=edit_config(ctx, lambda c: c.update(model_type="gpt2")))


@case(MODEL, "no weights", "no model.safetensors or model.safetensors.index.json",
      "The folder holds no weights the runner reads: safetensors, PyTorch .bin or a "
      "FasterTransformer folder (config.ini).",
      "Download model*.safetensors or pytorch_model*.bin (and the index, if sharded).")
def _(ctx):
    m = ctx.model()
    os.remove(os.path.join(m, "model.safetensors"))
    return ctx.run(model=m)


@case(MODEL, "shard missing", "model-00003-of-00003.safetensors (holding tensor",
      "model.safetensors.index.json names a shard file that is not there.",
      "Download the missing shard (the message names it).", pattern=r"does not exist")
def _(ctx):
    m = ctx.tiny()
    os.remove(os.path.join(m, "model-00003-of-00003.safetensors"))
    return ctx.run(model=m)


@case(MODEL, "tensor missing", "tensor h.0.mlp.dense_4h_to_h.bias (with or without `transformer.`) not found",
      "The weights lack a tensor BLOOM needs (incomplete download or another architecture).",
      "Download the checkpoint again.", output="incomplete")
def _(ctx):
    def drop(h):
        del h["transformer.h.0.mlp.dense_4h_to_h.bias"]
    return ctx.run(model=edit_header(ctx, drop))


@case(MODEL, "config disagrees with the weights", "are config.json and the weights of the same model?",
      "A tensor's shape is not what config.json implies (here hidden_size 64, weights of 32).",
      "Use the config.json that came with the weights.", output="incomplete",
      pattern=r"has shape \[3000, 32\], expected \[3000, 64\]")
def _(ctx):
    return ctx.run(model=edit_config(ctx, lambda c: c.update(hidden_size=64)))


@case(MODEL, "config has more layers than the weights", "tensor h.1.input_layernorm.weight (with or without",
      "config.json's n_layer is larger than the layers in the weights.",
      "Use the config.json that came with the weights.", output="incomplete")
def _(ctx):
    return ctx.run(model=edit_config(ctx, lambda c: c.update(n_layer=2)))


@case(MODEL, "format named but absent", "model.format is bin but there is no pytorch_model.bin",
      "model.format asks for a format whose files the folder does not hold.",
      "Drop model.format (auto finds the format) or point model.path at the right folder.")
def _(ctx):
    return ctx.run(model_extra="  format: bin\n")


@case(MODEL, "untied without lm_head", "tie_word_embeddings: false, but there is no lm_head.weight",
      "config.json says the output layer is its own tensor, but the weights have none (HF would "
      "start it from random values).",
      "Set tie_word_embeddings to true if the embedding is the output layer, or add lm_head.weight.")
def _(ctx):
    return ctx.run(model=edit_config(ctx, lambda c: c.update(tie_word_embeddings=False)))
@case(MODEL, "config asks for more memory than there is", "GB of weights per rank",
      "config.json's sizes (here vocab_size 3e9) ask for more memory than the machine has; the "
      "message gives each key's share (vocab_size x hidden_size for the embedding, n_layer x 12 "
      "x hidden_size^2 for the layers).",
      "Use the config.json of the checkpoint; a larger parallelism.tp divides the weights.",
      pattern=r"asks for \d+\.\d GB of weights per rank \(cpu x 4 bytes\): vocab_size 3000000000 x "
              r"hidden_size 32")
def _(ctx):
    return ctx.run(model=edit_config(ctx, lambda c: c.update(vocab_size=3 * 10 ** 9)))


ST = "Safetensors weights"


@case(ST, "file truncated", "(truncated file?)",
      "The weights file is shorter than its header says (interrupted download or copy).",
      "Download the file again; compare its size or sha256 with the repository's.",
      pattern=r"data_offsets \[\d+, \d+\] run past the end of the \d+-byte data section")
def _(ctx):
    m = ctx.model()
    st = os.path.join(m, "model.safetensors")
    os.truncate(st, os.path.getsize(st) - 1000)
    return ctx.run(model=m)


@case(ST, "header length past the end", "runs past the end of the",
      "The first 8 bytes (the header length) point past the end: a truncated or non-safetensors file.",
      "Download the file again.", pattern=r"header length \d+ runs past the end of the \d+-byte file")
def _(ctx):
    m = ctx.model()
    st = os.path.join(m, "model.safetensors")
    header, data = read_safetensors(st)
    write_safetensors(st, header, b"", header_len=10 ** 7)
    return ctx.run(model=m)


@case(ST, "file shorter than a header", "too short for a safetensors header",
      "The file has fewer than 8 bytes (empty download).", "Download the file again.")
def _(ctx):
    m = ctx.model()
    ctx.write("model/model.safetensors", b"\x01\x02")
    return ctx.run(model=m)


@case(ST, "header not JSON", "header is not valid JSON",
      "The header is damaged, or the file is not safetensors.", "Download the file again.")
def _(ctx):
    m = ctx.model()
    ctx.write("model/model.safetensors", struct.pack("<Q", 8) + b'{"a": 1' + b" " + b"\0" * 64)
    return ctx.run(model=m)


@case(ST, "overlapping tensors", "overlaps tensor",
      "Two tensors claim the same bytes: the header is corrupt.", "Download the file again.")
def _(ctx):
    def overlap(h):
        a, b = tensors_by_offset(h)[:2]
        n = h[a]["data_offsets"][1] - h[a]["data_offsets"][0]
        h[b]["data_offsets"] = [h[a]["data_offsets"][0], h[a]["data_offsets"][0] + n]
        h[b]["shape"], h[b]["dtype"] = h[a]["shape"], h[a]["dtype"]
    return ctx.run(model=edit_header(ctx, overlap))


@case(ST, "offsets reversed", "end before they begin",
      "A tensor's data_offsets are [begin, end] with end < begin: the header is corrupt.",
      "Download the file again.")
def _(ctx):
    def reverse(h):
        t = tensors_by_offset(h)[1]
        h[t]["data_offsets"] = h[t]["data_offsets"][::-1]
    return ctx.run(model=edit_header(ctx, reverse))


@case(ST, "offsets out of range", "run past the end of the",
      "A tensor's data_offsets point past the data section.", "Download the file again.",
      pattern=r"data_offsets \[\d+, \d+\] run past the end")
def _(ctx):
    def past(h):
        t = tensors_by_offset(h)[0]
        b, e = h[t]["data_offsets"]
        h[t]["data_offsets"] = [b + 10 ** 9, e + 10 ** 9]
    return ctx.run(model=edit_header(ctx, past))


@case(ST, "unknown dtype", "unknown dtype \"F17\"",
      "A tensor's dtype is not a safetensors dtype.", "Download the file again.")
def _(ctx):
    def dtype(h):
        h[tensors_by_offset(h)[0]]["dtype"] = "F17"
    return ctx.run(model=edit_header(ctx, dtype))


@case(ST, "shape does not match the bytes", "bytes each) needs",
      "A tensor's shape x dtype size is not the size of its byte range: the header is corrupt.",
      "Download the file again.", pattern=r"shape \[\d+(, \d+)*\] x F32 \(4 bytes each\) needs \d+ bytes but data_offsets")
def _(ctx):
    def shape(h):
        t = h["transformer.ln_f.weight"]
        t["shape"] = [t["shape"][0] * 2]
    return ctx.run(model=edit_header(ctx, shape))


@case(ST, "integer weights", "BLOOM weights must be F32, F16 or BF16",
      "A weight tensor is stored as integers (quantized checkpoints are not supported).",
      "Use the original fp32/fp16/bf16 weights.")
def _(ctx):
    def ints(h):
        h["transformer.ln_f.weight"]["dtype"] = "I32"
    return ctx.run(model=edit_header(ctx, ints))


# PyTorch .bin weights and FasterTransformer folders: tests/errors/catalogue_checkpoints.py.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import catalogue_checkpoints  # noqa: E402

for args in catalogue_checkpoints.CASES:
    CASES.append(Case(*args))
@case(ST, "NaN in the weights", "non-finite scores for scored row",
      "A weight holds NaN or Inf (here one value of ln_f.weight): every score it reaches is NaN. "
      "The batch that sees it stops the run, naming the batch, its passages and the statistic; no "
      "NaN row is ever written (and a complete file never holds a NaN summary).",
      "Download the checkpoint again; with fp16 weights of a model trained in bf16, try "
      "model.dtype: bf16 or fp32.", output="incomplete",
      pattern=r"batch \d+: non-finite scores for scored row \d+ of the batch \(sequence \d+, token \d+")
def _(ctx):
    m = ctx.model()
    st = os.path.join(m, "model.safetensors")
    header, data = read_safetensors(st)
    start = header["transformer.ln_f.weight"]["data_offsets"][0]
    data = data[:start] + struct.pack("<f", float("nan")) + data[start + 4:]
    write_safetensors(st, header, data)
    return ctx.run(model=m)


TOK = "Tokenizer"


@case(TOK, "tokenizer missing", "cannot be opened: No such file or directory",
      "No tokenizer.json at model.tokenizer (default: MODEL/tokenizer.json).",
      "Copy tokenizer.json from the model's HF repository, or set model.tokenizer.",
      pattern=r"model\.tokenizer '[^']+' cannot be opened: No such file")
def _(ctx):
    m = ctx.model()
    os.remove(os.path.join(m, "tokenizer.json"))
    return ctx.run(model=m)


@case(TOK, "tokenizer not JSON", "tokenizer.json: not valid JSON",
      "tokenizer.json is damaged (or is a different file).", "Download it again.",
      output="incomplete", pattern=r"tokenizer \S+tokenizer\.json: not valid JSON")
def _(ctx):
    m = ctx.model()
    ctx.write("model/tokenizer.json", '{"model": {"type": "BPE", ')
    return ctx.run(model=m)


@case(TOK, "tokenizer lacks the model", "tokenizer.json: model: missing",
      "tokenizer.json has no `model` (vocabulary and merges).", "Use the model's own tokenizer.json.",
      output="incomplete")
def _(ctx):
    m = ctx.model()
    with open(os.path.join(TINY, "tokenizer.json")) as f:
        t = json.load(f)
    del t["model"]
    ctx.write("model/tokenizer.json", json.dumps(t))
    return ctx.run(model=m)


@case(TOK, "merge names an unknown token", "is not in model.vocab",
      "A merge rule names a token missing from the vocabulary: the file is damaged or edited.",
      "Use the model's own tokenizer.json.", output="incomplete",
      pattern=r"model\.merges\[0\]: token \"zzqx\" is not in model\.vocab")
def _(ctx):
    m = ctx.model()
    with open(os.path.join(TINY, "tokenizer.json")) as f:
        t = json.load(f)
    t["model"]["merges"][0] = ["zzqx", "t"]
    ctx.write("model/tokenizer.json", json.dumps(t))
    return ctx.run(model=m)


@case(TOK, "not a byte-level BPE tokenizer", "is not supported, only \"BPE\"",
      "The tokenizer is of another kind (WordPiece, Unigram...): not BLOOM's.",
      "Use the BLOOM model's tokenizer.json.", output="incomplete")
def _(ctx):
    m = ctx.model()
    with open(os.path.join(TINY, "tokenizer.json")) as f:
        t = json.load(f)
    t["model"]["type"] = "WordPiece"
    ctx.write("model/tokenizer.json", json.dumps(t))
    return ctx.run(model=m)


@case(TOK, "tokenizer of another model", "outside the model's vocab of 3000",
      "The tokenizer gives ids the model does not have: tokenizer and weights do not belong together.",
      "Use the tokenizer.json that came with the weights.", output="incomplete")
def _(ctx):
    return ctx.run(model_extra=f"  tokenizer: {DATA}/bloom-style-50k/tokenizer.json\n")


DATASET = "Dataset"


@case(DATASET, "dataset missing", "cannot open dataset",
      "dataset.path does not name a readable file.", "Check the path.")
def _(ctx):
    return ctx.run(dataset=ctx.path("no-such.jsonl"))


@case(DATASET, "dataset empty", "holds no passages",
      "The dataset file is empty or has only blank lines.", "Point dataset.path at LAMBADA's JSON lines.")
def _(ctx):
    return ctx.run(dataset=ctx.write("empty.jsonl", "\n\n"))


@case(DATASET, "line not JSON", "d.jsonl:2: not a JSON line",
      "A line is not JSON (the message names the file and line).",
      "Fix or remove that line; the format is one `{\"text\": ...}` object per line.")
def _(ctx):
    return ctx.run(dataset=ctx.write("d.jsonl", '{"text": "a b"}\n{"text": "c d"\n'))


@case(DATASET, "line not an object", "d.jsonl:1: expected a JSON object with a \"text\" field",
      "A line holds JSON that is not an object (a string, a list...).", "Write `{\"text\": \"...\"}`.")
def _(ctx):
    return ctx.run(dataset=ctx.write("d.jsonl", '"just text"\n'))


@case(DATASET, "line lacks text", "d.jsonl:1: the object has no string field \"text\"",
      "An object has no `text` string (another field name, or a number).", "Name the field `text`.")
def _(ctx):
    return ctx.run(dataset=ctx.write("d.jsonl", '{"passage": "a b"}\n'))


@case(DATASET, "no space to split", "d.jsonl:3: passage has no space to split a last word off",
      "A passage is one word: there is no context before the last word.",
      "Remove it; each passage is a context followed by the word to predict.")
def _(ctx):
    return ctx.run(dataset=ctx.write("d.jsonl", '{"text": "a b"}\n\n{"text": "oneword"}\n'))


@case(DATASET, "empty last word", "d.jsonl:1: passage ends with a space, so its last word is empty",
      "A passage ends with a space (only trailing newlines are stripped, as in the reference).",
      "Strip the trailing spaces.")
def _(ctx):
    return ctx.run(dataset=ctx.write("d.jsonl", '{"text": "the last word is "}\n'))


@case(DATASET, "no context", "d.jsonl:1: passage has no context before its last word",
      "A passage starts with its only space: the context is empty.", "Remove the passage.")
def _(ctx):
    return ctx.run(dataset=ctx.write("d.jsonl", '{"text": " word"}\n'))


@case(DATASET, "two text fields", "d.jsonl:2: the object has 2 \"text\" fields",
      "A line's object has `text` twice; JSON readers keep one of them silently.",
      "Keep one `text` per line.")
def _(ctx):
    return ctx.run(dataset=ctx.write("d.jsonl", '{"text": "a b"}\n{"text": "c d", "text": "e f"}\n'))


@case(DATASET, "a pipe as the dataset of several ranks", "is not a regular file (a pipe or a device)",
      "dataset.path is a pipe (/dev/stdin, a process substitution) under mpirun: each rank reads "
      "the dataset, a pipe can be read once, and mpirun gives stdin to rank 0 only. (A single "
      "process reads a pipe once and keeps it.)", "Write the passages to a file first.")
def _(ctx):
    return ctx.run(ranks=2, dataset="/dev/stdin")


OUT = "Results file"


@case(OUT, "output folder is a file", "is not a directory",
      "A path component of output.path is a regular file.", "Fix the path.")
def _(ctx):
    f = ctx.write("plainfile", "x")
    return ctx.run(out=os.path.join(f, "r.h5"))


@case(OUT, "output folder not writable", "is not writable",
      "The runner may not create files in the folder (permissions, read-only file system).",
      "Pick a writable folder (e.g. on the scratch file system).")
def _(ctx):
    d = ctx.path("ro")
    os.makedirs(d)
    cleanup = None
    if os.geteuid() != 0:
        os.chmod(d, 0o555)
    elif subprocess.run(["mount", "--bind", "-o", "ro", d, d], capture_output=True).returncode == 0:
        cleanup = lambda: subprocess.run(["umount", d])  # noqa: E731
    else:  # root without mount rights: /proc/self is a folder nobody may create files in
        d = "/proc/self"
    launch = ctx.run(out=os.path.join(d, "r.h5"))
    launch.cleanup = cleanup
    return launch


@case(OUT, "output exists", "already exists: set output.resume to continue it or output.overwrite",
      "output.path exists and the job says neither resume nor overwrite.",
      "Set output.resume: true to continue it (finished runs are skipped), output.overwrite: true "
      "to replace it, or choose another path.", output="untouched")
def _(ctx):
    ctx.write("results.h5", b"previous results")
    return ctx.run()


@case(OUT, "resume a file that is not HDF5", "is not an HDF5 file",
      "output.resume is set but output.path holds something else.",
      "Choose another path, or output.overwrite: true to replace the file.", output="untouched")
def _(ctx):
    ctx.write("results.h5", b"not hdf5" * 100)
    return ctx.run(output_extra="  resume: true\n")


@case(OUT, "resume with other settings", "cannot resume results file",
      "The file's runs were computed with other settings than this job (here dataset.limit 4, the "
      "job says 8). Every run of the job the file holds, complete ones too, is compared: "
      "model.dtype, model.backend, method, dataset.limit, batch.size, batch.max_tokens and "
      "parallelism.tp (not dp: the batches are the same). The message names each difference; the "
      "file is not touched.",
      "Resume with the job that wrote the file, or use another output.path / output.overwrite.",
      output="untouched", pattern=r"run 'catalogue' \(complete\): dataset\.limit \(file: 4, job: 8\)")
def _(ctx):
    first = subprocess.run([RUNNER, ctx.job(limit=4)], env=ENV, capture_output=True, text=True,
                           timeout=TIMEOUT)
    assert first.returncode == 0, first.stdout + first.stderr
    return ctx.run(limit=8, output_extra="  resume: true\n")


def disk_full(ctx):
    d = ctx.path("small")
    os.makedirs(d)
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=128k", "tmpfs", d],
                      capture_output=True).returncode != 0:
        return None
    launch = ctx.run(out=os.path.join(d, "r.h5"), limit=500)
    launch.cleanup = lambda: subprocess.run(["umount", d])
    return launch


@case(OUT, "disk full", "No space left on device",
      "The file system of output.path has less room than the job's results can take. The runner "
      "reserves that space before it evaluates anything, so a disk that is full is refused at "
      "the start, and one that fills up later (other jobs) cannot cut a write short.",
      "Free space (or write to a larger file system), then rerun: the job starts afresh (or "
      "continues, with output.resume: true, a file that holds finished batches).",
      pattern=r"results file '[^']+' needs up to [\d.]+ MB of disk space but '[^']+' has [\d.]+ MB free")
def _(ctx):
    return disk_full(ctx)


@case(OUT, "file size limit", "the file-size limit (ulimit -f)",
      "A file-size limit (`ulimit -f`) is smaller than the job's results can take: refused before "
      "anything is evaluated.",
      "Raise the limit or write elsewhere, then rerun.",
      pattern=r"results file '[^']+' needs up to [\d.]+ MB but the file-size limit \(ulimit -f\) is 0\.1 MB")
def _(ctx):
    # Under mpirun, with the limit on the rank only: MPI's own start-up files must not hit it.
    # (sh's ulimit -f counts 512-byte blocks: 64 KiB.)
    job = ctx.job(limit=500)
    return Launch(None, out=ctx.out, cmd=[MPIEXEC, "-n", "1", "sh", "-c",
                                          f"ulimit -f 128 && exec {RUNNER} {job}"])


@case(OUT, "resume a bloom-eval/1 file", "was written by an older runner (schema bloom-eval/1)",
      "output.resume names a results file of the previous schema, which lacks the statistics and "
      "provenance /2 records: it can be read (runner report) but not continued.",
      "Keep it for reading; start afresh with output.overwrite: true (or --overwrite) or another "
      "output.path.", output="untouched")
def _(ctx):
    first = subprocess.run([RUNNER, ctx.job(limit=4)], env=ENV, capture_output=True, text=True,
                           timeout=TIMEOUT)
    assert first.returncode == 0, first.stdout + first.stderr
    with h5py.File(ctx.out, "r+") as f:  # as an older runner left it, killed
        f.attrs["schema"] = "bloom-eval/1"
        f.attrs["complete"] = 0
        f["runs/catalogue"].attrs["complete"] = 0
        g = f["runs/catalogue"]  # /1 had no statistics, provenance or checksums
        g.attrs["perplexity"] = g.attrs["token_perplexity"]
        for k in ["accuracy_stderr", "accuracy_ci95_low", "accuracy_ci95_high", "token_perplexity",
                  "passage_perplexity", "n_evaluated", "overrides", "started_utc", "finished_utc",
                  "environment", "config_sha256", "tokenizer_sha256", "dataset_sha256",
                  "weights_fingerprint", "attributes_crc32"]:
            del g.attrs[k]
        del f.attrs["attributes_crc32"], g["predictions/checksum"]
    return ctx.run(limit=4, output_extra="  resume: true\n")
def finished_file(ctx, limit=8):
    """ctx.out as a job of `limit` passages left it."""
    p = subprocess.run([RUNNER, ctx.job(limit=limit)], env=ENV, capture_output=True, text=True,
                       timeout=TIMEOUT)
    assert p.returncode == 0, p.stdout + p.stderr


@case(OUT, "resume with changed inputs", "cannot resume results file",
      "An input's bytes changed since the file's rows were computed (here one word of the "
      "dataset, the passage count kept; the same for the model config, the weights and the "
      "tokenizer). The file records each input's fingerprint (sha256; for weights of the file "
      "headers, sizes and ends) and resume compares them; the message names the input and both "
      "paths. Paths alone do not count: a moved or copied input resumes.",
      "Resume with the inputs that wrote the file, or use another output.path / output.overwrite.",
      output="untouched",
      pattern=r"dataset \(file: '[^']+' dataset_sha256 [0-9a-f]{12}, job: '[^']+' dataset_sha256 [0-9a-f]{12}\)")
def _(ctx):
    with open(ctx.shared["dataset"]) as f:
        lines = f.readlines()[:8]
    d = ctx.write("d.jsonl", "".join(lines))
    p = subprocess.run([RUNNER, ctx.job(dataset=d)], env=ENV, capture_output=True, text=True, timeout=TIMEOUT)
    assert p.returncode == 0, p.stdout + p.stderr
    ctx.write("d.jsonl", "".join(lines).replace(" the ", " a ", 1))
    return ctx.run(dataset=d, output_extra="  resume: true\n")


@case(OUT, "results file damaged", "is damaged",
      "The results file's bytes changed after it was written (a disk error, a bad copy, an edit "
      "by another tool): a chunk, a row or a group's attributes no longer matches its checksum, "
      "or HDF5 cannot read a structure. The file is read whole, in a child process, before it is "
      "resumed or reported: the message says what is damaged; nothing is read from it.",
      "Recompute: move the file away (or output.overwrite: true) and rerun; a copy may be intact.",
      output="untouched", pattern=r"results file '[^']+' is damaged: ")
def _(ctx):
    finished_file(ctx)
    with h5py.File(ctx.out, "r") as f:  # where target_logprob's chunk lies
        at = f["runs/catalogue/predictions/target_logprob"].id.get_chunk_info(0).byte_offset
    with open(ctx.out, "r+b") as f:
        f.seek(at + 8)
        b = f.read(1)
        f.seek(at + 8)
        f.write(bytes([b[0] ^ 0x10]))
    return ctx.run(output_extra="  resume: true\n")


@case(OUT, "results file in use", "is being written by another job",
      "Another job writes the same results file now (a resubmitted Slurm job, two sweeps with one "
      "output.path). The writer holds `<output.path>.lock` for its whole run; a second is refused "
      "at once, before it touches the file, and the message names the holder (process, host, "
      "Slurm job, start time).",
      "Wait for that job to end, or choose another output.path.", output="untouched",
      pattern=r"is being written by another job: process \d+ on host \S+, since")
def _(ctx):
    import fcntl
    finished_file(ctx)
    lock = open(ctx.out + ".lock", "w")
    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    lock.write(f"process {os.getpid()} on host {os.uname().nodename}, since 2026-01-01T00:00:00Z\n")
    lock.flush()
    launch = ctx.run(output_extra="  overwrite: true\n")
    launch.cleanup = lock.close
    return launch


@case(OUT, "output is an input", "would overwrite an input of the job",
      "output.path names (or links to) an input: the dataset here; a file of the model folder, "
      "the tokenizer or the job file are refused too, compared by real path and by inode.",
      "Write the results elsewhere.", output="untouched",
      pattern=r"output\.path '[^']+' would overwrite an input of the job: it is dataset\.path")
def _(ctx):
    with open(ctx.shared["dataset"]) as f:
        d = ctx.write("d.jsonl", "".join(f.readlines()[:8]))
    return ctx.run(dataset=d, out=d, output_extra="  overwrite: true\n")



ENVIRONMENT = "Environment variables"


@case(ENVIRONMENT, "a time limit that is not seconds", "is not a positive number of seconds",
      "A time limit read from the environment (BLOOM_COMM_TIMEOUT_S, BLOOM_NCCL_TIMEOUT_S, "
      "BLOOM_VERIFY_TIMEOUT_S: how long a read of an existing results file may take) is not a "
      "number of seconds greater than 0 (here `ten`; `5s` is refused too). The message names the "
      "variable and its value.",
      "Give plain seconds: `BLOOM_COMM_TIMEOUT_S=600`; unset it for the default.",
      pattern=r"BLOOM_COMM_TIMEOUT_S='ten' is not a positive number of seconds")
def _(ctx):
    launch = ctx.run(ranks=2)
    launch.cmd = ["env", "BLOOM_COMM_TIMEOUT_S=ten", RUNNER] + launch.args
    return launch


@case(ENVIRONMENT, "a results file too slow to read", "did not finish within",
      "An existing results file (to resume or report) is read whole in a child process first; "
      "that read took longer than BLOOM_VERIFY_TIMEOUT_S (default 30 s, plus a second per 20 MB "
      "of file). HDF5 1.10 loops forever on some damaged structures (here a results file with "
      "inverted bytes in its global heap, tests/data/results-damaged), so the file is reported "
      "damaged; a healthy file reads in well under a second.",
      "Treat the file as damaged (recompute, or use a copy); only on a file system known to be "
      "that slow, raise BLOOM_VERIFY_TIMEOUT_S.",
      output="untouched", pattern=r"results file '[^']+' is damaged: reading it did not finish within 2 s")
def _(ctx):
    shutil.copy(os.path.join(DATA, "results-damaged/heap-loop.h5"), ctx.out)
    launch = ctx.run(output_extra="  resume: true\n")
    launch.cmd = ["env", "BLOOM_VERIFY_TIMEOUT_S=2", RUNNER] + launch.args
    return launch

# ---- running ----------------------------------------------------------------------------------

def descendants(pid):
    """Every process below pid (mpirun's ranks run in process groups of their own)."""
    children = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(d))
    out, todo = [], [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


def kill_tree(pid):
    for p in [pid] + descendants(pid):
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass


def file_digest(path):
    if not os.path.exists(path):
        return None
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def run_case(c, tmp, shared):
    ctx = Ctx(tmp, shared)
    launch = c.make(ctx)
    if launch is None:
        return "skip", "needs root with mount rights"
    out = launch.out or ctx.out
    before = file_digest(out)
    cmd = launch.cmd or [RUNNER] + launch.args
    if launch.ranks > 1:
        cmd = [MPIEXEC, "--oversubscribe", "-n", str(launch.ranks)] + cmd
    t0 = time.time()
    proc = subprocess.Popen(cmd, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, cwd=tmp, start_new_session=True)
    try:
        out_text, err_text = proc.communicate(timeout=TIMEOUT)
        rc = proc.returncode
    except subprocess.TimeoutExpired:
        kill_tree(proc.pid)
        out_text, err_text = proc.communicate()
        rc = None
    out_text, err_text = out_text.decode(errors="replace"), err_text.decode(errors="replace")
    text = out_text + err_text
    result = check_output(c, out, before)
    if launch.cleanup:
        launch.cleanup()
    took = time.time() - t0
    problems = []
    if rc is None:
        problems.append(f"hung: killed after {TIMEOUT} s")
    elif rc != c.rc:
        problems.append(f"exit code {rc}, not {c.rc}")
    if c.message not in err_text:
        problems.append(f"message {c.message!r} not on stderr" +
                        (" (it is on stdout)" if c.message in out_text else ""))
    if c.pattern and not re.search(c.pattern, err_text):
        problems.append(f"no match for /{c.pattern}/ on stderr")
    where = re.search(r"\w+\.(cpp|h|cu):\d+", text)
    if where:
        problems.append(f"source location {where.group(0)!r} shown without -v")
    for path in launch.absent:
        if os.path.exists(path):
            problems.append(f"{path} exists: the input's code ran")
    for sign in CRASH_SIGNS:
        if sign in text:
            problems.append(f"crash sign {sign!r} in the output")
    if result:
        problems.append(result)
    lines = [l for l in text.splitlines() if "[critical]" in l] or text.strip().splitlines() or [""]
    shown = lines[0][:300]
    if problems:
        return "fail", "; ".join(problems) + f" (rc {rc}, {took:.1f} s)\n      output: " + text.strip()[-1500:]
    return "ok", f"rc {rc}, {took:.1f} s: {shown}"


def check_output(c, out, before):
    after = file_digest(out)
    if c.output == "untouched":
        return None if after == before else "existing file was modified"
    if after is None:
        return None
    if c.output == "absent":
        return f"results file {out} left behind (the mistake should be caught before it is created)"
    try:
        with h5py.File(out, "r") as f:
            complete = int(f.attrs["complete"])
    except Exception as e:  # noqa: BLE001
        return f"results file left behind that cannot be read ({e})"
    return None if complete == 0 else "results file left with complete = 1"


def make_shared(tmp):
    model = os.path.join(tmp, "model")
    subprocess.run([RUNNER, "make-model", "--like", "tiny", "--n-layer", "1", "--hidden", "32",
                    "--n-head", "4", "--dtype", "fp32", "--tokenizer", os.path.join(TINY, "tokenizer.json"),
                    "--out", model], env=ENV, check=True, capture_output=True)
    dataset = os.path.join(tmp, "lambada-500.jsonl")
    with open(LAMBADA) as src, open(dataset, "w") as dst:
        for _ in range(500):
            dst.write(next(src))
    return {"model": model, "dataset": dataset}


# ---- the users' document ----------------------------------------------------------------------

def doc_text():
    out = ["<!-- Generated by tests/errors/catalogue.py (--write-doc); edit the catalogue there. -->",
           "# Error catalogue",
           "",
           "Every mistake below is a test (tests/errors/catalogue.py): the runner stops with exit "
           "code 1 (2 for a usage error: a job path that is not a readable regular file, as the "
           "cause says), prints a message containing the text in the first column on stderr, and "
           "leaves no results file that looks complete. Messages start with where the problem is "
           "(`FILE:LINE:COLUMN` for the job file, `FILE:LINE` for the dataset, the file and tensor "
           "for weights); under several ranks they end with `[rank R on HOST]`, and `runner -v` "
           "adds the source line of the check (`[source:line, check ..., rank R on HOST]`) for bug "
           "reports. Every exit code is listed by `runner --help` and in the README.",
           "",
           "Most mistakes are caught before the results file is created, in the first second; "
           "`runner validate JOB.yaml` checks a job without running it. A run that fails after it "
           "started leaves its file with the root attribute `complete` = 0: fix the cause and "
           "rerun with `output.resume: true` to keep every finished batch.",
           "",
           "Faults (a killed rank or launcher, a stopped rank, SIGTERM at a time limit, Ctrl-C, an "
           "error on one rank, a full disk) are covered by tests/errors/faults.py: the job ends "
           "with a non-zero exit code in bounded time, no rank keeps running, and resuming the "
           "file gives the results of an uninterrupted run (last table).",
           ""]
    sections = []
    for c in CASES:
        if c.section not in sections:
            sections.append(c.section)
    for s in sections:
        out += [f"## {s}", "", "| Message contains | Cause | Fix |", "|---|---|---|"]
        for c in CASES:
            if c.section == s:
                cell = lambda t: t.replace("|", "\\|")  # noqa: E731
                out.append(f"| `{cell(c.message)}` | {cell(c.cause)} | {cell(c.fix)} |")
        out.append("")
    out += ["## Faults during a run (tests/errors/faults.py)", "",
            "| What you see | Cause | What to do |", "|---|---|---|"]
    for seen, cause, fix in FAULTS:
        out.append(f"| {seen} | {cause} | {fix} |")
    out.append("")
    return "\n".join(out)


FAULTS = [
    ("`SIGTERM: stopping; the batch in flight is kept if it ends within 0.5 s`, then (after `the "
     "batch in flight did not end within 0.5 s: stopping now; the batch in flight is abandoned`) "
     "`stopped by a signal; FILE keeps every finished batch, rerun with output.resume: true to "
     "continue`; exit code 3 (under mpirun signalled itself: mpirun's own code, 1)",
     "SIGTERM: Slurm's time limit, scancel; mpirun passes its own SIGTERM or Ctrl-C to the ranks "
     "as SIGTERM. A batch in flight is kept only if it ends within 0.5 s, so the job ends in "
     "about a second: within Slurm's KillWait (30 s by default) and before mpirun's SIGKILL "
     "(1-2 s after its SIGTERM). The file is flushed after every batch.",
     "Rerun the same job with `output.resume: true` (in a longer allocation)."),
    ("`Ctrl-C: stopping after the current batch (the results file stays resumable); Ctrl-C "
     "again to stop now`; exit code 3",
     "Ctrl-C in the terminal of a run started from a shell: every group stops after its current "
     "batch. A second Ctrl-C stops at once (the batch in flight is recomputed on resume).",
     "Rerun with `output.resume: true`."),
    ("`the launcher (mpirun, srun) is gone: stopping now`",
     "mpirun (or srun's step daemon) was killed, e.g. with SIGKILL: no one is left to stop the "
     "ranks or read their output, so each rank notices that its launcher is gone and stops "
     "within a second, leaving the file resumable.",
     "Rerun with `output.resume: true`."),
    ("`MPI OP of rank R/N did not finish within T s (BLOOM_COMM_TIMEOUT_S): a peer rank is dead "
     "or stuck` (`NCCL ...` on GPUs), then `MPI_ABORT was invoked`",
     "A rank stopped (SIGSTOP, a debugger, a hung file system or node) for longer than "
     "BLOOM_COMM_TIMEOUT_S (default 300 s). Every wait for other ranks is watched, and waits "
     "sleep rather than spin: the job is aborted instead of hanging with cores at 100%.",
     "Find the stalled node, rerun with `output.resume: true`; raise BLOOM_COMM_TIMEOUT_S if a "
     "rank may legitimately fall that far behind."),
    ("mpirun reports a rank that exited on a signal (e.g. 9, Killed) and ends the job",
     "A rank died: the out-of-memory killer, a node failure. The file keeps every batch written "
     "before, `complete` = 0.",
     "Fix the cause (more memory per rank: a larger tp), rerun with `output.resume: true`."),
    ("`MPI_ABORT was invoked on rank R` after an error message naming `rank R on HOST`",
     "An error on one rank only (a device error, a node-local file that changed during the run: "
     "copies that differ at the start are refused before any work); the runner aborts every "
     "rank rather than let them wait.",
     "Fix that rank's input or node, rerun with `output.resume: true`."),
]


def main():
    global RUNNER, MPIEXEC
    args = sys.argv[1:]
    if len(args) < 2:
        print(__doc__)
        return 2
    RUNNER, MPIEXEC = os.path.abspath(args[0]), args[1]
    rest = args[2:]
    only = None
    if "-k" in rest:
        only = rest[rest.index("-k") + 1]
    if "--write-doc" in rest:
        i = rest.index("--write-doc")
        path = rest[i + 1] if i + 1 < len(rest) and not rest[i + 1].startswith("-") else DOC
        with open(path, "w") as f:
            f.write(doc_text())
        print(f"wrote {path} ({len(CASES)} entries)")
        return 0
    passed = failed = skipped = 0
    with tempfile.TemporaryDirectory(prefix="bloom-catalogue-") as tmp:
        shared = make_shared(tmp)
        for i, c in enumerate(CASES):
            if only and only not in c.name:
                continue
            case_dir = os.path.join(tmp, f"case{i:02d}")
            os.makedirs(case_dir)
            status, detail = run_case(c, case_dir, shared)
            tag = {"ok": "ok  ", "fail": "FAIL", "skip": "skip"}[status]
            print(f"{tag} [{c.section}] {c.name}: {detail}", flush=True)
            passed += status == "ok"
            failed += status == "fail"
            skipped += status == "skip"
    if only is None:
        current = open(DOC).read() if os.path.exists(DOC) else ""
        if current == doc_text():
            print(f"ok   jobs/ERRORS.md lists the {len(CASES)} cases")
            passed += 1
        else:
            print("FAIL jobs/ERRORS.md is out of date: run tests/errors/catalogue.py RUNNER MPIEXEC --write-doc")
            failed += 1
    print(f"{len(CASES)} cases" + (f" ({skipped} skipped)" if skipped else "") + " and the ERRORS.md check:")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

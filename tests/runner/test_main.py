#!/usr/bin/env python3
"""The command line as a user meets it (runner/main.cpp, run_cmd.cpp, progress.cpp).

usage: test_main.py RUNNER MPIEXEC

  exit codes   usage errors give 2 from every command (CLI11's own codes are 104-109), a
               failed job 1, --help and --version 0; --help lists every exit code.
  streams      errors go to stderr with nothing on stdout, without source locations unless -v
               (`[file.cpp:123, check ...]`), whose location then names a source file.
  verbosity    -v and -q are accepted before the job (`runner -v JOB.yaml`) and after it:
               -v adds the debug lines (batch plan, per-batch timings), -q leaves only warnings.
  progress     under mpirun, with stdout going to a file, no `\\r` bar lands in the log (Open MPI
               gives the ranks a pty); --progress bar asks for it; --progress takes bar, lines
               or none.
Ends with "N passed, M failed"; exits 1 on any failure.
"""
import os
import re
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TINY = os.path.join(ROOT, "tests/data/tiny-bloom")
LAMBADA = os.path.join(ROOT, "tests/data/lambada/lambada_test.jsonl")
RUNNER, MPIEXEC = os.path.abspath(sys.argv[1]), sys.argv[2]
ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
           OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
PASSED, FAILED = [], []
SOURCE_LOCATION = re.compile(r"\w+\.(cpp|h|cu):\d+")


def check(cond, msg):
    print(("ok   " if cond else "FAIL ") + msg, flush=True)
    (PASSED if cond else FAILED).append(msg)
    return cond


def runner(args, cwd, mpi=0, stdout=subprocess.PIPE):
    cmd = [RUNNER] + args if mpi == 0 else [MPIEXEC, "--oversubscribe", "-n", str(mpi), RUNNER] + args
    p = subprocess.run(cmd, cwd=cwd, env=ENV, stdout=stdout, stderr=subprocess.PIPE, timeout=300,
                       stdin=subprocess.DEVNULL)
    # Decoded by hand: text=True would turn the bar's \r into \n.
    p.stdout = p.stdout.decode(errors="replace") if p.stdout is not None else ""
    p.stderr = p.stderr.decode(errors="replace")
    return p


def write_job(tmp, name="j", limit=64, extra=""):
    path = os.path.join(tmp, name + ".yaml")
    with open(path, "w") as f:
        f.write(f"name: {name}\nmodel:\n  path: {TINY}\ndataset:\n  path: {LAMBADA}\n  limit: {limit}\n"
                f"batch:\n  max_tokens: 1024\noutput:\n  path: {tmp}/{name}.h5\n  overwrite: true\n{extra}")
    return path


def case_exit_codes(tmp):
    job = write_job(tmp)
    usage = {
        "no command": [],
        "unknown option": ["--frobnicate", job],
        "run: job file missing": ["run", os.path.join(tmp, "none.yaml")],
        "validate: job file missing": ["validate", os.path.join(tmp, "none.yaml")],
        "plain: job file missing": [os.path.join(tmp, "none.yaml")],
        "report: --csv with --json": ["report", "--csv", "--json", "x.h5"],
        "make-model: --like missing": ["make-model", "--out", os.path.join(tmp, "m")],
        "-v with -q": ["-v", "-q", job],
        "--progress fancy": ["run", "--progress", "fancy", job],
    }
    for what, args in usage.items():
        p = runner(args, tmp)
        check(p.returncode == 2 and p.stdout == "" and p.stderr.strip() != "",
              f"usage error ({what}): exit code 2, the message on stderr (rc {p.returncode}: {p.stderr.strip()[:120]!r})")
    p = runner(["--help"], tmp)
    codes = all(re.search(rf"^\s+{c}\s+\S", p.stdout, re.M) for c in range(5))
    check(p.returncode == 0 and "Exit codes" in p.stdout and codes, "--help: exit code 0, lists exit codes 0 to 4")
    check(runner(["--version"], tmp).returncode == 0, "--version: exit code 0")
    bad = write_job(tmp, "bad", extra="batch:\n  size: 0\n")
    p = runner([bad], tmp)
    check(p.returncode == 1, f"a bad job: exit code 1 (rc {p.returncode})")


def case_streams(tmp):
    bad = write_job(tmp, "bad", extra="parallelism:\n  tp: 4\n")
    for cmd in ([bad], ["validate", bad]):
        p = runner(cmd, tmp)
        check(p.returncode == 1 and p.stdout == "" and "does not divide" in p.stderr,
              f"{cmd[0] if len(cmd) > 1 else 'run'}: the error on stderr, nothing on stdout")
        check(not SOURCE_LOCATION.search(p.stderr), f"no source location without -v: {p.stderr.strip()[-160:]!r}")
        p = runner(["-v"] + cmd, tmp)
        m = re.search(r"\[[^\s\[\]]*?(\w+\.cpp):\d+[,\]]", p.stderr)  # any checkout path
        check(p.returncode == 1 and m is not None and os.path.exists(os.path.join(ROOT, "runner", m.group(1))),
              f"-v: the source location, a file of the runner ({m.group(1) if m else p.stderr.strip()[-160:]})")
    p = runner(["report", os.path.join(tmp, "none.h5")], tmp)
    check(p.returncode == 1 and p.stdout == "" and p.stderr.startswith("error: ")
          and not SOURCE_LOCATION.search(p.stderr), f"report: `error: ...` on stderr, no location ({p.stderr.strip()[:160]!r})")


def case_verbosity(tmp):
    job = write_job(tmp)
    for args in (["-v", job], [job, "-v"], ["run", "-v", job], ["--verbose", "validate", job]):
        p = runner(args, tmp)
        debug = "validate" in args or "batch plan:" in p.stdout and re.search(r"batch 0 \(dp group 0\)", p.stdout)
        check(p.returncode == 0 and debug, f"runner {' '.join(a if a != job else 'JOB' for a in args)}: accepted"
                                           + ("" if "validate" in args else ", with the batch plan and per-batch timings"))
    p = runner(["-q", job], tmp)
    check(p.returncode == 0 and "[info]" not in p.stdout and "[debug]" not in p.stdout,
          f"-q: no info lines ({p.stdout.strip()[:160]!r})")
    p = runner([job], tmp)
    check(p.returncode == 0 and "[info]" in p.stdout and "[debug]" not in p.stdout, "default: info, no debug")


def case_progress(tmp):
    job = write_job(tmp, limit=256)
    log = os.path.join(tmp, "log.txt")
    with open(log, "w") as f:
        p = runner([job], tmp, mpi=1, stdout=f)
    text = open(log, newline="").read()  # newline="": keep the \r that universal newlines would turn into \n
    check(p.returncode == 0 and "accuracy" in text and "\r" not in text,
          "under mpirun with stdout to a file: no \\r progress bar in the log")
    with open(log, "w") as f:
        p = runner(["run", "--progress", "bar", job], tmp, mpi=1, stdout=f)
    check(p.returncode == 0 and "\r[" in open(log, newline="").read(), "--progress bar: the bar, on request")
    p = runner(["run", "--progress", "none", job], tmp, mpi=2)
    check(p.returncode == 0 and "\r" not in p.stdout and "progress:" not in p.stdout, "--progress none: nothing")


if __name__ == "__main__":
    for c in (case_exit_codes, case_streams, case_verbosity, case_progress):
        print(f"--- {c.__name__[5:]}", flush=True)
        with tempfile.TemporaryDirectory(prefix="bloom-cli-") as tmp:
            c(tmp)
    print(f"{len(PASSED)} passed, {len(FAILED)} failed")
    sys.exit(1 if FAILED else 0)

#!/usr/bin/env python3
"""Benchmark the cost of ``roar run`` (tracer + recording) against untraced baselines.

Not a pytest test. Usage:

    python benchmarks/bench_run.py                 # 7 rounds, big_io 1024 MiB
    python benchmarks/bench_run.py --quick         # 3 rounds, big_io 256 MiB
    python benchmarks/bench_run.py --rounds 11 --size-mb 512 --only startup,io_script
    python benchmarks/bench_run.py --venv --only startup          # in a 300-distribution venv
    python benchmarks/bench_run.py --venv --wheel dist/roar-*.whl --dists 400 --only startup
    python benchmarks/bench_run.py --venv --only startup --instructions  # + valgrind counts
    python benchmarks/bench_run.py --venv --only startup --baseline e67226b  # + that revision

Every figure is a ratio or difference against a baseline measured in the same run
(never a hard-coded number). Each round runs every variant once, in an order that
rotates from round to round, so machine noise hits all variants alike; figures are
medians over the rounds. Raw timings go to ``benchmarks/results/bench_run-*.json``.

Measurements (see benchmarks/README.md):

1. startup:   side by side, ``roar run -q true`` vs bare ``true``     (target <= 100 ms more),
              ``roar --version`` and ``roar --help`` vs ``python -c pass`` (each <= 40 ms more)
2. io_script: a Python script reading 1,000 small files and writing 200, under
              ``roar run -q`` vs untraced                             (target <= 1 s under roar)
3. workloads: /work/shared/tracing/workloads/{small_files,many_procs,cpu_bound,big_io}
              untraced vs ``roar run -q`` vs the tracer alone (roar._native.spawn_traced)
              vs ``strace -f --seccomp-bpf -e trace=file,process``
              (targets for the tracer alone: small_files <= 3x and faster than strace,
              many_procs <= 2.5x, cpu_bound and big_io <= 1.1x)

roar's start-up depends on the environment it runs in (``importlib.metadata`` scans every
installed distribution), so the run reports how many distributions roar's interpreter sees.
``--venv`` measures in an environment like an ML user's: a throw-away virtualenv whose
interpreter sees this interpreter's packages (its site-packages and editable roots go on the
venv's path through one ``.pth`` file; other ``.pth`` start-up hooks of this host are not run)
plus, when those are fewer than ``--dists`` (default 300), SYNTHETIC distributions: empty
``roar_bench_filler_NNNN-1.0.dist-info`` folders holding only METADATA, RECORD and
INSTALLER, no code. They cost nothing to install and weigh on a metadata scan like real ones.
With ``--wheel PATH`` that wheel is installed into the venv (``pip --python VENV install
--no-deps``) and timed through the ``roar`` script pip writes; otherwise the venv runs the roar
this interpreter imports, through a launcher identical to pip's console script.

``--baseline REV`` also times, in the same rounds, the roar of git revision REV: its ``roar/``
from ``git archive`` with this build's native module, through ``PYTHONPATH``, in a repository
of its own (``roar init`` by that roar: its store schema). On a loaded machine this is the only
fair before/after: both see the same load.

``--instructions`` also counts, with valgrind's callgrind, the instructions each start-up
variant executes in roar's own process (not git's or the traced command's) and prints them as
differences to ``python -c pass``: unlike wall time, they do not grow with the machine's load.

When ``PYTHONDONTWRITEBYTECODE`` is set (as on some CI machines), the timed processes run
without it and with a private ``PYTHONPYCACHEPREFIX``, after one untimed warm-up of each
start-up variant: a user's install has bytecode, and compiling roar's sources in every
round would be counted as roar's cost.

The script builds its own throw-away git repository in a temp dir (``git init``, a
commit, ``roar init -y``, commit ``.gitignore``) and deletes it at the end
(``--keep`` keeps it).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import pathlib
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = pathlib.Path(__file__).resolve().parent
DEFAULT_WORKLOADS = pathlib.Path("/work/shared/tracing/workloads")
MEASUREMENTS = ("startup", "io_script", "workloads")

# Drives one tracer backend alone (ROAR_BENCH_BACKEND, default ptrace), the way
# roar/tracing/run.py does, and prints the time from spawn to
# the end of wait() (so the interpreter start-up of the driver itself is not counted).
TRACER_DRIVER = r"""
import json, os, sys, time
from roar import _native
t0 = time.perf_counter()
backend = os.environ.pop("ROAR_BENCH_BACKEND", "ptrace")
p = _native.spawn_traced(sys.argv[1:], dict(os.environ), os.getcwd(), backend)
raw = None
while raw is None:
    raw = p.wait(0.25)
dt = time.perf_counter() - t0
s = json.loads(raw)
if s.get("exit_code") != 0:
    sys.exit(f"traced command failed: {s.get('exit_code')} {s.get('exec_error')}")
print(f"\n@@tracer@@ {dt:.9f} {len(s.get('files', []))} {len(s.get('processes', []))}")
"""

IO_SCRIPT = """\
import os
n_in, n_out = 1000, 200
total = 0
for i in range(n_in):
    with open(os.path.join("inputs", f"in{i:04d}.txt"), "rb") as f:
        total += len(f.read())
os.makedirs("outputs", exist_ok=True)
for i in range(n_out):
    with open(os.path.join("outputs", f"out{i:03d}.txt"), "w") as f:
        f.write(f"{i} {total}\\n" * 8)
"""


# --------------------------------------------------------------------------- helpers


def git_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        GIT_AUTHOR_NAME="bench",
        GIT_AUTHOR_EMAIL="bench@example.invalid",
        GIT_COMMITTER_NAME="bench",
        GIT_COMMITTER_EMAIL="bench@example.invalid",
    )
    return env


def sh(argv, cwd, env=None, check=True) -> subprocess.CompletedProcess:
    return subprocess.run(argv, cwd=cwd, env=env, check=check, capture_output=True, text=True)


def timed(argv, cwd, env=None) -> float:
    """Wall time of one run of argv (stdout discarded). Raises if it fails."""
    t0 = time.perf_counter()
    r = subprocess.run(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    t = time.perf_counter() - t0
    if r.returncode != 0:
        err = r.stderr[-2000:].decode(errors="replace")
        raise RuntimeError(f"{' '.join(map(str, argv))} exited {r.returncode}: {err}")
    return t


def timed_tracer(argv, cwd, env=None, backend="ptrace") -> float:
    env = {**(env or os.environ), "ROAR_BENCH_BACKEND": backend}
    r = subprocess.run(
        [sys.executable, "-c", TRACER_DRIVER, *argv],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
    )
    if r.returncode != 0:
        raise RuntimeError(f"tracer driver on {argv} exited {r.returncode}: {r.stderr[-2000:]}")
    line = [ln for ln in r.stdout.splitlines() if ln.startswith("@@tracer@@ ")][-1]
    return float(line.split()[1])


def run_rounds(variants: dict, rounds: int, label: str) -> dict[str, list[float]]:
    """variants: name -> zero-arg callable returning seconds. Order rotates each round."""
    names = list(variants)
    times: dict[str, list[float]] = {n: [] for n in names}
    for r in range(rounds):
        k = r % len(names)
        order = names[k:] + names[:k]
        for n in order:
            times[n].append(variants[n]())
        print(
            f"  {label} round {r + 1}/{rounds}: "
            + "  ".join(f"{n}={times[n][-1]:.3f}s" for n in names),
            flush=True,
        )
    return times


def workload_result(argv, times: dict[str, list[float]]) -> dict:
    """One workload's timings, medians and ratios to the untraced run, as the JSON records them."""
    base = med(times["untraced"])
    return {
        "argv": argv,
        "times": times,
        "medians_s": {k: med(v) for k, v in times.items()},
        "ratio_to_untraced": {k: med(v) / base for k, v in times.items()},
    }


def med(xs):
    return statistics.median(xs)


def find_roar() -> list[str]:
    """roar's own entry point next to this interpreter, so that a version-manager shim on
    PATH (pyenv's is a bash script that re-execs itself) is not counted as roar's cost."""
    sibling = pathlib.Path(sys.executable).parent / "roar"
    if sibling.is_file() and os.access(sibling, os.X_OK):
        return [str(sibling)]
    exe = shutil.which("roar")
    return [exe] if exe else [sys.executable, "-m", "roar"]


def path_roar(roar: list[str]) -> list[str] | None:
    """The `roar` a user gets from PATH, if it is not the one we already time."""
    exe = shutil.which("roar")
    if exe and os.path.realpath(exe) != os.path.realpath(roar[0]):
        return [exe]
    return None


# --------------------------------------------------------------------------- setup


def make_repo(
    base: pathlib.Path, roar: list[str] | None = None, extra_env: dict | None = None
) -> pathlib.Path:
    repo = base / "repo"
    repo.mkdir()
    env = {**git_env(), **(extra_env or {})}
    sh(["git", "init", "-q", "-b", "main"], repo, env)
    (repo / "README.md").write_text("roar benchmark scratch repository\n")
    (repo / "io_script.py").write_text(IO_SCRIPT)
    sh(["git", "add", "README.md", "io_script.py"], repo, env)
    sh(["git", "commit", "-q", "-m", "init"], repo, env)
    sh((roar or find_roar()) + ["init", "-y"], repo, env)
    with open(repo / ".gitignore", "a") as f:
        f.write("scratch/\n")  # WORK dirs of the shared workloads
    sh(["git", "add", ".gitignore"], repo, env)
    sh(["git", "commit", "-q", "-m", "roar init"], repo, env)
    # 1,000 small untracked inputs for io_script.py (created outside any timing)
    inputs = repo / "inputs"
    inputs.mkdir()
    for i in range(1000):
        (inputs / f"in{i:04d}.txt").write_text(f"input {i}\n" * 12)
    (repo / "scratch").mkdir()
    return repo


FILLER = "roar_bench_filler_{:04d}"
LAUNCHER = """\
#!{python}
import sys
from roar.cli.main import main
if __name__ == "__main__":
    sys.exit(main())
"""
COUNT_DISTS = (
    "import importlib.metadata as m; "
    "print(len({(d.metadata['Name'] or '').lower() for d in m.distributions()}))"
)


def count_distributions(python: str) -> int:
    """How many distinct distributions ``python`` can see (what a metadata scan walks)."""
    return int(sh([python, "-c", COUNT_DISTS], HERE).stdout)


def parent_paths() -> list[str]:
    """This interpreter's import path minus the standard library and this script's folder:
    its site-packages and editable roots (so PYTHONPATH=OLD_TREE times an older roar)."""
    bare = sh([sys.executable, "-I", "-S", "-c", "import sys; print(*sys.path, sep=chr(10))"], HERE)
    stdlib = {os.path.realpath(p) for p in bare.stdout.splitlines() if p}
    kept: list[str] = []
    for entry in sys.path:
        real = os.path.realpath(entry) if entry else ""
        if entry and os.path.isdir(entry) and real not in stdlib | {str(HERE)} | set(kept):
            kept.append(real)
    return kept


def make_venv(
    base: pathlib.Path, dists: int, wheel: pathlib.Path | None
) -> tuple[list[str], str, dict]:
    """A throw-away venv seeing at least ``dists`` distributions. Returns roar's command, the
    venv's python, and what went into it (see the module docstring)."""
    venv = base / "venv"
    sh([sys.executable, "-m", "venv", "--without-pip", str(venv)], base)
    python = str(venv / "bin" / "python")
    site = pathlib.Path(
        sh(
            [python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], base
        ).stdout.strip()
    )
    (site / "_roar_bench_parent.pth").write_text("\n".join(parent_paths()) + "\n")
    roar = venv / "bin" / "roar"
    if wheel is not None:
        sh([sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-deps",
            str(wheel)], base)  # fmt: skip
    else:
        roar.write_text(LAUNCHER.format(python=python))
        roar.chmod(0o755)
    real = count_distributions(python)
    for i in range(max(0, dists - real)):
        name = FILLER.format(i)
        info = site / f"{name}-1.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: {name.replace('_', '-')}\nVersion: 1.0\n"
        )
        (info / "INSTALLER").write_text("bench_run\n")
        (info / "RECORD").write_text(
            "".join(f"{info.name}/{f},,\n" for f in ("METADATA", "INSTALLER", "RECORD"))
        )
    return (
        [str(roar)],
        python,
        {
            "path": str(venv),
            "wheel": str(wheel) if wheel else None,
            "real_distributions": real,
            "synthetic_distributions": max(0, dists - real),
        },
    )


def baseline_tree(base: pathlib.Path, rev: str) -> pathlib.Path:
    """REV's roar/ (``git archive``) with this build's native module: a tree for PYTHONPATH."""
    import roar._native as native

    tree = base / "baseline"
    tree.mkdir()
    archive = sh_bytes(["git", "-C", str(HERE.parent), "archive", rev, "roar"])
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
    so = pathlib.Path(native.__file__)
    shutil.copy2(so, tree / "roar" / so.name)
    return tree


def sh_bytes(argv) -> bytes:
    return subprocess.run(argv, check=True, capture_output=True).stdout


# --------------------------------------------------------------------------- measurements


def bench_startup(repo, rounds, roar, python, via_path=None, baseline=None):
    """roar's fixed costs, each beside its baseline: ``roar run -q true`` vs ``true``, and
    ``roar --version`` / ``roar --help`` vs the interpreter alone (``python -c pass``).
    ``baseline``: (its repository, its environment) for an older roar timed alongside."""
    true = shutil.which("true") or "/bin/true"
    variants = {
        "bare": lambda: timed([true], repo),
        "roar": lambda: timed(roar + ["run", "-q", true], repo),
        "python_pass": lambda: timed([python, "-c", "pass"], repo),
        "roar_version": lambda: timed(roar + ["--version"], repo),
        "roar_help": lambda: timed(roar + ["--help"], repo),
    }
    if baseline:
        b_repo, b_env = baseline
        variants["base_roar"] = lambda: timed(roar + ["run", "-q", true], b_repo, b_env)
        variants["base_version"] = lambda: timed(roar + ["--version"], b_repo, b_env)
        variants["base_help"] = lambda: timed(roar + ["--help"], b_repo, b_env)
    if via_path:  # for the diagnosis only: roar via a PATH shim
        variants["roar_via_path"] = lambda: timed(via_path + ["run", "-q", true], repo)
    for variant in variants.values():  # untimed: bytecode, page cache, the eBPF service
        variant()
    times = run_rounds(variants, rounds, "startup")

    def paired(base: str, other: str) -> float:
        return med([b - a for a, b in zip(times[base], times[other], strict=True)])

    medians = {k: med(v) for k, v in times.items()}
    if baseline:
        base_figures = {
            "overhead_median_s": medians["base_roar"] - medians["bare"],
            "overhead_paired_median_s": paired("bare", "base_roar"),
            "version_over_python_s": medians["base_version"] - medians["python_pass"],
            "version_over_python_paired_s": paired("python_pass", "base_version"),
            "help_over_python_s": medians["base_help"] - medians["python_pass"],
            "help_over_python_paired_s": paired("python_pass", "base_help"),
        }
    return {
        "baseline": base_figures if baseline else None,
        "times": times,
        "roar_cmd": roar,
        "roar_via_path_cmd": via_path,
        "distributions": count_distributions(python),
        "medians_s": medians,
        "python_pass_median_s": medians["python_pass"],
        "roar_via_path_median_s": medians.get("roar_via_path"),
        "bare_median_s": medians["bare"],
        "roar_median_s": medians["roar"],
        "overhead_median_s": medians["roar"] - medians["bare"],
        "overhead_paired_median_s": paired("bare", "roar"),
        "version_over_python_s": medians["roar_version"] - medians["python_pass"],
        "version_over_python_paired_s": paired("python_pass", "roar_version"),
        "help_over_python_s": medians["roar_help"] - medians["python_pass"],
        "help_over_python_paired_s": paired("python_pass", "roar_help"),
    }


def instructions(argv: list[str], cwd, env: dict | None = None) -> int:
    """Instructions the process itself executes (valgrind's callgrind; children such as git and
    the traced command are not followed), with a fixed hash seed so that reruns agree."""
    with tempfile.TemporaryDirectory(prefix="roar-bench-cg-") as tmp:
        out = pathlib.Path(tmp) / "callgrind.out"
        r = subprocess.run(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", *argv],
            cwd=cwd,
            env={**(env or os.environ), "PYTHONHASHSEED": "0"},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        if r.returncode != 0:
            raise RuntimeError(f"callgrind on {argv} exited {r.returncode}: {r.stderr[-2000:]}")
        for line in out.read_text().splitlines():
            if line.startswith(("summary:", "totals:")):
                return int(line.split()[1])
    raise RuntimeError(f"no instruction count for {argv}")


def bench_instructions(repo, roar, python, baseline=None) -> dict:
    """Instruction counts of the start-up variants: a load-independent companion to the wall
    times (on a busy machine the medians grow with the load; these do not)."""
    launcher = pathlib.Path(roar[0])
    script = launcher.is_file() and launcher.read_bytes().startswith(b"#!")
    roar_argv = [python, *roar] if script else roar  # callgrind follows no #! launcher
    true = shutil.which("true") or "/bin/true"
    counts = {
        "python_pass": instructions([python, "-c", "pass"], repo),
        "roar_version": instructions(roar_argv + ["--version"], repo),
        "roar_help": instructions(roar_argv + ["--help"], repo),
        "roar": instructions(roar_argv + ["run", "-q", true], repo),
    }
    if baseline:
        b_repo, b_env = baseline
        counts["base_version"] = instructions(roar_argv + ["--version"], b_repo, b_env)
        counts["base_help"] = instructions(roar_argv + ["--help"], b_repo, b_env)
        counts["base_roar"] = instructions(roar_argv + ["run", "-q", true], b_repo, b_env)
    return {
        "counts": counts,
        "over_python_pass": {k: v - counts["python_pass"] for k, v in counts.items()},
    }


def bench_io_script(repo, rounds, roar, python):
    py = python
    times = run_rounds(
        {
            # roar first in round 1 so its first run is a cold hash cache, like a user's first run
            "roar": lambda: timed(roar + ["run", "-q", py, "io_script.py"], repo),
            "untraced": lambda: timed([py, "io_script.py"], repo),
        },
        rounds,
        "io_script",
    )
    rest = times["roar"][1:] or times["roar"]
    return {
        "times": times,
        "untraced_median_s": med(times["untraced"]),
        "roar_first_s": times["roar"][0],
        "roar_median_s": med(times["roar"]),
        "roar_median_after_first_s": med(rest),
    }


def workload_argv(name, wl_dir, work, size_mb):
    py = sys.executable
    if name == "small_files":
        return [py, str(wl_dir / "small_files.py"), str(work), "5000"]
    if name == "many_procs":
        return ["/bin/sh", str(wl_dir / "many_procs.sh"), str(work), "300"]
    if name == "cpu_bound":
        return [py, str(wl_dir / "cpu_bound.py")]
    if name == "big_io":
        return [py, str(wl_dir / "big_io.py"), str(work), str(size_mb)]
    raise ValueError(name)


def strace_argv() -> list[str] | None:
    exe = shutil.which("strace")
    if exe is None and shutil.which("apt-get") and os.geteuid() == 0:
        print("strace not found: trying apt-get install -y strace ...", flush=True)
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "strace"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        exe = shutil.which("strace")
    if exe is None:
        return None
    probe = subprocess.run(
        [exe, "-f", "--seccomp-bpf", "-e", "trace=file,process", "-o", "/dev/null", "true"],
        capture_output=True,
    )
    return (
        [exe, "-f", "--seccomp-bpf", "-e", "trace=file,process", "-o", "/dev/null"]
        if probe.returncode == 0
        else None
    )


def bench_workloads(repo, rounds, roar, wl_dir, size_mb, names, notes, work_base):
    st = strace_argv()
    if st is None:
        notes.append("strace --seccomp-bpf unavailable: strace column skipped")
    out = {}
    for name in names:
        work = work_base / name
        argv = workload_argv(name, wl_dir, work, size_mb)
        variants = {
            "untraced": lambda a=argv: timed(a, repo),
            "roar": lambda a=argv: timed(roar + ["run", "-q", *a], repo),
            "tracer": lambda a=argv: timed_tracer(a, repo),
        }
        if st:
            variants["strace"] = lambda a=argv: timed(st + a, repo)
        out[name] = workload_result(argv, run_rounds(variants, rounds, name))
    return out


# --------------------------------------------------------------------------- report


def fmt_s(x):
    return f"{x * 1000:.0f} ms" if x < 1 else f"{x:.2f} s"


def report(res, notes):
    rows = []  # (figure, value, target, ok or None)
    if "startup" in res:
        s = res["startup"]
        m = s["medians_s"]
        print(
            f"\n[1] start-up, medians side by side ({s['distributions']} distributions "
            "visible to roar's interpreter)"
        )
        for label, key, base, over, target in (
            ("true", "bare", None, None, None),
            ("roar run -q true", "roar", "bare", "overhead_median_s", 0.100),
            ("python -c pass", "python_pass", None, None, None),
            ("roar --version", "roar_version", "python_pass", "version_over_python_s", 0.040),
            ("roar --help", "roar_help", "python_pass", "help_over_python_s", 0.040),
        ):
            extra = (
                f"   {fmt_s(s[over]):>7} more than {base}  (target <= {fmt_s(target)})"
                if over
                else ""
            )
            print(f"    {label:<18} {fmt_s(m[key]):>7}{extra}")
        print(
            f"    paired medians of the differences: run {fmt_s(s['overhead_paired_median_s'])}, "
            f"--version {fmt_s(s['version_over_python_paired_s'])}, "
            f"--help {fmt_s(s['help_over_python_paired_s'])}"
        )
        b = s.get("baseline")
        if b:
            print(
                f"    baseline {s['baseline_rev']} in the same rounds: run "
                f"{fmt_s(b['overhead_median_s'])} more than bare (paired "
                f"{fmt_s(b['overhead_paired_median_s'])}), --version "
                f"{fmt_s(b['version_over_python_s'])}, --help {fmt_s(b['help_over_python_s'])} "
                "more than python_pass"
            )
        if "instructions" in s:
            over = s["instructions"]["over_python_pass"]
            print(
                "    instructions beyond python -c pass "
                f"({s['instructions']['counts']['python_pass'] / 1e6:.1f} M): "
                + ", ".join(
                    f"{label} +{over[key] / 1e6:.1f} M"
                    for label, key in (
                        ("--version", "roar_version"),
                        ("--help", "roar_help"),
                        ("run -q true", "roar"),
                    )
                )
            )
            if "base_roar" in over:
                print(
                    f"    ... baseline {s['baseline_rev']}: "
                    + ", ".join(
                        f"{label} +{over[key] / 1e6:.1f} M"
                        for label, key in (
                            ("--version", "base_version"),
                            ("--help", "base_help"),
                            ("run -q true", "base_roar"),
                        )
                    )
                )
        if s["roar_via_path_cmd"]:
            print(
                f"    via PATH ({s['roar_via_path_cmd'][0]}) roar run -q true "
                f"{fmt_s(s['roar_via_path_median_s'])}"
            )
        for figure, key, target in (
            ("startup: roar run -q true - true", "overhead_median_s", 0.100),
            ("startup: roar --version - python -c pass", "version_over_python_s", 0.040),
            ("startup: roar --help - python -c pass", "help_over_python_s", 0.040),
        ):
            rows.append((figure, fmt_s(s[key]), f"<= {fmt_s(target)}", s[key] <= target))
    if "io_script" in res:
        s = res["io_script"]
        print(
            f"[2] io_script (read 1000, write 200): untraced {fmt_s(s['untraced_median_s'])}, "
            f"roar first round {fmt_s(s['roar_first_s'])}, roar median {fmt_s(s['roar_median_s'])} "
            f"(rounds 2.. {fmt_s(s['roar_median_after_first_s'])})"
        )
        rows.append(
            (
                "io_script under roar, 1st round",
                fmt_s(s["roar_first_s"]),
                "<= 1 s",
                s["roar_first_s"] <= 1.0,
            )
        )
        rows.append(
            (
                "io_script under roar, median",
                fmt_s(s["roar_median_s"]),
                "<= 1 s",
                s["roar_median_s"] <= 1.0,
            )
        )
    if "workloads" in res:
        w = res["workloads"]
        cols = ["untraced", "tracer", "roar", "strace"]
        print("\n[3] workloads: median time (ratio to untraced)")
        print(f"  {'workload':<12}" + "".join(f"{c:>22}" for c in cols))
        for name, d in w.items():
            cells = []
            for c in cols:
                if c in d["medians_s"]:
                    cells.append(f"{fmt_s(d['medians_s'][c])} ({d['ratio_to_untraced'][c]:.2f}x)")
                else:
                    cells.append("-")
            print(f"  {name:<12}" + "".join(f"{c:>22}" for c in cells))
        targets = {"small_files": 3.0, "many_procs": 2.5, "cpu_bound": 1.1, "big_io": 1.1}
        for name, d in w.items():
            r = d["ratio_to_untraced"]
            rows.append(
                (
                    f"{name}: tracer / untraced",
                    f"{r['tracer']:.2f}x",
                    f"<= {targets[name]}x",
                    r["tracer"] <= targets[name],
                )
            )
            if name == "small_files" and "strace" in r:
                rows.append(
                    (
                        "small_files: tracer / strace",
                        f"{r['tracer'] / r['strace']:.2f}x",
                        "< 1.00x",
                        r["tracer"] < r["strace"],
                    )
                )
        for name, d in w.items():
            rows.append(
                (
                    f"{name}: roar run / untraced",
                    f"{d['ratio_to_untraced']['roar']:.2f}x",
                    "(info)",
                    None,
                )
            )
    width = max(len(r[0]) for r in rows) if rows else 10
    print("\nSummary")
    print(f"  {'figure':<{width}}  {'value':>10}  {'target':>10}  result")
    for fig, val, tgt, ok in rows:
        print(
            f"  {fig:<{width}}  {val:>10}  {tgt:>10}  {'' if ok is None else ('PASS' if ok else 'MISS')}"
        )
    for n in notes:
        print(f"  note: {n}")
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--rounds", type=int, default=None, help="rounds per measurement (default 7, --quick 3)"
    )
    ap.add_argument("--quick", action="store_true", help="3 rounds and big_io 256 MiB")
    ap.add_argument(
        "--size-mb", type=int, default=None, help="big_io size (default 1024, --quick 256)"
    )
    ap.add_argument(
        "--only",
        default=",".join(MEASUREMENTS),
        help=f"comma-separated subset of {','.join(MEASUREMENTS)}",
    )
    ap.add_argument(
        "--workloads",
        default="small_files,many_procs,cpu_bound,big_io",
        help="comma-separated subset of the shared workloads",
    )
    ap.add_argument("--workload-dir", type=pathlib.Path, default=DEFAULT_WORKLOADS)
    ap.add_argument(
        "--work-fs",
        default="/dev/shm" if os.path.isdir("/dev/shm") else None,
        help="where the workloads write (default tmpfs /dev/shm, as in the reference peer figures; "
        "a disk makes the untraced baseline slower and the ratios smaller)",
    )
    ap.add_argument("--results-dir", type=pathlib.Path, default=HERE / "results")
    ap.add_argument("--keep", action="store_true", help="keep the temp repo")
    ap.add_argument(
        "--venv",
        action="store_true",
        help="measure in a throw-away virtualenv seeing at least --dists distributions "
        "(synthetic ones fill the gap; see the module docstring)",
    )
    ap.add_argument(
        "--dists", type=int, default=300, help="distributions the --venv sees (default 300)"
    )
    ap.add_argument(
        "--wheel", type=pathlib.Path, help="with --venv: install this roar wheel into it"
    )
    ap.add_argument(
        "--instructions",
        action="store_true",
        help="startup: also count the instructions each start-up variant executes (valgrind)",
    )
    ap.add_argument(
        "--baseline",
        metavar="REV",
        help="startup: also time the roar of git revision REV in the same rounds (see the "
        "module docstring)",
    )
    args = ap.parse_args(argv)
    if args.wheel and not args.venv:
        ap.error("--wheel needs --venv")
    rounds = args.rounds or (3 if args.quick else 7)
    size_mb = args.size_mb or (256 if args.quick else 1024)
    only = [m.strip() for m in args.only.split(",") if m.strip()]
    for m in only:
        if m not in MEASUREMENTS:
            ap.error(f"unknown measurement {m!r}")
    notes: list[str] = []

    try:
        from roar import _native  # noqa: F401  (not `import roar._native`: `roar` is a list here)
    except ImportError as exc:
        print(f"roar._native not importable ({exc}); run `pip install -e '.[test]'` first")
        return 2
    base = pathlib.Path(tempfile.mkdtemp(prefix="roar-bench-"))
    started = dt.datetime.now(dt.timezone.utc)
    if os.environ.pop("PYTHONDONTWRITEBYTECODE", None):  # every child inherits this
        os.environ["PYTHONPYCACHEPREFIX"] = str(base / "pycache")
        notes.append(
            "PYTHONDONTWRITEBYTECODE dropped for the timed processes (bytecode in a private "
            "PYTHONPYCACHEPREFIX), as a user's install has bytecode"
        )
    print(f"bench_run: {rounds} rounds, big_io {size_mb} MiB, temp repo in {base}", flush=True)
    res: dict = {}
    environment: dict = {"venv": None}
    try:
        if args.venv:
            roar, python, environment["venv"] = make_venv(base, args.dists, args.wheel)
        else:
            roar, python = find_roar(), sys.executable
        environment["python"] = python
        environment["distributions"] = count_distributions(python)
        print(
            f"timing roar as: {' '.join(roar)} ({environment['distributions']} distributions "
            f"visible{', venv' if args.venv else ''})",
            flush=True,
        )
        repo = make_repo(base, roar)
        baseline = None
        if args.baseline and "startup" in only:
            b_env = {**os.environ, "PYTHONPATH": str(baseline_tree(base, args.baseline))}
            (base / "b").mkdir()
            baseline = (make_repo(base / "b", roar, b_env), b_env)
        if "startup" in only:
            via_path = None if args.venv else path_roar(roar)
            res["startup"] = bench_startup(repo, rounds, roar, python, via_path, baseline)
            res["startup"]["baseline_rev"] = args.baseline
            if args.instructions:
                if shutil.which("valgrind"):
                    res["startup"]["instructions"] = bench_instructions(
                        repo, roar, python, baseline
                    )
                else:
                    notes.append("valgrind not found: --instructions skipped")
        if "io_script" in only:
            res["io_script"] = bench_io_script(repo, rounds, roar, python)
        if "workloads" in only:
            names = [n.strip() for n in args.workloads.split(",") if n.strip()]
            if not args.workload_dir.is_dir():
                notes.append(f"{args.workload_dir} missing: workloads skipped")
            else:
                work_base = pathlib.Path(tempfile.mkdtemp(prefix="roar-bench-", dir=args.work_fs))
                try:
                    res["workloads"] = bench_workloads(
                        repo, rounds, roar, args.workload_dir, size_mb, names, notes, work_base
                    )
                finally:
                    shutil.rmtree(work_base, ignore_errors=True)
    finally:
        if args.keep:
            print(f"kept {base}")
        else:
            shutil.rmtree(base, ignore_errors=True)

    rows = report(res, notes)
    args.results_dir.mkdir(parents=True, exist_ok=True)
    out = args.results_dir / f"bench_run-{started.strftime('%Y%m%dT%H%M%SZ')}.json"
    out.write_text(
        json.dumps(
            {
                "started_utc": started.isoformat(),
                "rounds": rounds,
                "size_mb": size_mb,
                "quick": args.quick,
                "machine": {
                    "platform": platform.platform(),
                    "python": sys.version.split()[0],
                    "cpus": os.cpu_count(),
                },
                "roar_cmd": roar,
                "environment": environment,
                "results": res,
                "summary": [
                    {"figure": f, "value": v, "target": t, "pass": ok} for f, v, t, ok in rows
                ],
                "notes": notes,
            },
            indent=2,
        )
    )
    print(f"\nraw timings: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

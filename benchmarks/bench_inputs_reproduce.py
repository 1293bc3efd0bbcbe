#!/usr/bin/env python3
"""`roar inputs` and `roar reproduce` (the plan) on a big store: 100,000 jobs, end to end.

Not a pytest test. Usage:

    python benchmarks/bench_inputs_reproduce.py                  # 100,000 jobs, 11 rounds
    python benchmarks/bench_inputs_reproduce.py --quick          # 10,000 jobs, 5 rounds
    python benchmarks/bench_inputs_reproduce.py --store DIR      # reuse a project built before

The store is bench_hover.py's synthetic one, written through roar's own writer: pipelines of
10 steps, each step reading the previous step's output and a config of its own (so a last
step's lineage is 10 jobs and 11 source inputs), 10,000 pipelines in one session. The first 20
pipelines exist on disk with hash-cache entries, as ``roar run`` leaves them.

Each command is timed as a user runs it (a fresh ``roar`` process: interpreter start-up, imports,
opening the store, the walk, the output), once per round with the variants rotated, and the
median is compared with the 150 ms target (issue 16). ``python -c pass`` is timed alongside as
the interpreter's floor.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

TARGET_MS = 150.0


def variants(root: Path, pipelines: int) -> dict[str, list[str]]:
    middle = pipelines // 2
    on_disk = root / "out/p3/s10.bin"
    missing = root / f"out/p{middle}/s10.bin"
    return {
        "inputs PATH (on disk, 10 jobs upstream)": ["inputs", str(on_disk)],
        "inputs PATH (recorded, not on disk)": ["inputs", str(missing)],
        "inputs PATH --all --json": ["inputs", str(missing), "--all", "--json"],
        "inputs PATH --contains RAW": [
            "inputs", str(missing), "--contains", str(root / f"data/p{middle}/raw.csv")
        ],
        "inputs @N (a step of the 100,000-job session)": ["inputs", f"@{middle * 10 + 10}"],
        "reproduce PATH (plan)": ["reproduce", str(on_disk)],
        "reproduce PATH --json (plan)": ["reproduce", str(missing), "--json"],
        "reproduce @N (plan)": ["reproduce", f"@{middle * 10 + 10}"],
        "reproduce PATH --list-requirements": ["reproduce", str(missing), "--list-requirements"],
    }  # fmt: skip


def roar_command() -> list[str]:
    script = Path(sys.executable).with_name("roar")
    return [str(script)] if script.exists() else [sys.executable, "-m", "roar"]


def time_once(argv: list[str], cwd: Path) -> tuple[float, float]:
    """(wall ms, CPU ms: user + system of the process) for one run. CPU time hardly moves with
    the machine's load, which on a shared 2-core host can double the wall time."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(argv, cwd=cwd, capture_output=True)
    elapsed = (time.perf_counter() - t0) * 1000
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime) * 1000
    if proc.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(argv)} failed:\n{proc.stderr.decode()}")
    return elapsed, cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=11)
    parser.add_argument("--quick", action="store_true", help="10,000 jobs, 5 rounds")
    parser.add_argument("--store", type=Path, help="a project built by an earlier run (--keep)")
    parser.add_argument("--keep", action="store_true", help="keep the project for --store")
    args = parser.parse_args()
    if args.quick:
        args.jobs, args.rounds = 10_000, 5
    import bench_hover

    tmp = None
    if args.store:
        root = args.store.resolve()
    else:
        tmp = Path(tempfile.mkdtemp(prefix="roar-bench-inputs-"))
        root = tmp / "project"
        print(f"recording {args.jobs:,} jobs into {root} …", file=sys.stderr)
        bench_hover.build_store(root, args.jobs, on_disk=20)
    jobs = int(
        subprocess.run(
            [sys.executable, "-c", "import sqlite3,sys; print(sqlite3.connect(sys.argv[1])"
             ".execute('select count(*) from jobs').fetchone()[0])", str(root / ".roar/roar.db")],
            capture_output=True, text=True, check=True,
        ).stdout
    )  # fmt: skip
    roar = roar_command()
    env_note = "PYTHONDONTWRITEBYTECODE" in os.environ
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)  # a user's install has bytecode
    cases = {"python -c pass (floor)": None, **variants(root, jobs // bench_hover.STEPS)}
    for argv in cases.values():  # warm-up: bytecode, page cache
        if argv is not None:
            time_once([*roar, *argv], root)
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in cases}
    names = list(cases)
    for r in range(args.rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            argv = cases[name]
            full = [sys.executable, "-c", "pass"] if argv is None else [*roar, *argv]
            times[name].append(time_once(full, root))
    print(
        f"\n{jobs:,} jobs in the store; medians over {args.rounds} rounds "
        f"(target: wall ≤ {TARGET_MS:.0f} ms); load average {os.getloadavg()[0]:.1f}"
    )
    print(f"{'command':<48} {'wall':>9} {'min':>8} {'cpu':>8} {'cpu-floor':>9}  verdict")
    floor_cpu = statistics.median(v[1] for v in times["python -c pass (floor)"])
    for name, values in times.items():
        wall = statistics.median(v[0] for v in values)
        cpu = statistics.median(v[1] for v in values)
        low = min(v[0] for v in values)
        verdict = "" if cases[name] is None else ("ok" if wall <= TARGET_MS else "MISS")
        print(
            f"{name:<48} {wall:>7.1f}ms {low:>6.1f}ms {cpu:>6.1f}ms {cpu - floor_cpu:>7.1f}ms  "
            f"{verdict}"
        )
    if env_note:
        print("(PYTHONDONTWRITEBYTECODE was set; the timed processes ran without it)")
    if tmp is not None and not args.keep:
        shutil.rmtree(tmp, ignore_errors=True)
    elif tmp is not None:
        print(f"kept: {root} (--store {root})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

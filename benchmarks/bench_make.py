#!/usr/bin/env python3
"""`roar make --dry-run` on a big store: 100,000 jobs in one session, end to end.

Not a pytest test. Usage:

    python benchmarks/bench_make.py                  # 100,000 jobs, 11 rounds
    python benchmarks/bench_make.py --quick          # 10,000 jobs, 5 rounds
    python benchmarks/bench_make.py --store DIR      # reuse a project built before (--keep)

The store is bench_hover.py's synthetic one, written through roar's own writer: pipelines of
10 steps, each step reading the previous step's output and a config of its own, 10,000
pipelines in one session (100,000 steps). The first 20 pipelines exist on disk with hash-cache
entries, as ``roar run`` leaves them; one of them has a config edited by hand (pipeline 4, step
5), so its last output is stale through 6 steps.

Each command is timed as a user runs it (a fresh ``roar`` process: interpreter start-up, imports,
opening the store, the upstream walk with its disk checks, the output), once per round with the
variants rotated; medians are compared with the 200 ms target (issue 16). ``python -c pass`` is
timed alongside as the interpreter's floor.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

TARGET_MS = 200.0
EDITED = "cfg/p4/s5.yaml"  # edited by hand: out/p4/s5..s10 are stale


def variants(root: Path, pipelines: int) -> dict[str, list[str]]:
    middle = pipelines // 2
    return {
        "make PATH --dry-run (up to date, 10 steps)": ["make", str(root / "out/p3/s10.bin"), "--dry-run"],
        "make PATH --dry-run (6 of 10 stale)": ["make", str(root / "out/p4/s10.bin"), "--dry-run"],
        "make PATH --dry-run --json (6 stale)": ["make", str(root / "out/p4/s10.bin"), "--dry-run", "--json"],
        "make PATH --dry-run (not on disk)": ["make", str(root / f"out/p{middle}/s10.bin"), "--dry-run"],
        "make @N --dry-run (a step of 100,000)": ["make", f"@{middle * 10 + 10}", "--dry-run"],
    }  # fmt: skip


def roar_command() -> list[str]:
    script = Path(sys.executable).with_name("roar")
    return [str(script)] if script.exists() else [sys.executable, "-m", "roar"]


def time_once(argv: list[str], cwd: Path) -> tuple[float, float, str]:
    """(wall ms, CPU ms — the process's own user + system time —, stdout)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = proc.communicate()
    elapsed = (time.perf_counter() - t0) * 1000
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed:\n{err.decode()}")
    return elapsed, _cpu_ms(proc.pid), out.decode()


_last_children_cpu = [0.0]


def _cpu_ms(_pid: int) -> float:
    """CPU time of the child just reaped (the growth of RUSAGE_CHILDREN since the last one)."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    total = (usage.ru_utime + usage.ru_stime) * 1000
    used, _last_children_cpu[0] = total - _last_children_cpu[0], total
    return used


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
        tmp = Path(tempfile.mkdtemp(prefix="roar-bench-make-"))
        root = tmp / "project"
        print(f"recording {args.jobs:,} jobs into {root} …", file=sys.stderr)
        bench_hover.build_store(root, args.jobs, on_disk=20)
    (root / EDITED).write_text("lr: 0.5 # edited by hand\n")
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
    for name, argv in cases.items():  # warm-up (bytecode, page cache), and what each answers
        if argv is not None:
            first = time_once([*roar, *argv], root)[2].splitlines()
            print(f"  {name}: {first[0] if first else ''}", file=sys.stderr)
    times: dict[str, list[float]] = {name: [] for name in cases}
    cpu: dict[str, list[float]] = {name: [] for name in cases}
    names = list(cases)
    for r in range(args.rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            argv = cases[name]
            full = [sys.executable, "-c", "pass"] if argv is None else [*roar, *argv]
            wall, used, _ = time_once(full, root)
            times[name].append(wall)
            cpu[name].append(used)
    floor = statistics.median(times["python -c pass (floor)"])
    print(f"\n{jobs:,} jobs in the store; medians over {args.rounds} rounds (target ≤ {TARGET_MS:.0f} ms); "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")  # fmt: skip
    print(f"{'command':<46} {'median':>9} {'min':>8} {'max':>8} {'cpu':>8} {'-floor':>8}  verdict")
    for name, values in times.items():
        median = statistics.median(values)
        verdict = "" if cases[name] is None else ("ok" if median <= TARGET_MS else "MISS")
        print(f"{name:<46} {median:>7.1f}ms {min(values):>6.1f}ms {max(values):>6.1f}ms "
              f"{statistics.median(cpu[name]):>6.1f}ms {median - floor:>6.1f}ms  {verdict}")  # fmt: skip
    if env_note:
        print("(PYTHONDONTWRITEBYTECODE was set; the timed processes ran without it)")
    if tmp is not None and not args.keep:
        shutil.rmtree(tmp, ignore_errors=True)
    elif tmp is not None:
        print(f"kept: {root} (--store {root})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

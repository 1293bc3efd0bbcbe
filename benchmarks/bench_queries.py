#!/usr/bin/env python3
"""The lineage questions on a big store, end to end: `roar inputs`, `roar diff`, `roar reproduce`
(the plan) and `roar make --dry-run` on 100,000 jobs.

Not a pytest test. Usage:

    python benchmarks/bench_queries.py                  # 100,000 jobs, 11 rounds
    python benchmarks/bench_queries.py --quick          # 10,000 jobs, 5 rounds
    python benchmarks/bench_queries.py --keep           # keep the project, then:
    python benchmarks/bench_queries.py --store DIR      # reuse it
    python benchmarks/bench_queries.py --only make      # the variants whose name starts so

The store is bench_hover.py's synthetic one, written through roar's own writer: pipelines of
10 steps, each step reading the previous step's output and a config of its own (so a last
step's lineage is 10 jobs and 11 source inputs), 10,000 pipelines in one session. The first 20
pipelines exist on disk with hash-cache entries, as ``roar run`` leaves them; one of them has a
config edited by hand (pipeline 4, step 5), so its last output is stale through 6 steps.

Each command is timed as a user runs it (a fresh ``roar`` process: interpreter start-up, imports,
opening the store, the walk, the output), once per round with the variants rotated so a busy
moment hits them alike. Printed per variant: the median wall time against its target (issue 16:
150 ms, `make --dry-run` 200 ms), the fastest, and the median CPU time (user + system of the
process), which moves little with the machine's load, and that CPU time less ``python -c pass``'s
(the interpreter's floor, measured in the same rounds): roar's own cost.
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

TARGET_MS = {"inputs": 150.0, "diff": 150.0, "reproduce": 150.0, "make": 200.0}
EDITED = "cfg/p4/s5.yaml"  # edited by hand: out/p4/s5..s10 are stale
FLOOR = "python -c pass (floor)"


def variants(root: Path, pipelines: int) -> dict[str, list[str]]:
    middle = pipelines // 2
    on_disk, stale = root / "out/p3/s10.bin", root / "out/p4/s10.bin"
    missing = root / f"out/p{middle}/s10.bin"
    step = f"@{middle * 10 + 10}"  # the last step of a pipeline in the middle of the session
    return {
        "inputs PATH (on disk, 10 jobs upstream)": ["inputs", str(on_disk)],
        "inputs PATH (recorded, not on disk)": ["inputs", str(missing)],
        "inputs PATH --all --json": ["inputs", str(missing), "--all", "--json"],
        "inputs PATH --contains RAW": ["inputs", str(missing), "--contains", str(root / f"data/p{middle}/raw.csv")],
        "inputs @N (a step of 100,000)": ["inputs", step],
        "diff PATH PATH (two pipelines)": ["diff", str(on_disk), str(stale)],
        "diff PATH PATH --json": ["diff", str(on_disk), str(missing), "--json"],
        "diff @N @M": ["diff", step, f"@{middle * 10 + 20}"],
        "diff PATH PATH --format dag (DOT)": ["diff", str(on_disk), str(stale), "--format", "dag"],
        "reproduce PATH (plan)": ["reproduce", str(on_disk)],
        "reproduce PATH --json (plan)": ["reproduce", str(missing), "--json"],
        "reproduce @N (plan)": ["reproduce", step],
        "reproduce PATH --list-requirements": ["reproduce", str(missing), "--list-requirements"],
        "make PATH --dry-run (up to date, 10 steps)": ["make", str(on_disk), "--dry-run"],
        "make PATH --dry-run (6 of 10 stale)": ["make", str(stale), "--dry-run"],
        "make PATH --dry-run --json (6 stale)": ["make", str(stale), "--dry-run", "--json"],
        "make PATH --dry-run (not on disk)": ["make", str(missing), "--dry-run"],
        "make @N --dry-run": ["make", step, "--dry-run"],
    }  # fmt: skip


def roar_command() -> list[str]:
    script = Path(sys.executable).with_name("roar")
    return [str(script)] if script.exists() else [sys.executable, "-m", "roar"]


def time_once(argv: list[str], cwd: Path) -> tuple[float, float]:
    """(wall ms, CPU ms: user + system of the process) for one run. Exit 1 is an answer
    (`diff`: the lineages differ), anything else a failure."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(argv, cwd=cwd, capture_output=True)
    elapsed = (time.perf_counter() - t0) * 1000
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime) * 1000
    if proc.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(argv)} failed:\n{proc.stderr.decode()}")
    return elapsed, cpu


def count_jobs(db: Path) -> int:
    from roar.store.queries import reader

    with reader(db, readonly=True) as r:
        return r.job_count()


def measure(root: Path, cases: dict[str, list[str] | None], rounds: int) -> dict[str, list]:
    roar = roar_command()
    for argv in cases.values():  # warm-up: bytecode, page cache
        if argv is not None:
            time_once([*roar, *argv], root)
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in cases}
    names = list(cases)
    for r in range(rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            argv = cases[name]
            full = [sys.executable, "-c", "pass"] if argv is None else [*roar, *argv]
            times[name].append(time_once(full, root))
    return times


def report(times: dict[str, list[tuple[float, float]]], jobs: int, rounds: int) -> bool:
    print(
        f"\n{jobs:,} jobs in the store; medians over {rounds} rounds; "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    )
    print(
        f"{'command':<44} {'wall':>8} {'target':>7} {'ratio':>6} {'min':>8} {'cpu':>8} {'cpu-floor':>9}"
    )
    floor_cpu = statistics.median(v[1] for v in times[FLOOR])
    all_met = True
    for name, values in times.items():
        wall = statistics.median(v[0] for v in values)
        cpu = statistics.median(v[1] for v in values)
        target = TARGET_MS.get(name.split()[0])
        ratio = f"{wall / target:.2f}" if target else ""
        all_met &= target is None or wall <= target
        print(
            f"{name:<44} {wall:>6.0f}ms {f'{target:.0f}ms' if target else '':>7} {ratio:>6} "
            f"{min(v[0] for v in values):>6.0f}ms {cpu:>6.0f}ms {cpu - floor_cpu:>7.0f}ms"
        )  # fmt: skip
    return all_met


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=11)
    parser.add_argument("--quick", action="store_true", help="10,000 jobs, 5 rounds")
    parser.add_argument("--store", type=Path, help="a project built by an earlier run (--keep)")
    parser.add_argument("--keep", action="store_true", help="keep the project for --store")
    parser.add_argument("--only", help="only the variants whose name starts with this")
    args = parser.parse_args()
    if args.quick:
        args.jobs, args.rounds = 10_000, 5
    import bench_hover

    tmp = None
    if args.store:
        root = args.store.resolve()
    else:
        tmp = Path(tempfile.mkdtemp(prefix="roar-bench-queries-"))
        root = tmp / "project"
        print(f"recording {args.jobs:,} jobs into {root} …", file=sys.stderr)
        bench_hover.build_store(root, args.jobs, on_disk=20)
    (root / EDITED).write_text("lr: 0.5 # edited by hand\n")
    jobs = count_jobs(root / ".roar" / "roar.db")
    env_note = "PYTHONDONTWRITEBYTECODE" in os.environ
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)  # a user's install has bytecode
    chosen = {
        name: argv
        for name, argv in variants(root, jobs // bench_hover.STEPS).items()
        if not args.only or name.startswith(args.only)
    }
    times = measure(root, {FLOOR: None, **chosen}, args.rounds)
    all_met = report(times, jobs, args.rounds)
    if env_note:
        print("(PYTHONDONTWRITEBYTECODE was set; the timed processes ran without it)")
    if tmp is not None and not args.keep:
        shutil.rmtree(tmp, ignore_errors=True)
    elif tmp is not None:
        print(f"kept: {root} (--store {root})")
    return 0 if all_met else 1


if __name__ == "__main__":
    raise SystemExit(main())

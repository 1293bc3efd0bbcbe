#!/usr/bin/env python3
"""`roar diff A B` on a big store: 100,000 jobs in one session, end to end.

Not a pytest test. Usage:

    python benchmarks/bench_diff.py                  # 100,000 jobs, 11 rounds
    python benchmarks/bench_diff.py --quick          # 10,000 jobs, 5 rounds
    python benchmarks/bench_diff.py --store DIR      # reuse a project built before (--keep)

The store is bench_hover.py's synthetic one, written through roar's own writer: pipelines of
10 steps, each step reading the previous step's output and a config of its own, 10,000
pipelines in one session (100,000 steps). The first 20 pipelines exist on disk with hash-cache
entries, as ``roar run`` leaves them. Each diff compares the last outputs of two pipelines: two
10-step lineages, paired step for step (every raw input, every step's argument and every output
differs).

Each command is timed as a user runs it (a fresh ``roar`` process: interpreter start-up, imports,
opening the store, resolving both targets, the two upstream walks, the comparison, the output),
once per round with the variants rotated; medians are compared with the 150 ms target (issue
16). ``python -c pass`` is timed alongside as the interpreter's floor, and the comparison itself
is timed in process (``roar.query.diff.diff_refs`` and the JSON), without start-up.
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

TARGET_MS = 150.0


def digest_at(root: Path, rel: str) -> str:
    from roar.store import provenance

    conn = provenance.open_readonly(root / ".roar" / "roar.db")
    try:
        record = provenance.latest_record(conn, str(root / rel))
    finally:
        conn.close()
    assert record is not None, rel
    return record.artifact.digest


def job_count(root: Path) -> int:
    from roar.store import provenance

    conn = provenance.open_readonly(root / ".roar" / "roar.db")
    try:
        return provenance.max_job_id(conn)  # ids count up from 1: the synthetic store drops none
    finally:
        conn.close()


def variants(root: Path, pipelines: int) -> dict[str, list[str]]:
    middle = pipelines // 2
    a, b = f"out/p{middle}/s10.bin", f"out/p{middle + 1}/s10.bin"
    return {
        "diff PATH PATH --json (on disk)": ["diff", "out/p5/s10.bin", "out/p6/s10.bin", "--json"],
        "diff PATH PATH (text)": ["diff", "out/p5/s10.bin", "out/p6/s10.bin"],
        "diff HASH HASH --json (not on disk)": ["diff", digest_at(root, a)[:12], digest_at(root, b)[:12], "--json"],
        "diff @N @M --json (steps of 100,000)": ["diff", f"@{middle * 10 + 10}", f"@{middle * 10 + 20}", "--json"],
        "diff PATH PATH --format dag (DOT)": ["diff", "out/p5/s10.bin", "out/p6/s10.bin", "--format", "dag"],
    }  # fmt: skip


def roar_command() -> list[str]:
    script = Path(sys.executable).with_name("roar")
    return [str(script)] if script.exists() else [sys.executable, "-m", "roar"]


_last_children_cpu = [0.0]


def time_once(argv: list[str], cwd: Path) -> tuple[float, float, str]:
    """(wall ms, CPU ms — the process's own user + system time —, stdout)."""
    import resource

    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = proc.communicate()
    elapsed = (time.perf_counter() - t0) * 1000
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed:\n{err.decode()}")
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    total = (usage.ru_utime + usage.ru_stime) * 1000
    used, _last_children_cpu[0] = total - _last_children_cpu[0], total
    return elapsed, used, out.decode()


def in_process(root: Path, rounds: int) -> list[float]:
    """The comparison alone: open the store, diff two artifacts, build the JSON."""
    from roar.cli.commands._common import open_reader
    from roar.query.diff import diff_refs
    from roar.query.diff_json import diff_json

    here = os.getcwd()
    os.chdir(root)
    times = []
    try:
        for _ in range(rounds + 1):
            t0 = time.perf_counter()
            with open_reader() as (ws, r):
                diff_json(diff_refs(r, ws, "out/p5/s10.bin", "out/p6/s10.bin"), ws.root)
            times.append((time.perf_counter() - t0) * 1000)
    finally:
        os.chdir(here)
    return times[1:]  # the first one warms the page cache


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
        tmp = Path(tempfile.mkdtemp(prefix="roar-bench-diff-"))
        root = tmp / "project"
        print(f"recording {args.jobs:,} jobs into {root} …", file=sys.stderr)
        bench_hover.build_store(root, args.jobs, on_disk=20)
        subprocess.run(["git", "init", "-q", str(root)], check=True)
    jobs = job_count(root)
    roar = roar_command()
    env_note = "PYTHONDONTWRITEBYTECODE" in os.environ
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)  # a user's install has bytecode
    cases = {"python -c pass (floor)": None, **variants(root, jobs // bench_hover.STEPS)}
    for name, argv in cases.items():  # warm-up (bytecode, page cache), and what each answers
        if argv is not None:
            lines = time_once([*roar, *argv], root)[2].splitlines()
            print(f"  {name}: {len(lines)} lines", file=sys.stderr)
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
    work = in_process(root, args.rounds)
    floor = statistics.median(times["python -c pass (floor)"])
    print(f"\n{jobs:,} jobs in the store; medians over {args.rounds} rounds (target ≤ {TARGET_MS:.0f} ms); "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")  # fmt: skip
    print(f"{'command':<40} {'median':>9} {'min':>8} {'max':>8} {'cpu':>8} {'-floor':>8}  verdict")
    for name, values in times.items():
        median = statistics.median(values)
        verdict = "" if cases[name] is None or "dag" in name else (
            "ok" if median <= TARGET_MS else "MISS")  # fmt: skip
        print(f"{name:<40} {median:>7.1f}ms {min(values):>6.1f}ms {max(values):>6.1f}ms "
              f"{statistics.median(cpu[name]):>6.1f}ms {median - floor:>6.1f}ms  {verdict}")  # fmt: skip
    print(f"in process (diff_refs + JSON, two 10-step lineages): median {statistics.median(work):.1f} ms, "
          f"min {min(work):.1f} ms")  # fmt: skip
    if env_note:
        print("(PYTHONDONTWRITEBYTECODE was set; the timed processes ran without it)")
    if tmp is not None and not args.keep:
        shutil.rmtree(tmp, ignore_errors=True)
    elif tmp is not None:
        print(f"kept: {root} (--store {root})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

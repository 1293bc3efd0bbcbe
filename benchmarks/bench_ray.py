"""The cost of `roar run` on a Ray driver: 200 small tasks, each writing a file, on a local
two-node cluster (one CPU per node), run bare and under `roar run`, rotating the order, median of
--rounds. Prints the end-to-end ratio (target <= 1.3x: PASS or MISS), the tasks phase's ratio,
the per-task overhead, and the fixed cost (the first task waits for a worker, the collection at
ray.shutdown, hashing).

Two traced variants: "roar run" as a user gets it on a running cluster, where the previous
traced job has started the next job's workers ahead (roar/ray/pool.py), and "roar, cold"
(ROAR_RAY_POOL=0): every traced job starts its own workers, as the first `roar run` on a fresh
cluster does. After each run the bench waits until the cluster's processes are idle (workers
started ahead are up), so no run pays for the one before.

    python benchmarks/bench_ray.py                 # 200 tasks, 3 rounds
    python benchmarks/bench_ray.py --quick         # 200 tasks, 2 rounds
    python benchmarks/bench_ray.py --address HOST:PORT   # an existing cluster (--settle S)

Exit status 0 when "roar run" meets the target.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET = 1.3

DRIVER = """
import json, os, sys, time
import ray

t0 = time.perf_counter()
ray.init(address=os.environ["RAY_ADDRESS"], logging_level="ERROR", log_to_driver=False)
t1 = time.perf_counter()
out = sys.argv[1]
n = int(sys.argv[2])

@ray.remote(num_cpus=1)
def write(i):
    with open(os.path.join(out, f"part{i}.txt"), "w") as f:
        f.write(f"part {i}\\n" * 10)
    return i

ray.get(write.remote(-1))  # warm: a worker has started
t2 = time.perf_counter()
ray.get([write.remote(i) for i in range(n)])
t3 = time.perf_counter()
ray.shutdown()
t4 = time.perf_counter()
print("BENCH " + json.dumps({"init": t1 - t0, "warm": t2 - t1, "tasks": t3 - t2,
                             "shutdown": t4 - t3}))
"""


def _project(root: Path) -> Path:
    root.mkdir(parents=True)
    for args in (["git", "init", "-q"], ["git", "config", "user.email", "b@roar.invalid"],
                 ["git", "config", "user.name", "bench"]):  # fmt: skip
        subprocess.run(args, cwd=root, check=True)
    roar = str(Path(sys.executable).with_name("roar"))
    subprocess.run([roar, "init", "-y"], cwd=root, check=True, capture_output=True)
    (root / "driver.py").write_text(DRIVER)
    (root / ".gitignore").write_text("out*/\n")
    subprocess.run(["git", "add", "-A"], cwd=root, check=True)
    subprocess.run(["git", "commit", "-qm", "bench"], cwd=root, check=True)
    return root


VARIANTS = ("bare", "roar", "cold")
LABELS = {"bare": "bare", "roar": "roar run", "cold": "roar, cold"}


def _once(root: Path, env: dict[str, str], variant: str, tasks: int, n: int) -> dict:
    out = root / f"out{n}"
    out.mkdir()
    cmd = [sys.executable, "driver.py", str(out), str(tasks)]
    if variant != "bare":
        cmd = [str(Path(sys.executable).with_name("roar")), "run", "-q", *cmd]
    if variant == "cold":
        env = {**env, "ROAR_RAY_POOL": "0"}
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stdout}\n{proc.stderr}")
    line = [x for x in proc.stdout.splitlines() if x.startswith("BENCH ")][-1]
    return {"wall": wall, **json.loads(line[6:])}


def _cluster_cpu_s(sessions: list[int]) -> float:
    """CPU seconds used so far by the processes of the cluster's sessions (its raylets, agents
    and workers: `ray start` ran in a session of its own, and its daemons' children stay in it)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) in sessions:  # field 6 of stat: the session id
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / tick


IDLE_CPU = 0.25  # CPU seconds per second: an idle two-node cluster uses ~0.1, a starting worker ~1


def _settle(sessions: list[int] | None, fixed_s: float) -> float:
    """Wait until the cluster is idle (under IDLE_CPU for two seconds running, at most 120 s):
    workers started ahead for the next job, or a job's workers being torn down, must not be
    paid for by the next run. Without the cluster's sessions (--address), sleep fixed_s."""
    start = time.perf_counter()
    if not sessions:
        time.sleep(fixed_s)
        return fixed_s
    quiet = 0
    before = _cluster_cpu_s(sessions)
    while quiet < 2 and time.perf_counter() - start < 120:
        time.sleep(1.0)
        now = _cluster_cpu_s(sessions)
        quiet = quiet + 1 if now - before < IDLE_CPU else 0
        before = now
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tasks", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="2 rounds")
    ap.add_argument("--address", help="an existing cluster (default: start a two-node one)")
    ap.add_argument("--settle", type=float, default=15.0,
                    help="with --address: seconds to wait after each run (default 15)")  # fmt: skip
    args = ap.parse_args(argv)
    if args.quick:
        args.rounds = 2
    from roar.ray import localcluster

    load_before = os.getloadavg()
    cluster = None
    if args.address:
        address = args.address
    else:
        print("starting a two-node Ray cluster on this machine ...", flush=True)
        cluster = localcluster.start()
        address = cluster.address
    sessions = cluster.groups if cluster is not None else None
    work = Path(tempfile.mkdtemp(prefix="roar-bench-ray-"))
    try:
        root = _project(work / "project")
        env = {**os.environ, "RAY_ADDRESS": address, "RAY_USAGE_STATS_ENABLED": "0"}
        runs: dict[str, list[dict]] = {v: [] for v in VARIANTS}
        n = 0
        # one traced job first, untimed: it starts the workers the next "roar run" takes, as
        # any earlier `roar run` of the driver on a running cluster would have
        _once(root, env, "roar", args.tasks, n)
        _settle(sessions, args.settle)
        for r in range(args.rounds):
            order = VARIANTS[r % 3 :] + VARIANTS[: r % 3]
            for variant in order:
                n += 1
                runs[variant].append(_once(root, env, variant, args.tasks, n))
                waited = _settle(sessions, args.settle)
                print(f"  round {r + 1} {LABELS[variant]:<10}: {runs[variant][-1]['wall']:6.2f} s"
                      f"  (then {waited:.0f} s until the cluster was idle)", flush=True)  # fmt: skip
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if cluster is not None:
            cluster.stop()
    load_after = os.getloadavg()

    def med(variant: str, key: str) -> float:
        return statistics.median(x[key] for x in runs[variant])

    print(f"\n{args.tasks} tasks writing a file each, 2 nodes x 1 CPU, median of {args.rounds}")
    print(f"load average {load_before[0]:.1f} before, {load_after[0]:.1f} after")
    print(f"  {'':<28}{'bare':>9}{'roar run':>10}{'ratio':>7}{'roar, cold':>12}{'ratio':>7}")
    for label, key in (("end to end (s)", "wall"), ("ray.init (s)", "init"),
                       ("first task, worker up (s)", "warm"), ("the tasks (s)", "tasks"),
                       ("ray.shutdown (s)", "shutdown")):  # fmt: skip
        b, t, c = med("bare", key), med("roar", key), med("cold", key)
        print(f"  {label:<28}{b:>9.2f}{t:>10.2f}{t / b if b else float('nan'):>6.2f}x"
              f"{c:>12.2f}{c / b if b else float('nan'):>6.2f}x")  # fmt: skip
    task_b = med("bare", "tasks")
    for variant in ("roar", "cold"):
        per_task_ms = (med(variant, "tasks") - task_b) / args.tasks * 1000
        print(f"  per-task overhead, {LABELS[variant]}: {per_task_ms:+.2f} ms "
              f"({task_b / args.tasks * 1000:.2f} ms bare)")  # fmt: skip
    ratio = med("roar", "wall") / med("bare", "wall")
    cold = med("cold", "wall") / med("bare", "wall")
    verdict = "PASS" if ratio <= TARGET else "MISS"
    print(f"  cold (the first traced job on a cluster, ROAR_RAY_POOL=0): {cold:.2f}x "
          f"({'within' if cold <= TARGET else 'over'} {TARGET}x)")  # fmt: skip
    print(f"{verdict}: roar run end to end {ratio:.2f}x the bare driver (target <= {TARGET}x)")
    results = Path(__file__).with_name("results")
    results.mkdir(exist_ok=True)
    (results / "bench_ray.json").write_text(
        json.dumps({"tasks": args.tasks, "load": [load_before, load_after], "runs": runs})
    )
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())

"""The cost of `roar run` on a Ray driver: 200 small tasks, each writing a file, on a local
two-node cluster (one CPU per node), run bare and under `roar run`, alternating, median of
--rounds. Prints the end-to-end ratio (target <= 1.3x), the tasks phase's ratio, the per-task
overhead, and the fixed cost (traced worker start-up, the collection at ray.shutdown, hashing).

    python benchmarks/bench_ray.py                 # 200 tasks, 3 rounds
    python benchmarks/bench_ray.py --tasks 50 --rounds 1
    python benchmarks/bench_ray.py --address HOST:PORT   # an existing cluster
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


def _once(root: Path, env: dict[str, str], traced: bool, tasks: int, n: int) -> dict:
    out = root / f"out{n}"
    out.mkdir()
    cmd = [sys.executable, "driver.py", str(out), str(tasks)]
    if traced:
        cmd = [str(Path(sys.executable).with_name("roar")), "run", "-q", *cmd]
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stdout}\n{proc.stderr}")
    line = [x for x in proc.stdout.splitlines() if x.startswith("BENCH ")][-1]
    return {"wall": wall, **json.loads(line[6:])}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tasks", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--address", help="an existing cluster (default: start a two-node one)")
    args = ap.parse_args(argv)
    from roar.ray import localcluster

    cluster = None
    if args.address:
        address = args.address
    else:
        print("starting a two-node Ray cluster on this machine ...", flush=True)
        cluster = localcluster.start()
        address = cluster.address
    work = Path(tempfile.mkdtemp(prefix="roar-bench-ray-"))
    try:
        root = _project(work / "project")
        env = {**os.environ, "RAY_ADDRESS": address, "RAY_USAGE_STATS_ENABLED": "0"}
        runs: dict[str, list[dict]] = {"bare": [], "roar": []}
        n = 0
        for r in range(args.rounds):
            order = ("bare", "roar") if r % 2 == 0 else ("roar", "bare")
            for variant in order:
                n += 1
                runs[variant].append(_once(root, env, variant == "roar", args.tasks, n))
                print(f"  round {r + 1} {variant}: {runs[variant][-1]['wall']:.2f} s", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if cluster is not None:
            cluster.stop()

    def med(variant: str, key: str) -> float:
        return statistics.median(x[key] for x in runs[variant])

    wall_b, wall_r = med("bare", "wall"), med("roar", "wall")
    task_b, task_r = med("bare", "tasks"), med("roar", "tasks")
    per_task_ms = (task_r - task_b) / args.tasks * 1000
    print(f"\n{args.tasks} tasks writing a file each, 2 nodes x 1 CPU, median of {args.rounds}")
    print(f"  {'':<28}{'bare':>10}{'roar run':>10}{'ratio':>8}")
    for label, key in (("end to end (s)", "wall"), ("ray.init (s)", "init"),
                       ("first task, worker up (s)", "warm"), ("the tasks (s)", "tasks"),
                       ("ray.shutdown (s)", "shutdown")):  # fmt: skip
        b, t = med("bare", key), med("roar", key)
        print(f"  {label:<28}{b:>10.2f}{t:>10.2f}{t / b if b else float('nan'):>7.2f}x")
    print(f"  per-task overhead: {per_task_ms:+.2f} ms ({task_b / args.tasks * 1000:.2f} ms bare)")
    ratio = wall_r / wall_b
    verdict = "met" if ratio <= TARGET else "NOT met"
    print(f"  target: end to end <= {TARGET}x: {ratio:.2f}x ({verdict})")
    results = Path(__file__).with_name("results")
    results.mkdir(exist_ok=True)
    (results / "bench_ray.json").write_text(json.dumps({"tasks": args.tasks, "runs": runs}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

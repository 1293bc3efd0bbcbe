#!/usr/bin/env python3
"""Untraced vs preload on the shared tracing workloads, interleaved runs,
median wall time. Work directories on tmpfs (/dev/shm), as the reference
figures. Usage: bench.py [ROUNDS] [WORKLOAD...]

Needs the trace example built:
    CARGO_TARGET_DIR=... cargo build --release -p roar-preload --example trace
"""
import os
import resource
import statistics
import subprocess
import sys
import time

TARGET = os.environ.get("CARGO_TARGET_DIR", "/work/target-preload")
TRACE = os.path.join(TARGET, "release", "examples", "trace")
W = "/work/shared/tracing/workloads"
PY = sys.executable
WORK = "/dev/shm/roar-preload-bench"

WORKLOADS = {
    "small_files": [PY, f"{W}/small_files.py", WORK],
    "many_procs": ["sh", f"{W}/many_procs.sh", WORK],
    "cpu_bound": [PY, f"{W}/cpu_bound.py"],
    "big_io": [PY, f"{W}/big_io.py", WORK],
}


def once(argv):
    """(wall, CPU of the whole tree incl. the collector) in seconds."""
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - t
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    return wall, cpu


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 7
    names = sys.argv[2:] or list(WORKLOADS)
    os.makedirs(WORK, exist_ok=True)
    for name in names:
        argv = WORKLOADS[name]
        once(argv)  # warm the page cache
        once([TRACE, *argv])
        plain, traced = [], []
        for _ in range(rounds):
            plain.append(once(argv))
            traced.append(once([TRACE, *argv]))
        p = statistics.median(w for w, _ in plain)
        t = statistics.median(w for w, _ in traced)
        pc = statistics.median(c for _, c in plain)
        tc = statistics.median(c for _, c in traced)
        print(
            f"{name:12s} wall: untraced {p:6.3f}s preload {t:6.3f}s = {t / p:4.2f}x   "
            f"cpu: {pc:6.3f}s {tc:6.3f}s = {tc / pc:4.2f}x",
            flush=True,
        )


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Overhead of the eBPF backend on the shared workloads, interleaved rounds.

Usage (root): python3 bench.py [ROUNDS] [WORKLOAD...]
Builds nothing: run `cargo build --release -p roar-ebpf --examples` first
(CARGO_TARGET_DIR, default /work/target-ebpf). Starts the service once
(examples/serve), then per round runs each workload untraced and under
`examples/trace` (one job each: the client's whole cost is included), in
/dev/shm. Prints median wall seconds and the ratio.
"""
import os, random, resource, shutil, statistics, subprocess, sys, time

TARGET = os.environ.get("CARGO_TARGET_DIR", "/work/target-ebpf")
EX = os.path.join(TARGET, "release", "examples")
W = "/work/shared/tracing/workloads"
WORK = "/dev/shm/roar-ebpf-bench"
PY = sys.executable
WORKLOADS = {
    "small_files": [PY, f"{W}/small_files.py", WORK],
    "many_procs": ["sh", f"{W}/many_procs.sh", WORK],
    "cpu_bound": [PY, f"{W}/cpu_bound.py"],
    "big_io": [PY, f"{W}/big_io.py", WORK],
    "true": ["true"],
}


def cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def timed(argv, env):
    """(wall, CPU of the job and its client) in seconds."""
    c = cpu()
    t = time.perf_counter()
    subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t, cpu() - c


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    names = sys.argv[2:] or list(WORKLOADS)
    sock = f"/tmp/roar-ebpf-bench-{os.getpid()}.sock"
    env = dict(os.environ, ROAR_EBPF_SOCKET=sock)
    srv = subprocess.Popen([os.path.join(EX, "serve"), sock, "3600"])
    try:
        for _ in range(600):
            if os.path.exists(sock):
                break
            time.sleep(0.1)
        os.makedirs(WORK, exist_ok=True)
        res = {n: {"untraced": [], "ebpf": []} for n in names}
        for _ in range(rounds):
            cells = [(n, m) for n in names for m in ("untraced", "ebpf")]
            random.shuffle(cells)
            for n, m in cells:
                argv = WORKLOADS[n]
                if m == "ebpf":
                    argv = [os.path.join(EX, "trace")] + argv
                res[n][m].append(timed(argv, env))
        with open(f"/proc/{srv.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        srv_cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        print(f"service CPU (load, attach, all jobs): {srv_cpu:.2f} s for {rounds * len(names)} traced runs")
        for n in names:
            u = statistics.median(w for w, _ in res[n]["untraced"])
            e = statistics.median(w for w, _ in res[n]["ebpf"])
            uc = statistics.median(c for _, c in res[n]["untraced"])
            ec = statistics.median(c for _, c in res[n]["ebpf"])
            print(
                f"{n:12s} wall: untraced {u:8.4f} s  ebpf {e:8.4f} s  {e / u:5.2f}x   "
                f"CPU: {uc:7.3f} s  {ec:7.3f} s  {ec / max(uc, 1e-9):5.2f}x  (median of {rounds})"
            )
    finally:
        srv.terminate()
        srv.wait()
        shutil.rmtree(WORK, ignore_errors=True)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""GLaaS search over 100,000 jobs: p95 latency of GET /api/v1/search, one filter at a time.

Not a pytest test. Usage:

    python benchmarks/bench_search.py                 # SQLite, 100,000 jobs
    python benchmarks/bench_search.py --postgres      # a throw-away PostgreSQL cluster (initdb)
    python benchmarks/bench_search.py --jobs 20000 --rounds 20

The registry is filled through Core inserts into a migrated database (what 100,000 jobs of
registrations leave behind: jobs, two edges each, artifacts, labels on 5 %, GPUs on 10 %,
20 users, 10 projects, a year of start times), then a real ``glaas-server`` on loopback answers
each query ``--rounds`` times from one client. Target: p95 ≤ 100 ms for every query.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

TARGET_MS = 100.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def fill(url: str, n: int) -> None:
    from sqlalchemy import create_engine, insert  # noqa: TID251 - fills the server's database

    from glaas import models as m
    from glaas.migrate import upgrade
    from tests.registry.synth import h

    upgrade(url)
    rnd = random.Random(17)
    engine = create_engine(url)
    t0 = time.perf_counter()
    with engine.begin() as conn:
        batch = 5000
        for start in range(0, n, batch):
            jobs, arts, edges, labels = [], [], [], []
            for i in range(start, min(n, start + batch)):
                jh, a_in, a_out = h("job", str(i)), h("in", str(i)), h("out", str(i))
                day = i * 365 // n
                script = ("prep.py", "train.py", "eval.py", "export.py")[i % 4]
                jobs.append(
                    {
                        "job_hash": jh, "uid": jh[:12], "kind": "run", "step_number": i % 10 + 1,
                        "step_name": None, "command": f"python {script} --seed {i} --lr 0.{i % 97}",
                        "argv": ["python", script], "cwd": "/srv/work", "exit_code": 0,
                        "interrupted": False,
                        "started_at": f"2026-{1 + day // 31 % 12:02d}-{1 + day % 28:02d}T{i % 24:02d}:00:00+00:00",
                        "ended_at": None, "duration_seconds": 1.0, "tracer": "ebpf",
                        "git_remote": f"git@github.com:acme/project{i % 10}.git",
                        "git_commit": h("c", str(i // 100))[:40], "git_branch": "main",
                        "git_dirty": False, "git_diff_hash": None, "packages": {}, "env_names": [],
                        "deleted": [], "cell": None,
                        "metadata": {"host": {"gpu": [{"model": "A100"}]}} if i % 10 == 0 else {"host": {}},
                        "registered_at": 1.7e9 + i // 100, "registered_by": f"user{i % 20}",
                    }
                )  # fmt: skip
                for a, size in ((a_in, 100), (a_out, 200)):
                    arts.append(
                        {"hash": a, "size": size, "composite": False,
                         "registered_at": 1.7e9 + i // 100, "registered_by": f"user{i % 20}"}
                    )  # fmt: skip
                edges.append({"job_hash": jh, "artifact_hash": a_in, "role": "read",
                              "path": f"/srv/work/data/shard_{i}.csv"})  # fmt: skip
                edges.append({"job_hash": jh, "artifact_hash": a_out, "role": "write",
                              "path": f"/srv/work/models/m_{i}.{('pt', 'bin', 'json')[i % 3]}"})  # fmt: skip
                if i % 20 == 0:
                    labels.append({"target_kind": "job", "target": jh, "key": "accuracy",
                                   "value": f"0.{rnd.randint(80, 99)}", "set_at": float(i),
                                   "registered_by": "user0"})  # fmt: skip
            conn.execute(insert(m.Artifact.__table__), arts)
            conn.execute(insert(m.Job.__table__), jobs)
            conn.execute(insert(m.Edge.__table__), edges)
            # every record public, as an anonymous or public registration grants it (rev. 0004)
            grants = [
                {"target_hash": r[key], "scope": "public", "registered_by": r["registered_by"],
                 "registered_at": r["registered_at"]}
                for rows, key in ((arts, "hash"), (jobs, "job_hash")) for r in rows
            ]  # fmt: skip
            conn.execute(insert(m.Grant.__table__), grants)
            if labels:
                conn.execute(insert(m.LabelEvent.__table__), labels)
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("ANALYZE")
    else:
        with engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE")
    engine.dispose()
    print(f"filled {n:,} jobs in {time.perf_counter() - t0:.1f} s", flush=True)


QUERIES = {
    "newest first, no filter": {},
    "command=train.py": {"command": "train.py"},
    "q=text matching one job": {"q": "--seed 4242 "},
    "q=text matching none": {"q": "no such command anywhere"},
    "file=shard_31337.csv": {"file": "shard_31337.csv"},
    "ext=pt": {"ext": "pt"},
    "ext=parquet (none)": {"ext": "parquet"},
    "q=a file name's start": {"q": "shard_4242"},
    "label=accuracy=0.9": {"label": "accuracy=0.9"},
    "gpu=true": {"gpu": "true"},
    "user=user7": {"user": "user7"},
    "project=acme/project3": {"project": "acme/project3"},
    "since/until (a week)": {"since": "2026-06-01", "until": "2026-06-08"},
    "user + command + gpu": {"user": "user10", "command": "prep", "gpu": "true"},
    "artifacts by hash prefix": {"kind": "artifact", "q": "HASHPREFIX"},
}


def get(base: str, params: dict[str, str]) -> tuple[float, dict]:
    t0 = time.perf_counter()
    with urllib.request.urlopen(
        base + "/api/v1/search?" + urllib.parse.urlencode(params), timeout=60
    ) as resp:
        body = json.loads(resp.read())
    return (time.perf_counter() - t0) * 1000, body


def measure(base: str, rounds: int) -> bool:
    from tests.registry.synth import h

    ok = True
    for name, params in QUERIES.items():
        params = {k: (h("out", "777")[:10] if v == "HASHPREFIX" else v) for k, v in params.items()}
        get(base, params)  # warm
        times, body = [], {}
        for _ in range(rounds):
            took, body = get(base, params)
            times.append(took)
        times.sort()
        p95 = times[max(0, int(round(0.95 * len(times))) - 1)]
        ok &= p95 <= TARGET_MS
        print(
            f"  {name:28s} p50 {statistics.median(times):6.1f} ms  p95 {p95:6.1f} ms  "
            f"({len(body.get('results', []))} results){'' if p95 <= TARGET_MS else '  OVER'}",
            flush=True,
        )
    # a deep page: follow 20 cursors of 50 and time the last
    params: dict[str, str] = {"command": "train.py", "limit": "50"}
    for _ in range(20):  # fewer pages on a small registry (--jobs): the last one there is
        _, body = get(base, params)
        if not body.get("next"):
            break
        params["cursor"] = body["next"]
    times = sorted(get(base, params)[0] for _ in range(rounds))
    p95 = times[max(0, int(round(0.95 * len(times))) - 1)]
    ok &= p95 <= TARGET_MS
    print(f"  {'page 21 by cursor':28s} p50 {statistics.median(times):6.1f} ms  p95 {p95:6.1f} ms")
    return ok


def postgres(tmp: Path) -> tuple[str, list[str], Path]:
    from tests.registry import conftest as c

    bindir = c.pg_bindir()
    sudo = c.as_cluster_owner(tmp)
    data, port = tmp / "data", free_port()
    c.run_checked([*sudo, str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "glaas",
                   "-E", "UTF8", "--no-sync"], "initdb")  # fmt: skip
    opts = f"-F -p {port} -k {tmp} -c listen_addresses=''"
    c.run_checked([*sudo, str(bindir / "pg_ctl"), "start", "-w", "-D", str(data), "-l",
                   str(tmp / "log"), "-o", opts], "pg_ctl start")  # fmt: skip
    c._create_database(tmp, port)
    return f"postgresql+psycopg://glaas@/glaas_test?host={tmp}&port={port}", sudo, bindir


@contextmanager
def serving(url: str, log_path: Path) -> Iterator[str]:
    """A real ``glaas-server`` (``python -m glaas serve``) on a free loopback port over ``url``,
    answering its health check; its base URL. Stopped on leaving."""
    port = free_port()
    env = {**os.environ, "GLAAS_HOST": "127.0.0.1", "GLAAS_PORT": str(port),
           "GLAAS_DATABASE_URL": url}  # fmt: skip
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "glaas", "serve"], env=env, stdout=log,
                                stderr=log)  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(base + "/api/v1/health", timeout=2)
                break
            except OSError:
                time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        proc.wait()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--jobs", type=int, default=100_000)
    ap.add_argument("--rounds", type=int, default=40)
    ap.add_argument("--postgres", action="store_true")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="glaas-bench-"))
    pg = None
    try:
        if args.postgres:
            url, sudo, bindir = postgres(tmp)
            pg = (sudo, bindir)
        else:
            url = f"sqlite:///{tmp / 'glaas.db'}"
        fill(url, args.jobs)
        with serving(url, tmp / "server.log") as base:
            print(f"search over {args.jobs:,} jobs on {url.split(':')[0]} ({args.rounds} rounds):")
            ok = measure(base, args.rounds)
        print("target p95 <= 100 ms:", "met" if ok else "NOT met")
        return 0 if ok else 1
    finally:
        if pg is not None:
            subprocess.run([*pg[0], str(pg[1] / "pg_ctl"), "stop", "-D", str(tmp / "data"),
                            "-m", "fast"], capture_output=True)  # fmt: skip
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

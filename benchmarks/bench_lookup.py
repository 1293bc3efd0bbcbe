#!/usr/bin/env python3
"""GLaaS hash lookup under load: p50/p95 of GET /api/v1/{artifacts,jobs,sessions}/{hash} with
50 concurrent clients against a real ``glaas-server`` on loopback.

Not a pytest test. Usage:

    python benchmarks/bench_lookup.py                      # SQLite, 5,000 jobs, 50 clients
    python benchmarks/bench_lookup.py --postgres           # a throw-away PostgreSQL cluster (initdb)
    GLAAS_DATABASE_URL=postgresql+psycopg://… python benchmarks/bench_lookup.py   # an existing one
    python benchmarks/bench_lookup.py --jobs 20000 --clients 50 --requests 100

The registry is filled the way bench_search.py fills it (Core inserts into a migrated database:
jobs, two edges each, artifacts, labels), plus sessions registered through the API (a chain cut
into overlapping windows), so lookups meet the joins they meet in real use. Each client is a
thread with its own keep-alive connection, issuing lookups back to back (closed loop; --think-ms
paces each client between lookups, like a person or a CI job) in a fixed mix: full artifact hash, 12-digit artifact prefix, full job hash, job uid,
session hash. A 1-client run first gives the unloaded service time. Target: p95 ≤ 20 ms with 50
concurrent clients.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from bench_search import fill, postgres, serving  # noqa: E402

TARGET_MS = 20.0
KINDS = ("artifact", "artifact prefix", "job", "job uid", "session")
SESSION_JOBS = 600  # a chain registered as windows of 20 jobs, overlapping by 10


def register_sessions(base: str) -> list[str]:
    from tests.registry.synth import chain, window

    parts = chain(SESSION_JOBS, salt="bench-lookup")
    sessions = []
    for start in range(0, SESSION_JOBS - 10, 10):
        bundle = window(parts, start, start + 20, who=f"user{start % 7}")
        req = urllib.request.Request(
            base + "/api/v1/register",
            data=json.dumps(bundle).encode(),
            headers={"content-type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(req, timeout=60) as resp:
            sessions.append(json.loads(resp.read())["session_hash"])
    return sessions


def targets(n_jobs: int, sessions: list[str], count: int) -> list[tuple[str, str]]:
    """(kind, path) pairs in a fixed mix, random hashes of what is registered."""
    from tests.registry.synth import h

    rnd = random.Random(20)
    out = []
    for k in range(count):
        i = rnd.randrange(n_jobs)
        kind = KINDS[k % 5]
        if kind == "artifact":
            path = f"/api/v1/artifacts/{h('out', str(i))}"
        elif kind == "artifact prefix":
            path = f"/api/v1/artifacts/{h('in', str(i))[:12]}"
        elif kind == "job":
            path = f"/api/v1/jobs/{h('job', str(i))}"
        elif kind == "job uid":
            path = f"/api/v1/jobs/{h('job', str(i))[:12]}"
        else:
            path = f"/api/v1/sessions/{rnd.choice(sessions)}"
        out.append((kind, path))
    return out


def load(
    port: int, work: list[tuple[str, str]], clients: int, think: float = 0.0
) -> list[tuple[str, float]]:
    """``clients`` threads, each on its own keep-alive connection, all starting together, each
    waiting ``think`` seconds (randomised ±50 %) between its lookups."""
    per = [work[c::clients] for c in range(clients)]
    results: list[list[tuple[str, float]]] = [[] for _ in range(clients)]
    errors: list[str] = []
    gate = threading.Barrier(clients)

    def client(c: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        try:
            conn.request("GET", "/api/v1/health")  # connect before the clock starts
            conn.getresponse().read()
            gate.wait()
            pace = random.Random(c)
            for kind, path in per[c]:
                if think:
                    time.sleep(think * pace.uniform(0.5, 1.5))
                t0 = time.perf_counter()
                conn.request("GET", path)
                resp = conn.getresponse()
                body = resp.read()
                took = (time.perf_counter() - t0) * 1000
                if resp.status != 200:
                    errors.append(f"{path}: {resp.status} {body[:200]!r}")
                results[c].append((kind, took))
        finally:
            conn.close()

    threads = [threading.Thread(target=client, args=(c,)) for c in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise SystemExit(f"{len(errors)} lookups failed, e.g. {errors[0]}")
    return [r for rs in results for r in rs]


def in_process(url: str, work: list[tuple[str, str]]) -> dict[str, tuple[float, float, float]]:
    """Each lookup of ``work`` through the app in this process (a plain ASGI call: no socket,
    no HTTP client), one after another, by kind and for all: (CPU ms per lookup, wall ms per
    lookup, SQL statements per lookup). The server's own cost per lookup, without load or
    network."""
    import asyncio

    from sqlalchemy import event  # noqa: TID251 - counts the server's statements

    from glaas.api.app import create_app
    from glaas.settings import Settings

    app = create_app(Settings(host="127.0.0.1", port=0, database_url=url))
    statements = [0]

    @event.listens_for(app.state.engine, "before_cursor_execute")
    def _count(*_a: object) -> None:
        statements[0] += 1

    async def call(path: str) -> int:
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
                 "method": "GET", "scheme": "http", "path": path, "raw_path": path.encode(),
                 "root_path": "", "query_string": b"", "headers": [(b"host", b"bench")],
                 "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80)}  # fmt: skip
        status = [0]

        async def receive() -> dict[str, object]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(msg: dict[str, object]) -> None:
            if msg["type"] == "http.response.start":
                status[0] = int(msg["status"])  # type: ignore[call-overload]

        await app(scope, receive, send)
        return status[0]

    async def run_all(paths: list[str]) -> None:
        for path in paths:
            code = await call(path)
            if code != 200:
                raise SystemExit(f"in-process {path}: {code}")

    def timed(paths: list[str]) -> tuple[float, float, float]:
        statements[0] = 0
        c0, t0 = time.process_time(), time.perf_counter()
        asyncio.run(run_all(paths))
        cpu, wall = time.process_time() - c0, time.perf_counter() - t0
        return cpu * 1000 / len(paths), wall * 1000 / len(paths), statements[0] / len(paths)

    asyncio.run(run_all([p for _, p in work[:100]]))  # warm: imports, caches, the pool
    out = {kind: timed([p for k, p in work if k == kind]) for kind in KINDS}
    out["all"] = timed([p for _, p in work])
    app.state.engine.dispose()
    return out


def pct(times: list[float], q: float) -> float:
    s = sorted(times)
    return s[max(0, int(round(q * len(s))) - 1)]


def report(title: str, samples: list[tuple[str, float]], wall: float) -> float:
    times = [t for _, t in samples]
    p95 = pct(times, 0.95)
    print(
        f"{title}: {len(times)} lookups in {wall:.1f} s ({len(times) / wall:.0f}/s)  "
        f"p50 {statistics.median(times):6.1f} ms  p95 {p95:6.1f} ms  "
        f"p95/target {p95 / TARGET_MS:.2f}",
        flush=True,
    )
    for kind in KINDS:
        ks = [t for k, t in samples if k == kind]
        if ks:
            print(
                f"    {kind:16s} p50 {statistics.median(ks):6.1f} ms  p95 {pct(ks, 0.95):6.1f} ms"
            )
    return p95


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--jobs", type=int, default=5000)
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--requests", type=int, default=60, help="lookups per client")
    ap.add_argument(
        "--think-ms", type=float, default=0.0, help="each client's pause between lookups"
    )
    ap.add_argument("--postgres", action="store_true", help="start a throw-away cluster")
    ap.add_argument(
        "--in-process",
        action="store_true",
        help="also time lookups through the app in this process (the server's own cost)",
    )
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="glaas-bench-lookup-"))
    pg = None
    try:
        if os.environ.get("GLAAS_DATABASE_URL"):
            url = os.environ["GLAAS_DATABASE_URL"]
        elif args.postgres:
            url, sudo, bindir = postgres(tmp)
            pg = (sudo, bindir)
        else:
            url = f"sqlite:///{tmp / 'glaas.db'}"
        fill(url, args.jobs)
        with serving(url, tmp / "server.log") as base:
            port = int(base.rsplit(":", 1)[1])
            sessions = register_sessions(base)
            backend = url.split(":")[0].split("+")[0]
            print(
                f"hash lookup on {backend}: {args.jobs + SESSION_JOBS:,} jobs, "
                f"{len(sessions)} sessions of 20 jobs",
                flush=True,
            )
            if args.in_process:
                costs = in_process(url, targets(args.jobs, sessions, 1000))
                print("  in process, one after another, no HTTP (per lookup):")
                for kind, (cpu, wall, stmts) in costs.items():
                    print(f"    {kind:16s} {cpu:6.2f} ms CPU  {wall:6.2f} ms wall  "
                          f"{stmts:4.1f} SQL statements", flush=True)  # fmt: skip
            load(port, targets(args.jobs, sessions, 200), 10)  # warm: caches, pool, threads
            t0 = time.perf_counter()
            one = load(port, targets(args.jobs, sessions, 200), 1)
            report("  1 client ", one, time.perf_counter() - t0)
            work = targets(args.jobs, sessions, args.clients * args.requests)
            t0 = time.perf_counter()
            many = load(port, work, args.clients, args.think_ms / 1000)
            paced = f", {args.think_ms:.0f} ms think" if args.think_ms else ""
            p95 = report(f" {args.clients} clients{paced}", many, time.perf_counter() - t0)
        ok = p95 <= TARGET_MS
        print(f"target p95 <= {TARGET_MS:.0f} ms with {args.clients} clients:",
              "met" if ok else "NOT met")  # fmt: skip
        return 0 if ok else 1
    finally:
        if pg is not None:
            subprocess.run([*pg[0], str(pg[1] / "pg_ctl"), "stop", "-D", str(tmp / "data"),
                            "-m", "fast"], capture_output=True)  # fmt: skip
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

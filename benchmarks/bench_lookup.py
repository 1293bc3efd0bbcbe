#!/usr/bin/env python3
"""GLaaS hash lookup under load: p50/p95 of GET /api/v1/{artifacts,jobs,sessions}/{hash} with
50 concurrent clients against a real ``glaas-server`` on loopback.

Not a pytest test. Usage:

    python benchmarks/bench_lookup.py                      # SQLite, 5,000 jobs, 50 clients
    python benchmarks/bench_lookup.py --workers 1          # glaas-server --workers 1 (default: one per CPU)
    python benchmarks/bench_lookup.py --postgres           # a throw-away PostgreSQL cluster (initdb)
    GLAAS_DATABASE_URL=postgresql+psycopg://… python benchmarks/bench_lookup.py   # an existing one
    python benchmarks/bench_lookup.py --in-process --baseline HEAD~3   # the server's own cost, before/after

The registry is filled the way bench_search.py fills it (Core inserts into a migrated database:
jobs, two edges each, artifacts, labels), plus sessions registered through the API (a chain cut
into overlapping windows), so lookups meet the joins they meet in real use. Each client is an
asyncio task with its own keep-alive connection, in a fixed mix of lookups: full artifact hash,
12-digit artifact prefix, full job hash, job uid, session hash. A 1-client run first gives the
unloaded service time. Then 50 clients twice:

- closed loop: each client asks again as soon as it is answered. The offered load is whatever
  the server can take, so the latency is mostly queueing: 50 requests always waiting, p95 ~
  50 x the time per lookup / the workers. The worst case, not a realistic one.
- paced (--think-ms, default 100): each client waits 50-150 ms (random) between its lookups,
  like a person or a CI job polling; 50 clients offer ~500 lookups/s when the server keeps up.

In both, each client's first 10 lookups (SETTLE) are not timed: the 50 clients start in the
same instant, and glaas.api.balance moves some of their connections to the other server
process in their first 0.3 s; the p95 with them is printed too.

With wrk installed (make bench installs it), the closed loop runs once more with wrk's 50
connections (WRK_SECONDS, after an untimed second), and that run's p95 is the closed loop's
verdict: this script's asyncio clients take ~0.09 ms of CPU a lookup, a seventh of the two
cores the server and PostgreSQL run on (clients of a real registry run on their own
machines); wrk's take about a fifth of that. Both runs are printed.

Target (issue 17): p95 <= 20 ms with 50 concurrent clients. Each run prints PASS or MISS for
both; the exit status is 0 only when both pass.

--in-process times each lookup kind through the app in this process (a plain ASGI call, one
after another: CPU and wall ms and SQL statements per lookup); --baseline REV does the same
for the glaas/ of a git revision (git archive) on the same database in the same run, the fair
before/after on a loaded machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from bench_search import fill, postgres, serving  # noqa: E402

if "--glaas-from" in sys.argv:  # a baseline's glaas/ before this tree's (after bench_search's)
    sys.path.insert(0, sys.argv[sys.argv.index("--glaas-from") + 1])

TARGET_MS = 20.0
KINDS = ("artifact", "artifact prefix", "job", "job uid", "session")
SETTLE = 10  # each client's lookups before those timed (load)
WRK_SECONDS = 4  # the closed loop with wrk's clients (when wrk is installed)
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


Samples = list[tuple[str, float]]  # (kind, ms) of each lookup


def load(
    port: int, work: list[tuple[str, str]], clients: int, think: float = 0.0, settle: int = 0
) -> tuple[Samples, Samples]:
    """``clients`` clients, each on its own keep-alive connection, all starting together, each
    waiting ``think`` seconds (randomised ±50 %) between its lookups: asyncio tasks in this
    process writing plain HTTP/1.1 requests (http.client in 50 threads cost 0.22-0.27 ms of CPU
    a lookup, a fifth of the machine's at full load, taken from the server it measures; this
    costs about a fifth of that). Each lookup is timed from writing the request to reading the
    whole answer; an answer that closes its connection (glaas.api.balance moving the client to
    another server process) is followed by a new one, its time counted in that lookup's.

    Each client first looks up its first ``settle`` keys once more, untimed: 50 clients that
    start in the same instant, and whose connections glaas.api.balance is still moving between
    the server's processes in their first 0.3 s, are not how they go on. (the timed samples,
    the settling ones)."""
    return _run(_load(port, work, clients, think, settle))


def _run(main: Any) -> Any:
    """``main`` on uvloop's event loop when it is installed (uvicorn's standard extra brings
    it): the clients' own CPU a lookup ~0.07-0.09 ms on asyncio's, taken from the cores of
    the server they measure."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - installed with glaas-server
        return asyncio.run(main)
    return uvloop.run(main)


async def _get(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, path: str
) -> tuple[int, bytes, bool]:
    """(status, body, whether the server closes the connection after it)."""
    writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    fields = {k.strip().lower(): v.strip() for k, _, v in (x.partition(b":") for x in lines[1:])}
    if b"content-length" not in fields:
        raise SystemExit(f"{path}: an answer without content-length ({head[:200]!r})")
    body = await reader.readexactly(int(fields[b"content-length"]))
    return status, body, fields.get(b"connection", b"").lower() == b"close"


async def _load(
    port: int, work: list[tuple[str, str]], clients: int, think: float, settle: int
) -> tuple[Samples, Samples]:
    per = [work[c::clients] for c in range(clients)]
    per = [mine[:settle] + mine for mine in per]
    results: list[Samples] = [[] for _ in range(clients)]
    errors: list[str] = []
    connected, go = [0], asyncio.Event()

    async def client(c: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            if (await _get(reader, writer, "/api/v1/health"))[2]:  # connected before the clock
                writer.close()
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
            connected[0] += 1
            if connected[0] == clients:
                go.set()
            await go.wait()
            pace = random.Random(c)
            for kind, path in per[c]:
                if think:
                    await asyncio.sleep(think * pace.uniform(0.5, 1.5))
                t0 = time.perf_counter()
                status, body, closed = await _get(reader, writer, path)
                if closed:  # the server's keep-alive limit: a new connection, as clients do
                    writer.close()
                    reader, writer = await asyncio.open_connection("127.0.0.1", port)
                took = (time.perf_counter() - t0) * 1000
                if status != 200:
                    errors.append(f"{path}: {status} {body[:200]!r}")
                results[c].append((kind, took))
        finally:
            writer.close()

    await asyncio.gather(*(client(c) for c in range(clients)))
    if errors:
        raise SystemExit(f"{len(errors)} lookups failed, e.g. {errors[0]}")
    return [r for rs in results for r in rs[settle:]], [r for rs in results for r in rs[:settle]]


def in_process(url: str, work: list[tuple[str, str]]) -> dict[str, tuple[float, float, float]]:
    """Each lookup of ``work`` through the app in this process (a plain ASGI call: no socket,
    no HTTP client), one after another, by kind and for all: (CPU ms per lookup, wall ms per
    lookup, SQL statements per lookup). The server's own cost per lookup, without load or
    network."""
    from sqlalchemy import event  # noqa: TID251 - counts the server's statements

    from glaas.api.app import create_app
    from glaas.settings import Settings

    app = create_app(Settings(host="127.0.0.1", port=0, database_url=url))
    # What the lookups read through: on PostgreSQL their own connections, which count their
    # statements (glaas.service.pg_lookups; before it, an engine of their own); else the app's.
    lookups = getattr(app.state, "lookup_engine", app.state.engine)
    pg = getattr(app.state, "pg_lookups", None)
    statements = [0]

    def seen(sql: object) -> None:
        # What reaches the driver (the lookups run their SQL on its cursors, not through
        # SQLAlchemy's execution), transaction control and the pool's pre-ping aside.
        text = str(sql).strip()
        if text not in ("", ";") and text.split(None, 1)[0].upper() not in (
            "BEGIN",
            "COMMIT",
            "ROLLBACK",
        ):
            statements[0] += 1

    @event.listens_for(lookups, "connect")
    def _count(dbapi_conn: Any, _record: object) -> None:
        if lookups.dialect.name == "sqlite":
            dbapi_conn.set_trace_callback(seen)
            return
        import psycopg

        class Counted(psycopg.Cursor):  # type: ignore[type-arg]
            def execute(self, query: Any, *a: Any, **kw: Any) -> Any:
                seen(query)
                return super().execute(query, *a, **kw)

        dbapi_conn.cursor_factory = Counted

    async def call(path: str) -> int:
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
                 "method": "GET", "scheme": "http", "path": path, "raw_path": path.encode(),
                 "root_path": "", "query_string": b"", "headers": [(b"host", b"bench")],
                 "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80)}  # fmt: skip
        status = [0]

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(msg: MutableMapping[str, Any]) -> None:
            if msg["type"] == "http.response.start":
                status[0] = int(msg["status"])

        await app(scope, receive, send)
        return status[0]

    async def run_all(paths: list[str]) -> None:
        for path in paths:
            code = await call(path)
            if code != 200:
                raise SystemExit(f"in-process {path}: {code}")

    def timed(paths: list[str]) -> tuple[float, float, float]:
        statements[0] = 0
        before = pg.statements if pg is not None else 0
        c0, t0 = time.process_time(), time.perf_counter()
        asyncio.run(run_all(paths))
        cpu, wall = time.process_time() - c0, time.perf_counter() - t0
        if pg is not None:
            statements[0] += pg.statements - before
        return cpu * 1000 / len(paths), wall * 1000 / len(paths), statements[0] / len(paths)

    asyncio.run(run_all([p for _, p in work[:100]]))  # warm: imports, caches, the pool
    kinds = [kind for kind in KINDS if any(k == kind for k, _ in work)]
    out = {kind: timed([p for k, p in work if k == kind]) for kind in kinds}
    out["all"] = timed([p for _, p in work])
    lookups.dispose()
    app.state.engine.dispose()
    if pg is not None:
        pg.close()
    return out


WRK_SCRIPT = """
paths = %s
counter = 0
request = function()
  counter = counter + 1
  return wrk.format("GET", paths[(counter - 1) %% #paths + 1])
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '\\n{"requests": %%d, "errors": %%d, "seconds": %%f, "p50": %%f, "p95": %%f, "p99": %%f}\\n',
    summary.requests, e.connect + e.read + e.write + e.status + e.timeout,
    summary.duration / 1e6, latency:percentile(50) / 1000, latency:percentile(95) / 1000,
    latency:percentile(99) / 1000))
end
"""


def wrk_closed_loop(port: int, work: list[tuple[str, str]], clients: int, seconds: float,
                    tmp: Path) -> dict[str, Any]:  # fmt: skip
    """``clients`` keep-alive connections of wrk (an HTTP load generator in C), each asking
    again as soon as it is answered, for ``seconds``, through the paths of ``work`` in turn:
    {requests, errors, seconds, p50, p95, p99} (ms). wrk's clients cost about a fifth of the
    CPU of this script's (a lookup's ~0.02 ms against ~0.09), on the same cores as the server
    they measure."""
    script = tmp / "lookups.lua"
    script.write_text(WRK_SCRIPT % ("{" + ",".join(json.dumps(p) for _, p in work) + "}"))
    out = subprocess.run(
        ["wrk", "-t1", f"-c{clients}", f"-d{seconds}s", "-s", str(script),
         f"http://127.0.0.1:{port}"],
        capture_output=True, text=True, check=True, timeout=seconds + 60,
    ).stdout  # fmt: skip
    found: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return found


def server_cpu(port: int) -> float:
    """CPU seconds (user + system) used so far by the glaas-server on ``port``: its processes
    (the supervisor and its workers) are the ones whose environment names the port."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if f"GLAAS_PORT={port}".encode() not in (proc / "environ").read_bytes().split(b"\0"):
                continue
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / tick


def pct(times: list[float], q: float) -> float:
    s = sorted(times)
    return s[max(0, int(round(q * len(s))) - 1)]


def report(title: str, samples: Samples, wall: float, done: int = 0) -> float:
    """Print the lookups' p50 and p95 (by kind too) and the rate (``done`` lookups in ``wall``
    seconds: the timed ones unless given); the p95."""
    times = [t for _, t in samples]
    p95 = pct(times, 0.95)
    done = done or len(times)
    print(
        f"{title}: {len(times)} lookups timed, {done / wall:.0f}/s  "
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


def print_costs(title: str, costs: dict[str, tuple[float, float, float]]) -> None:
    print(f"  in process, one after another, no HTTP, per lookup ({title}):")
    for kind, (cpu, wall, stmts) in costs.items():
        print(f"    {kind:16s} {cpu:6.2f} ms CPU  {wall:6.2f} ms wall  "
              f"{stmts:4.1f} SQL statements", flush=True)  # fmt: skip


def baseline_costs(rev: str, url: str, work: list[tuple[str, str]], tmp: Path) -> Any:
    """``in_process`` for the glaas/ of git revision ``rev``, in a child process."""
    tree = tmp / "baseline"
    tree.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(REPO), "archive", rev, "glaas"],
                             capture_output=True, check=True).stdout  # fmt: skip
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
    proc = subprocess.run(
        [sys.executable, __file__, "--glaas-from", str(tree), "--costs-of", url],
        input=json.dumps(work), capture_output=True, text=True, check=True,
    )  # fmt: skip
    return json.loads(proc.stdout)


def wrk_report(
    port: int, work: list[tuple[str, str]], clients: int, python_cpu: float, tmp: Path
) -> tuple[float, str]:
    """The closed loop again with wrk's clients (WRK_SECONDS, after a second untimed): (its
    p95, how it was run)."""
    wrk_closed_loop(port, work, clients, 1, tmp)  # connections settled, as SETTLE does
    s0 = server_cpu(port)
    got = wrk_closed_loop(port, work, clients, WRK_SECONDS, tmp)
    if got["errors"]:
        raise SystemExit(f"wrk: {got['errors']} of {got['requests']} lookups failed")
    rate = got["requests"] / got["seconds"]
    served = (server_cpu(port) - s0) * 1000 / got["requests"]
    print(
        f" {clients} clients, closed loop, wrk's clients: {got['requests']} lookups, "
        f"{rate:.0f}/s  p50 {got['p50']:6.1f} ms  p95 {got['p95']:6.1f} ms  "
        f"p95/target {got['p95'] / TARGET_MS:.2f}\n"
        f"    CPU per lookup: server {served:.2f} ms (with this script's clients: "
        f"{python_cpu * 1000:.2f} ms)",
        flush=True,
    )
    return got["p95"], "closed loop, wrk's clients"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--jobs", type=int, default=5000)
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--requests", type=int, default=60, help="lookups per client")
    ap.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 1,
        help="glaas-server processes (default: one per CPU, as a team server runs)",
    )
    ap.add_argument(
        "--think-ms",
        type=float,
        default=100.0,
        help="paced run: each client's mean pause between lookups (0: closed loop only)",
    )
    ap.add_argument("--postgres", action="store_true", help="start a throw-away cluster")
    ap.add_argument(
        "--in-process",
        action="store_true",
        help="also time lookups through the app in this process (the server's own cost)",
    )
    ap.add_argument("--baseline", metavar="REV", help="with --in-process: also REV's glaas/")
    ap.add_argument("--glaas-from", help=argparse.SUPPRESS)
    ap.add_argument("--costs-of", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.costs_of:  # the baseline's child: work on stdin, costs on stdout
        import glaas

        assert glaas.__file__ and glaas.__file__.startswith(args.glaas_from), glaas.__file__
        work = [tuple(w) for w in json.loads(sys.stdin.read())]
        print(json.dumps(in_process(args.costs_of, work)))  # type: ignore[arg-type]
        return 0
    os.environ["GLAAS_WORKERS"] = str(args.workers)  # read by glaas-server in serving()
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
                f"{len(sessions)} sessions of 20 jobs; glaas-server --workers {args.workers}; "
                f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}",
                flush=True,
            )
            if args.in_process:
                mix = targets(args.jobs, sessions, 1000)
                if args.baseline:
                    print_costs(
                        f"baseline {args.baseline}", baseline_costs(args.baseline, url, mix, tmp)
                    )
                print_costs("this tree", in_process(url, mix))
                if args.baseline:  # again, so neither side has the quieter moment
                    print_costs(
                        f"baseline {args.baseline}",
                        baseline_costs(args.baseline, url, mix, tmp / "b2"),
                    )
            load(port, targets(args.jobs, sessions, 200), 10)  # warm: caches, pool, threads
            t0, s0 = time.perf_counter(), server_cpu(port)
            one, _ = load(port, targets(args.jobs, sessions, 200), 1)
            report("  1 client ", one, time.perf_counter() - t0)
            print(f"    CPU per lookup: server {(server_cpu(port) - s0) * 1000 / len(one):.2f} ms")
            work = targets(args.jobs, sessions, args.clients * args.requests)
            verdicts = []
            for think in [0.0] + ([args.think_ms] if args.think_ms else []):
                t0, c0, s0 = time.perf_counter(), time.process_time(), server_cpu(port)
                many, settling = load(port, work, args.clients, think / 1000, SETTLE)
                wall, cpu = time.perf_counter() - t0, time.process_time() - c0
                served, done = server_cpu(port) - s0, len(many) + len(settling)
                how = f"paced, {think:.0f} ms think" if think else "closed loop"
                p95 = report(f" {args.clients} clients, {how}", many, wall, done)
                whole = pct([t for _, t in many + settling], 0.95)
                print(
                    f"    CPU per lookup: server {served * 1000 / done:.2f} ms "
                    f"({served / wall:.2f} CPUs busy), these clients {cpu * 1000 / done:.2f}"
                    f" ms ({cpu / wall:.2f} CPUs); p95 with each client's first {SETTLE} "
                    f"lookups {whole:.1f} ms"
                )
                if not think and shutil.which("wrk"):
                    p95, how = wrk_report(port, work, args.clients, served / done, tmp)
                verdict = "PASS" if p95 <= TARGET_MS else "MISS"
                verdicts.append(verdict)
                print(
                    f"  {verdict}: p95 {p95:.1f} ms against {TARGET_MS:.0f} ms ({how})", flush=True
                )
        return 0 if all(v == "PASS" for v in verdicts) else 1
    finally:
        if pg is not None:
            subprocess.run([*pg[0], str(pg[1] / "pg_ctl"), "stop", "-D", str(tmp / "data"),
                            "-m", "fast"], capture_output=True)  # fmt: skip
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

"""100 registrations of overlapping lineage sent at once to a real server (SQLite and PostgreSQL):
every job, artifact, alias, edge, label event and session link is stored exactly once, nothing is
lost, and every request is answered 200 the first time.

No retries: the server has no retryable status for registration. On SQLite a registration waits
for the write lock (BEGIN IMMEDIATE, 30 s busy timeout); on PostgreSQL overlapping INSERT … ON
CONFLICT DO NOTHING wait on each other's rows, in key order (docs/registry-api.md, Register).
"""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy import func, select

from glaas import models as m
from tests.registry.synth import chain, h, window

N_REQUESTS = 100
N_JOBS = 60
TIMEOUT = 240  # seconds for all 100 answers (each request has its own 60 s in Api)


def overlapping_bundles(parts: dict[str, Any]) -> list[dict[str, Any]]:
    """100 windows of 5 to 15 jobs over a 60-job chain, starting every 7 jobs round the chain:
    neighbours share jobs and artifacts, a few windows are exactly the same bundle (the same
    session sent several times at once), and together they cover every job."""
    bundles = []
    for i in range(N_REQUESTS):
        start = (i * 7) % (N_JOBS - 4)
        stop = min(N_JOBS, start + 5 + i % 11)
        if i == N_REQUESTS - 1:
            start, stop = N_JOBS - 10, N_JOBS  # the chain's tail, whatever the stride missed
        b = window(parts, start, stop, who=f"user{i % 5}")
        for a in b["artifacts"]:  # the same alias for an artifact in every bundle that has it
            a["aliases"] = [{"algorithm": "sha256", "digest": "sha256:" + h("alias", a["hash"])}]
        # The same label event (target, key, set_at) from every bundle that has its artifact.
        b["labels"] = [
            {
                "target_kind": "artifact",
                "target": a["hash"],
                "key": "rows",
                "value": str(a["size"]),
                "set_at": 1000.0 + a["size"],
            }
            for a in b["artifacts"]
            if a["size"] % 3 == 0
        ]
        bundles.append(b)
    return bundles


def count(conn, model, column, values) -> int:
    return conn.scalar(select(func.count()).select_from(model).where(column.in_(list(values))))


def test_100_concurrent_overlapping_registrations_store_every_record_once(server, engine):
    parts = chain(N_JOBS)
    bundles = overlapping_bundles(parts)
    covered = {j["uid"] for b in bundles for j in b["jobs"]}
    assert covered == {j["uid"] for j in parts["jobs"]}  # the windows cover the whole chain
    distinct = {tuple(sorted(j["uid"] for j in b["jobs"])) for b in bundles}
    assert len(distinct) < N_REQUESTS  # some bundles are sent more than once, at the same time

    start = threading.Barrier(N_REQUESTS, timeout=60)

    def send(bundle: dict[str, Any]) -> tuple[int, Any]:
        start.wait()  # all 100 leave together
        return server.post("/api/v1/register", bundle)

    with ThreadPoolExecutor(N_REQUESTS) as pool:
        futures = [pool.submit(send, b) for b in bundles]
        answers = [f.result(timeout=TIMEOUT) for f in futures]

    refused = [(status, out) for status, out in answers if status != 200]
    assert refused == [], refused[:3]
    results = [out for _, out in answers]

    # Every response agrees on each job's registry hash: one hash per uid, 60 in all.
    by_uid: dict[str, set[str]] = {}
    for r in results:
        for uid, jh in r["job_hashes"].items():
            by_uid.setdefault(uid, set()).add(jh)
    assert all(len(v) == 1 for v in by_uid.values())
    job_hashes = {next(iter(v)) for v in by_uid.values()}
    assert len(job_hashes) == N_JOBS

    # Each distinct lineage is one session, created by exactly one of the requests that sent it.
    created = Counter(r["session_hash"] for r in results if r["created"])
    sessions = {r["session_hash"] for r in results}
    assert len(sessions) == len(distinct)
    assert created == Counter({s: 1 for s in sessions})

    art_hashes = {a["hash"] for a in parts["artifacts"]}
    aliases = {"sha256:" + h("alias", a) for a in art_hashes}
    labelled = {a["hash"] for a in parts["artifacts"] if a["size"] % 3 == 0}
    links = {(r["session_hash"], jh) for r in results for jh in r["job_hashes"].values()}
    with engine.connect() as conn:
        assert count(conn, m.Artifact, m.Artifact.hash, art_hashes) == N_JOBS + 1
        assert count(conn, m.ArtifactAlias, m.ArtifactAlias.digest, aliases) == N_JOBS + 1
        assert count(conn, m.Job, m.Job.job_hash, job_hashes) == N_JOBS
        assert count(conn, m.Edge, m.Edge.job_hash, job_hashes) == 2 * N_JOBS
        assert count(conn, m.Session, m.Session.session_hash, sessions) == len(sessions)
        stored_links = {
            (row.session_hash, row.job_hash)
            for row in conn.execute(
                select(m.SessionJob.session_hash, m.SessionJob.job_hash).where(
                    m.SessionJob.session_hash.in_(sessions)
                )
            )
        }
        assert stored_links == links
        events = conn.execute(
            select(m.LabelEvent.target, m.LabelEvent.key, m.LabelEvent.set_at).where(
                m.LabelEvent.target.in_(labelled)
            )
        ).all()
        assert sorted(e.target for e in events) == sorted(labelled)  # one event per artifact

    # Nothing lost through the API either: each job reads its artifact and writes the next one.
    uid_to_hash = {uid: next(iter(v)) for uid, v in by_uid.items()}
    for i, job in enumerate(parts["jobs"]):
        status, served = server.get(f"/api/v1/jobs/{uid_to_hash[job['uid']]}")
        assert status == 200
        assert [f["hash"] for f in served["inputs"]] == [parts["artifacts"][i]["hash"]]
        assert [f["hash"] for f in served["outputs"]] == [parts["artifacts"][i + 1]["hash"]]
        expected = {s for s, jh in links if jh == uid_to_hash[job["uid"]]}
        assert set(served["sessions"]) == expected

    # And the whole chain is one lineage again: the last artifact's upstream is all 60 jobs.
    last = parts["artifacts"][-1]["hash"]
    status, up = server.get(f"/api/v1/artifacts/{last}/lineage?direction=up&depth=100")
    assert status == 200
    assert {j["job_hash"] for j in up["jobs"]} == job_hashes

"""Traversal (upstream/downstream with a depth) and the reproduce recipe."""

from __future__ import annotations

from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session as Db

from glaas import models as m
from glaas.service.auth import ANONYMOUS_VIEWER, Viewer
from glaas.service.lookup import artifact_hash, job_json
from glaas.service.visibility import attribute, visible

Direction = Literal["up", "down"]
MAX_DEPTH = 1000  # bounds a request; real pipelines are far shallower


def _edges_of_artifacts(db: Db, hashes: set[str], role: str, viewer: Viewer) -> list[m.Edge]:
    """The edges of jobs ``viewer`` can see (a job's edges are part of it: once a job is
    visible, so are all of its edges)."""
    q = select(m.Edge).where(
        m.Edge.artifact_hash.in_(sorted(hashes)),
        m.Edge.role == role,
        visible(m.Edge.job_hash, viewer),
    )
    return list(db.scalars(q))


def _edges_of_jobs(db: Db, jobs: set[str], role: str) -> list[m.Edge]:
    q = select(m.Edge).where(m.Edge.job_hash.in_(sorted(jobs)), m.Edge.role == role)
    return list(db.scalars(q))


def walk(
    db: Db, start: str, direction: Direction, depth: int, viewer: Viewer = ANONYMOUS_VIEWER
) -> tuple[set[str], set[str], list[m.Edge]]:
    """Jobs and artifacts within ``depth`` job steps of ``start``, and the edges between them.

    Upstream, a step goes from artifacts to the jobs that wrote them and on to what those read;
    downstream, from artifacts to the jobs that read them and on to what those wrote.
    """
    toward, away = ("write", "read") if direction == "up" else ("read", "write")
    jobs: set[str] = set()
    artifacts = {start}
    edges: dict[tuple[str, str, str, str], m.Edge] = {}
    frontier = {start}
    for _ in range(min(depth, MAX_DEPTH)):
        linked = [
            e for e in _edges_of_artifacts(db, frontier, toward, viewer) if e.job_hash not in jobs
        ]
        new_jobs = {e.job_hash for e in linked}
        if not new_jobs:
            break
        jobs |= new_jobs
        further = _edges_of_jobs(db, new_jobs, away)
        for e in linked + further:
            edges[(e.job_hash, e.artifact_hash, e.role, e.path)] = e
        frontier = {e.artifact_hash for e in further} - artifacts
        artifacts |= frontier
    return jobs, artifacts, sorted(edges.values(), key=lambda e: (e.job_hash, e.role, e.path))


def lineage(
    db: Db, text: str, direction: Direction, depth: int, viewer: Viewer = ANONYMOUS_VIEWER
) -> dict[str, Any]:
    with db.begin():
        h = artifact_hash(db, text, viewer)
        jobs, artifacts, edges = walk(db, h, direction, depth, viewer)
        rows = db.scalars(select(m.Job).where(m.Job.job_hash.in_(sorted(jobs))))
        arts = db.scalars(select(m.Artifact).where(m.Artifact.hash.in_(sorted(artifacts))))
        docs = [job_json(db, j) for j in _dependency_order(list(rows), edges)]
        attribute(db, docs, "job_hash", viewer)
        return {
            "artifact": h,
            "direction": direction,
            "depth": depth,
            "jobs": docs,
            "artifacts": [{"hash": a.hash, "size": a.size, "composite": a.composite} for a in arts],
            "edges": [
                {"job": e.job_hash, "artifact": e.artifact_hash, "role": e.role, "path": e.path}
                for e in edges
            ],
        }


def _dependency_order(jobs: list[m.Job], edges: list[m.Edge]) -> list[m.Job]:
    """Producers before consumers (Kahn's algorithm); ties broken by start time, then hash."""
    by_hash = {j.job_hash: j for j in jobs}
    writers: dict[str, set[str]] = {}
    for e in edges:
        if e.role == "write":
            writers.setdefault(e.artifact_hash, set()).add(e.job_hash)
    needs: dict[str, set[str]] = {h: set() for h in by_hash}
    for e in edges:
        if e.role == "read" and e.job_hash in needs:
            needs[e.job_hash] |= writers.get(e.artifact_hash, set()) - {e.job_hash}

    def tie(h: str) -> tuple[str, int, str]:
        j = by_hash[h]
        return (j.started_at or "", j.step_number or 0, h)

    order: list[m.Job] = []
    done: set[str] = set()
    while len(done) < len(by_hash):
        ready = [h for h in by_hash if h not in done and needs[h] <= done]
        if not ready:  # a cycle (a job rewrote its own input via another): fall back to time order
            ready = [h for h in by_hash if h not in done]
        nxt = min(ready, key=tie)
        done.add(nxt)
        order.append(by_hash[nxt])
    return order


def recipe(db: Db, text: str, viewer: Viewer = ANONYMOUS_VIEWER) -> dict[str, Any]:
    """What `roar reproduce` needs without a local store: the jobs to rerun, in order, and the
    source inputs (read by the lineage, written by none of its jobs) to fetch first."""
    with db.begin():
        h = artifact_hash(db, text, viewer)
        jobs, _artifacts, _ = walk(db, h, "up", MAX_DEPTH, viewer)
        edges = list(db.scalars(select(m.Edge).where(m.Edge.job_hash.in_(sorted(jobs)))))
        rows = list(db.scalars(select(m.Job).where(m.Job.job_hash.in_(sorted(jobs)))))
        written = {e.artifact_hash for e in edges if e.role == "write"}
        sources = sorted(
            {
                (e.artifact_hash, e.path)
                for e in edges
                if e.role == "read" and e.artifact_hash not in written
            }
        )
        sizes = dict(
            db.execute(
                select(m.Artifact.hash, m.Artifact.size).where(
                    m.Artifact.hash.in_([s for s, _ in sources])
                )
            )
            .tuples()
            .all()
        )
        return {
            "artifact": h,
            "steps": [_step(j, edges) for j in _dependency_order(rows, edges)],
            "sources": [{"hash": s, "size": sizes.get(s), "path": p} for s, p in sources],
        }


def _step(j: m.Job, edges: list[m.Edge]) -> dict[str, Any]:
    mine = [e for e in edges if e.job_hash == j.job_hash]
    return {
        "job_hash": j.job_hash,
        "uid": j.uid,
        "kind": j.kind,
        "step_number": j.step_number,
        "step_name": j.step_name,
        "started_at": j.started_at,
        "command": j.command,
        "argv": j.argv,
        "cwd": j.cwd,
        "git": {
            "remote": j.git_remote,
            "commit": j.git_commit,
            "branch": j.git_branch,
            "dirty": j.git_dirty,
        },
        # what a replay needs beyond the command: the hash algorithm, `roar env` names, and
        # the client's project root (recorded paths are mapped from it into another clone)
        "metadata": j.job_metadata,
        "packages": j.packages,
        "env_names": j.env_names,
        "inputs": sorted(
            ({"path": e.path, "hash": e.artifact_hash} for e in mine if e.role == "read"),
            key=lambda f: f["path"],
        ),
        "outputs": sorted(
            ({"path": e.path, "hash": e.artifact_hash} for e in mine if e.role == "write"),
            key=lambda f: f["path"],
        ),
    }

"""Register a lineage bundle: one transaction of INSERT ... ON CONFLICT DO NOTHING.

Idempotent by construction (every key is natural), and safe under concurrency: overlapping
bundles racing each other each insert what is missing and skip what another already wrote.
Rows are inserted table by table in key order, so two PostgreSQL transactions wait on each other
in one order and never deadlock.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session as Db

from glaas import models as m
from glaas.db import WRITE
from glaas.schemas import Bundle, RegisterOut
from glaas.service.auth import ANONYMOUS, ANONYMOUS_VIEWER, Viewer, grant_scope
from glaas.service.identity import job_hashes, session_hash


def register(
    db: Db, bundle: Bundle, viewer: Viewer = ANONYMOUS_VIEWER, scope: str = ANONYMOUS
) -> RegisterOut:
    """Store the bundle's records (once each, whoever sent them first) and grant them to
    ``scope`` as registered by ``viewer`` (the bundle's own ``registered_by`` is not trusted)."""
    now = time.time()
    granted, who = grant_scope(viewer, scope)  # AuthError / Forbidden before any write
    hashes = job_hashes(bundle)
    shash = session_hash(hashes, bundle)
    with db.begin():
        db.connection(execution_options=WRITE)  # SQLite: take the write lock up front
        _insert(db, m.Artifact, _artifact_rows(bundle, now, who), ["hash"])
        _insert(db, m.ArtifactAlias, _alias_rows(bundle), ["algorithm", "digest"])
        _insert(db, m.CompositeMember, _member_rows(bundle), ["composite_hash", "path"])
        _insert(db, m.Job, _job_rows(bundle, hashes, now, who), ["job_hash"])
        _insert(
            db,
            m.Edge,
            _edge_rows(bundle, hashes),
            ["job_hash", "artifact_hash", "role", "path"],
        )
        _insert_session(db, _session_row(bundle, shash, now, who))
        links = [{"session_hash": shash, "job_hash": h} for h in hashes.values()]
        _insert(db, m.SessionJob, links, ["session_hash", "job_hash"])
        labels = _label_rows(bundle, hashes, shash, who)
        for row in labels:
            row["scope"] = granted
        _insert(db, m.LabelEvent, labels, None)
        targets = [r["hash"] for r in _artifact_rows(bundle, now, who)] + list(hashes.values())
        grants = [
            {"target_hash": t, "scope": granted, "registered_by": who, "registered_at": now}
            for t in targets
        ]
        _insert(db, m.Grant, grants, ["target_hash", "scope"])
        # created: this lineage is new *in this scope* (whether another scope has it is
        # nobody else's business).
        created = _insert_grant(db, shash, granted, who, now)
    return RegisterOut(
        session_hash=shash,
        created=created,
        job_hashes=hashes,
        jobs=len(hashes),
        artifacts=len(bundle.artifacts),
        edges=len(bundle.edges),
        scope=scope,
        registered_by=who,
    )


def _dialect_insert(db: Db) -> Any:
    # ON CONFLICT DO NOTHING lives in each dialect's own insert(); the registry runs on these two.
    return postgresql.insert if db.get_bind().dialect.name == "postgresql" else sqlite.insert


def _insert(
    db: Db, model: type[m.Base], rows: list[dict[str, Any]], key: Sequence[str] | None
) -> None:
    """Insert the rows that are not there yet."""
    if not rows:
        return
    if key is not None:  # dedupe and order by key (see the module's note on deadlocks)
        rows = list({tuple(r[k] for k in key): r for r in rows}.values())
        rows.sort(key=lambda r: tuple(str(r[k]) for k in key))
    # A Core insert on the table, so row keys are column names (Job's "metadata" column).
    table = cast(Table, model.__table__)
    db.execute(_dialect_insert(db)(table).on_conflict_do_nothing(), rows)


def _insert_session(db: Db, row: dict[str, Any]) -> bool:
    """Insert the session row; True if it is new (RETURNING: rowcount after ON CONFLICT is not
    reliable on every driver)."""
    stmt = _dialect_insert(db)(m.Session).values(row).on_conflict_do_nothing()
    return db.execute(stmt.returning(m.Session.session_hash)).first() is not None


def _insert_grant(db: Db, target: str, scope: str, who: str, now: float) -> bool:
    row = {"target_hash": target, "scope": scope, "registered_by": who, "registered_at": now}
    stmt = _dialect_insert(db)(m.Grant).values(row).on_conflict_do_nothing()
    return db.execute(stmt.returning(m.Grant.target_hash)).first() is not None


def _artifact_rows(bundle: Bundle, now: float, who: str) -> list[dict[str, Any]]:
    rows = [
        {
            "hash": a.hash,
            "size": a.size,
            "composite": a.composite,
            "registered_at": now,
            "registered_by": who,
        }
        for a in bundle.artifacts
    ]
    # A composite's members are artifacts too, so a member hash can be looked up on its own.
    rows += [
        {
            "hash": mb.hash,
            "size": mb.size,
            "composite": False,
            "registered_at": now,
            "registered_by": who,
        }
        for a in bundle.artifacts
        for mb in a.members
    ]
    return rows


def _alias_rows(bundle: Bundle) -> list[dict[str, Any]]:
    return [
        {"algorithm": al.algorithm.lower(), "digest": al.digest, "artifact_hash": a.hash}
        for a in bundle.artifacts
        for al in a.aliases
    ]


def _member_rows(bundle: Bundle) -> list[dict[str, Any]]:
    return [
        {"composite_hash": a.hash, "path": mb.path, "member_hash": mb.hash, "size": mb.size}
        for a in bundle.artifacts
        for mb in a.members
    ]


def _job_rows(bundle: Bundle, hashes: dict[str, str], now: float, who: str) -> list[dict[str, Any]]:
    return [
        {
            "job_hash": hashes[j.uid],
            "uid": j.uid,
            "kind": j.kind,
            "step_number": j.step_number,
            "step_name": j.step_name,
            "command": j.command,
            "argv": j.argv,
            "cwd": j.cwd,
            "exit_code": j.exit_code,
            "interrupted": j.interrupted,
            "started_at": j.started_at,
            "ended_at": j.ended_at,
            "duration_seconds": j.duration_seconds,
            "tracer": j.tracer,
            "git_remote": j.git.remote,
            "git_commit": j.git.commit,
            "git_branch": j.git.branch,
            "git_dirty": j.git.dirty,
            "git_diff_hash": j.git.diff_hash,
            "packages": j.packages,
            "env_names": sorted(j.env_names),
            "deleted": [d.model_dump() for d in j.deleted],
            "cell": j.cell.model_dump() if j.cell else None,
            "metadata": j.metadata,
            "registered_at": now,
            "registered_by": who,
        }
        for j in bundle.jobs
    ]


def _edge_rows(bundle: Bundle, hashes: dict[str, str]) -> list[dict[str, Any]]:
    return [
        {"job_hash": hashes[e.job], "artifact_hash": e.artifact, "role": e.role, "path": e.path}
        for e in bundle.edges
    ]


def _session_row(bundle: Bundle, shash: str, now: float, who: str) -> dict[str, Any]:
    # The session's git is that of its latest job: the commit a reproduction checks out. By start
    # time, not bundle order, so the same lineage in any order records the same commit.
    git = max(bundle.jobs, key=lambda j: (j.started_at or "", j.uid)).git
    return {
        "session_hash": shash,
        "git_remote": git.remote,
        "git_commit": git.commit,
        "registered_at": now,
        "registered_by": who,
    }


def _label_rows(
    bundle: Bundle, hashes: dict[str, str], shash: str, who: str
) -> list[dict[str, Any]]:
    def target(kind: str, t: str | None) -> str:
        return {"job": hashes.get(t or "", ""), "session": shash}.get(kind, t or "")

    rows = [
        {
            "target_kind": lab.target_kind,
            "target": target(lab.target_kind, lab.target),
            "key": lab.key,
            "value": lab.value,
            "set_at": lab.set_at,
            "registered_by": who,
        }
        for lab in bundle.labels
    ]
    rows.sort(key=lambda r: (r["target_kind"], r["target"], r["key"], r["set_at"]))
    return rows

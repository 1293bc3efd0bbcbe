"""Find an artifact, job or session by full hash or unique prefix."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import and_, select
from sqlalchemy.orm import Session as Db

from glaas import models as m
from glaas.service import Ambiguous, BadPrefix, NotFound
from glaas.service.auth import ANONYMOUS_VIEWER, Viewer
from glaas.service.visibility import attribute, label_visible, visible

MIN_PREFIX = 8  # shorter prefixes would match too much to be useful, and cost a scan
CANDIDATES = 20  # how many a 409 lists
_HEX = re.compile(r"^[0-9a-f]+$")


def check_prefix(prefix: str) -> str:
    p = prefix.lower()
    if len(p) < MIN_PREFIX or len(p) > 64 or not _HEX.match(p):
        raise BadPrefix(f"{prefix!r} is not a hash or a prefix of {MIN_PREFIX} to 64 hex digits")
    return p


def _starts(column: Any, p: str) -> Any:
    """``column`` starts with the hex prefix ``p``, as a range an index answers: LIKE with a bound
    parameter is a full scan on SQLite (and on PostgreSQL outside the C collation). Stored hashes
    are lower-case hex, so every one with this prefix sorts in [p, p + "g")."""
    return and_(column >= p, column < p + "g", column.startswith(p, autoescape=True))


def _unique(kind: str, prefix: str, matches: list[str]) -> str:
    if not matches:
        raise NotFound(f"no {kind} in this registry matches {prefix!r}")
    if len(set(matches)) > 1:
        found = sorted(set(matches))
        many = f"at least {len(found)}" if len(matches) >= CANDIDATES else str(len(found))
        raise Ambiguous(f"{prefix!r} matches {many} {kind}s: give more digits", found)
    return matches[0]


def artifact_hash(db: Db, text: str, viewer: Viewer = ANONYMOUS_VIEWER) -> str:
    """A BLAKE3 hash or prefix, or any alias digest given in full (sha256:..., an ETag), of an
    artifact ``viewer`` can see (others are as absent: not found, never "forbidden")."""
    alias = db.scalar(
        select(m.ArtifactAlias.artifact_hash).where(
            m.ArtifactAlias.digest == text, visible(m.ArtifactAlias.artifact_hash, viewer)
        )
    )
    if alias is not None:
        return alias
    p = check_prefix(text)
    q = select(m.Artifact.hash).where(_starts(m.Artifact.hash, p), visible(m.Artifact.hash, viewer))
    return _unique("artifact", text, list(db.scalars(q.limit(CANDIDATES))))


def job_hash(db: Db, text: str, viewer: Viewer = ANONYMOUS_VIEWER) -> str:
    """A registry job hash or prefix, or the client's job uid (of a job ``viewer`` can see)."""
    p = check_prefix(text)
    seen = visible(m.Job.job_hash, viewer)
    by_hash = select(m.Job.job_hash).where(_starts(m.Job.job_hash, p), seen).limit(CANDIDATES)
    by_uid = select(m.Job.job_hash).where(m.Job.uid == p, seen).limit(CANDIDATES)
    # Each on its own index (an OR of the two is a full scan); a uid may be its hash's prefix.
    found = list(dict.fromkeys([*db.scalars(by_hash), *db.scalars(by_uid)]))
    return _unique("job", text, found[:CANDIDATES])


def session_hash(db: Db, text: str, viewer: Viewer = ANONYMOUS_VIEWER) -> str:
    p = check_prefix(text)
    q = select(m.Session.session_hash).where(
        _starts(m.Session.session_hash, p), visible(m.Session.session_hash, viewer)
    )
    return _unique("session", text, list(db.scalars(q.limit(CANDIDATES))))


def labels(db: Db, kind: str, target: str, viewer: Viewer = ANONYMOUS_VIEWER) -> dict[str, Any]:
    """Current labels and their history, oldest first, as registered in scopes ``viewer``
    can see."""
    q = (
        select(m.LabelEvent)
        .where(
            m.LabelEvent.target_kind == kind,
            m.LabelEvent.target == target,
            label_visible(viewer),
        )
        .order_by(m.LabelEvent.set_at, m.LabelEvent.id)
    )
    history = [
        {"key": e.key, "value": e.value, "set_at": e.set_at, "registered_by": e.registered_by}
        for e in db.scalars(q)
    ]
    current = {h["key"]: h["value"] for h in history}  # later events win
    return {"current": {k: v for k, v in current.items() if v is not None}, "history": history}


def artifact(db: Db, text: str, viewer: Viewer = ANONYMOUS_VIEWER) -> dict[str, Any]:
    with db.begin():
        h = artifact_hash(db, text, viewer)
        a = db.get_one(m.Artifact, h)
        aliases = db.scalars(select(m.ArtifactAlias).where(m.ArtifactAlias.artifact_hash == h))
        members = db.scalars(
            select(m.CompositeMember)
            .where(m.CompositeMember.composite_hash == h)
            .order_by(m.CompositeMember.path)
        )
        edges = list(
            db.scalars(
                select(m.Edge).where(m.Edge.artifact_hash == h, visible(m.Edge.job_hash, viewer))
            )
        )
        sessions = db.scalars(
            select(m.SessionJob.session_hash)
            .join(m.Edge, m.Edge.job_hash == m.SessionJob.job_hash)
            .where(m.Edge.artifact_hash == h, visible(m.SessionJob.session_hash, viewer))
            .distinct()
        )
        out: dict[str, Any] = {
            "hash": a.hash,
            "size": a.size,
            "composite": a.composite,
            "registered_at": a.registered_at,
            "registered_by": a.registered_by,
            "aliases": [{"algorithm": x.algorithm, "digest": x.digest} for x in aliases],
            "members": [{"path": x.path, "hash": x.member_hash, "size": x.size} for x in members],
            "produced_by": sorted({e.job_hash for e in edges if e.role == "write"}),
            "consumed_by": sorted({e.job_hash for e in edges if e.role == "read"}),
            "paths": sorted({e.path for e in edges}),
            "sessions": sorted(sessions),
            "labels": labels(db, "artifact", h, viewer),
        }
        attribute(db, [out], "hash", viewer)
        return out


def job_json(db: Db, job: m.Job) -> dict[str, Any]:
    edges = list(db.scalars(select(m.Edge).where(m.Edge.job_hash == job.job_hash)))

    def files(role: str) -> list[dict[str, Any]]:
        return sorted(
            ({"path": e.path, "hash": e.artifact_hash} for e in edges if e.role == role),
            key=lambda f: f["path"],
        )

    return {
        "job_hash": job.job_hash,
        "uid": job.uid,
        "kind": job.kind,
        "step_number": job.step_number,
        "step_name": job.step_name,
        "command": job.command,
        "argv": job.argv,
        "cwd": job.cwd,
        "exit_code": job.exit_code,
        "interrupted": job.interrupted,
        "started_at": job.started_at,
        "ended_at": job.ended_at,
        "duration_seconds": job.duration_seconds,
        "tracer": job.tracer,
        "git": {
            "remote": job.git_remote,
            "commit": job.git_commit,
            "branch": job.git_branch,
            "dirty": job.git_dirty,
            "diff_hash": job.git_diff_hash,
        },
        "packages": job.packages,
        "env_names": job.env_names,
        "metadata": job.job_metadata,
        "inputs": files("read"),
        "outputs": files("write"),
        "deleted": job.deleted,
        "cell": job.cell,
        "registered_at": job.registered_at,
        "registered_by": job.registered_by,
    }


def job(db: Db, text: str, viewer: Viewer = ANONYMOUS_VIEWER) -> dict[str, Any]:
    with db.begin():
        j = db.get_one(m.Job, job_hash(db, text, viewer))
        out = job_json(db, j)
        out["sessions"] = sorted(
            db.scalars(
                select(m.SessionJob.session_hash).where(
                    m.SessionJob.job_hash == j.job_hash,
                    visible(m.SessionJob.session_hash, viewer),
                )
            )
        )
        out["labels"] = labels(db, "job", j.job_hash, viewer)
        attribute(db, [out], "job_hash", viewer)
        return out


def session(db: Db, text: str, viewer: Viewer = ANONYMOUS_VIEWER) -> dict[str, Any]:
    with db.begin():
        s = db.get_one(m.Session, session_hash(db, text, viewer))
        jobs = db.scalars(
            select(m.Job)
            .join(m.SessionJob, m.SessionJob.job_hash == m.Job.job_hash)
            .where(m.SessionJob.session_hash == s.session_hash)
        )
        ordered = sorted(jobs, key=lambda j: (j.started_at or "", j.step_number or 0, j.job_hash))
        out: dict[str, Any] = {
            "session_hash": s.session_hash,
            "git": {"remote": s.git_remote, "commit": s.git_commit},
            "registered_at": s.registered_at,
            "registered_by": s.registered_by,
            "jobs": [job_json(db, j) for j in ordered],
            "labels": labels(db, "session", s.session_hash, viewer),
        }
        attribute(db, [out], "session_hash", viewer)
        attribute(db, out["jobs"], "job_hash", viewer)
        return out

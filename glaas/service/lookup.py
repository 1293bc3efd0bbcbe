"""Find an artifact, job or session by full hash or unique prefix."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import BigInteger, and_, cast, literal_column, null, select, union_all
from sqlalchemy.orm import Session as Db

from glaas import models as m
from glaas.service import Ambiguous, BadPrefix, NotFound
from glaas.service.auth import ANONYMOUS_VIEWER, Viewer
from glaas.service.visibility import attribute, grant_of, label_visible, visible

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
    artifact ``viewer`` can see (others are as absent: not found, never "forbidden"). One
    statement: the alias (which wins) and the prefix's matches together."""
    by_alias: Any = (
        select(m.ArtifactAlias.artifact_hash.label("h"), literal_column("0").label("o"))
        .where(m.ArtifactAlias.digest == text, visible(m.ArtifactAlias.artifact_hash, viewer))
        .limit(1)
    )
    try:
        p = check_prefix(text)
    except BadPrefix:
        if (alias := db.scalar(by_alias.with_only_columns(m.ArtifactAlias.artifact_hash))) is None:
            raise
        return alias
    by_prefix: Any = (
        select(m.Artifact.hash.label("h"), literal_column("1").label("o"))
        .where(_starts(m.Artifact.hash, p), visible(m.Artifact.hash, viewer))
        .limit(CANDIDATES)
    )
    a, b = by_alias.subquery(), by_prefix.subquery()
    rows = db.execute(union_all(select(a.c.h, a.c.o), select(b.c.h, b.c.o))).all()
    aliased = [h for h, o in rows if o == 0]
    if aliased:
        return aliased[0]  # type: ignore[no-any-return]
    return _unique("artifact", text, [h for h, _ in rows])


def job_hash(db: Db, text: str, viewer: Viewer = ANONYMOUS_VIEWER) -> str:
    """A registry job hash or prefix, or the client's job uid (of a job ``viewer`` can see)."""
    p = check_prefix(text)
    seen = visible(m.Job.job_hash, viewer)
    by_hash = select(m.Job.job_hash).where(_starts(m.Job.job_hash, p), seen).limit(CANDIDATES)
    by_uid = select(m.Job.job_hash).where(m.Job.uid == p, seen).limit(CANDIDATES)
    # Each on its own index (an OR of the two is a full scan), in one statement; a uid may be
    # its hash's prefix.
    a, b = by_hash.subquery(), by_uid.subquery()
    found = list(dict.fromkeys(db.scalars(union_all(select(a.c.job_hash), select(b.c.job_hash)))))
    return _unique("job", text, found[:CANDIDATES])


def session_hash(db: Db, text: str, viewer: Viewer = ANONYMOUS_VIEWER) -> str:
    p = check_prefix(text)
    q = select(m.Session.session_hash).where(
        _starts(m.Session.session_hash, p), visible(m.Session.session_hash, viewer)
    )
    return _unique("session", text, list(db.scalars(q.limit(CANDIDATES))))


def _with_attribution(entity: Any, key: Any, h: str, viewer: Viewer) -> Any:
    """The record ``h`` and, in the same row, who registered it first as ``viewer`` sees it:
    its earliest grant in the viewer's scopes (visibility.attribution, folded into the query)."""
    return (
        select(entity, m.Grant.registered_by, m.Grant.registered_at)
        .outerjoin(m.Grant, grant_of(key, viewer))
        .where(key == h)
        .order_by(m.Grant.registered_at)
        .limit(1)
    )


def _attributed(out: dict[str, Any], by: str | None, at: float | None) -> dict[str, Any]:
    if by is not None:
        out["registered_by"], out["registered_at"] = by, at
    return out


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
        a, by, at = db.execute(_with_attribution(m.Artifact, m.Artifact.hash, h, viewer)).one()
        # Aliases and members in one statement: (kind, name, hash, size).
        aliases: Any = select(
            literal_column("'alias'"),
            m.ArtifactAlias.algorithm,
            m.ArtifactAlias.digest,
            cast(null(), BigInteger),
        ).where(m.ArtifactAlias.artifact_hash == h)
        members: Any = select(
            literal_column("'member'"),
            m.CompositeMember.path,
            m.CompositeMember.member_hash,
            m.CompositeMember.size,
        ).where(m.CompositeMember.composite_hash == h)
        parts: Any = db.execute(union_all(aliases, members)).all()
        # Its edges, whether their job is visible, and the visible sessions of their jobs.
        edges = db.execute(
            select(
                m.Edge.role,
                m.Edge.path,
                m.Edge.job_hash,
                visible(m.Edge.job_hash, viewer).label("seen"),
                m.SessionJob.session_hash,
            )
            .outerjoin(
                m.SessionJob,
                and_(
                    m.SessionJob.job_hash == m.Edge.job_hash,
                    visible(m.SessionJob.session_hash, viewer),
                ),
            )
            .where(m.Edge.artifact_hash == h)
        ).all()
        seen = [e for e in edges if e.seen]
        out: dict[str, Any] = {
            "hash": a.hash,
            "size": a.size,
            "composite": a.composite,
            "registered_at": a.registered_at,
            "registered_by": a.registered_by,
            "aliases": [{"algorithm": x[1], "digest": x[2]} for x in parts if x[0] == "alias"],
            "members": sorted(
                ({"path": x[1], "hash": x[2], "size": x[3]} for x in parts if x[0] == "member"),
                key=lambda x: x["path"],
            ),
            "produced_by": sorted({e.job_hash for e in seen if e.role == "write"}),
            "consumed_by": sorted({e.job_hash for e in seen if e.role == "read"}),
            "paths": sorted({e.path for e in seen}),
            "sessions": sorted({e.session_hash for e in edges if e.session_hash is not None}),
            "labels": labels(db, "artifact", h, viewer),
        }
        return _attributed(out, by, at)


def _files(edges: list[Any], role: str) -> list[dict[str, Any]]:
    return sorted(
        ({"path": e.path, "hash": e.artifact_hash} for e in edges if e.role == role),
        key=lambda f: f["path"],
    )


def job_json(db: Db, job: m.Job) -> dict[str, Any]:
    return jobs_json(db, [job])[0]


def jobs_json(db: Db, jobs: list[m.Job]) -> list[dict[str, Any]]:
    """Each job's document, with the edges of all of them read in one statement per 500."""
    by_job: dict[str, list[Any]] = {j.job_hash: [] for j in jobs}
    wanted = list(by_job)
    for i in range(0, len(wanted), 500):
        q = select(m.Edge.job_hash, m.Edge.role, m.Edge.path, m.Edge.artifact_hash).where(
            m.Edge.job_hash.in_(wanted[i : i + 500])
        )
        for e in db.execute(q):
            by_job[e.job_hash].append(e)
    return [_job_doc(j, by_job[j.job_hash]) for j in jobs]


def _job_doc(job: m.Job, edges: list[Any]) -> dict[str, Any]:
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
        "inputs": _files(edges, "read"),
        "outputs": _files(edges, "write"),
        "deleted": job.deleted,
        "cell": job.cell,
        "registered_at": job.registered_at,
        "registered_by": job.registered_by,
    }


def job(db: Db, text: str, viewer: Viewer = ANONYMOUS_VIEWER) -> dict[str, Any]:
    with db.begin():
        h = job_hash(db, text, viewer)
        j, by, at = db.execute(_with_attribution(m.Job, m.Job.job_hash, h, viewer)).one()
        out = job_json(db, j)
        out["sessions"] = sorted(
            db.scalars(
                select(m.SessionJob.session_hash).where(
                    m.SessionJob.job_hash == h, visible(m.SessionJob.session_hash, viewer)
                )
            )
        )
        out["labels"] = labels(db, "job", h, viewer)
        return _attributed(out, by, at)


def session(db: Db, text: str, viewer: Viewer = ANONYMOUS_VIEWER) -> dict[str, Any]:
    with db.begin():
        h = session_hash(db, text, viewer)
        s, by, at = db.execute(
            _with_attribution(m.Session, m.Session.session_hash, h, viewer)
        ).one()
        jobs = db.scalars(
            select(m.Job)
            .join(m.SessionJob, m.SessionJob.job_hash == m.Job.job_hash)
            .where(m.SessionJob.session_hash == h)
        )
        ordered = sorted(jobs, key=lambda j: (j.started_at or "", j.step_number or 0, j.job_hash))
        out: dict[str, Any] = {
            "session_hash": s.session_hash,
            "git": {"remote": s.git_remote, "commit": s.git_commit},
            "registered_at": s.registered_at,
            "registered_by": s.registered_by,
            "jobs": jobs_json(db, ordered),
            "labels": labels(db, "session", h, viewer),
        }
        attribute(db, out["jobs"], "job_hash", viewer)
        return _attributed(out, by, at)

"""Reading the store through the SQLAlchemy models; results come back as plain views
(``views.py``), safe to use after the session closes."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, func, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session as OrmSession
from sqlalchemy.orm import selectinload
from sqlalchemy.pool import NullPool

from roar.store.connection import connect, describe_failure
from roar.store.schema import (
    Artifact,
    CompositeMember,
    HashCache,
    Job,
    JobFile,
    JobVariable,
    Session,
)
from roar.store.views import (
    ArtifactView,
    DeletedFile,
    FileView,
    JobView,
    SessionView,
    VariableRef,
)

# Everything a JobView needs, loaded in a few batched queries rather than one per job.
_JOB_LOADS = (
    selectinload(Job.files).selectinload(JobFile.artifact),
    selectinload(Job.variables).selectinload(JobVariable.producer),
)


class Reader:
    """Read-side queries over one ORM session."""

    def __init__(self, orm: OrmSession):
        self.orm = orm

    # sessions ---------------------------------------------------------------------------
    def active_session(self) -> SessionView | None:
        row = self.orm.scalars(
            select(Session).where(Session.is_active.is_(True)).order_by(Session.id.desc())
        ).first()
        return _session_view(row) if row else None

    def sessions(self) -> list[SessionView]:
        return [_session_view(s) for s in self.orm.scalars(select(Session).order_by(Session.id))]

    def session_job_counts(self) -> dict[int, int]:
        """session id → how many jobs it holds."""
        rows = self.orm.execute(select(Job.session_id, func.count()).group_by(Job.session_id))
        return {int(sid): int(n) for sid, n in rows}

    # jobs ---------------------------------------------------------------------------------
    def session_jobs(self, session_id: int) -> list[JobView]:
        """Every job of a session in execution order, with inputs and outputs."""
        stmt = (
            select(Job)
            .where(Job.session_id == session_id)
            .order_by(Job.started_at, Job.id)
            .options(*_JOB_LOADS)
        )
        return [_job_view(j) for j in self.orm.scalars(stmt)]

    def jobs_by_uid_prefix(self, prefix: str) -> list[JobView]:
        stmt = select(Job).where(Job.uid.startswith(prefix.lower())).options(*_JOB_LOADS)
        return [_job_view(j) for j in self.orm.scalars(stmt)]

    def jobs_with_artifacts(self, artifact_ids: Iterable[int], role: str) -> list[JobView]:
        """Jobs (any session) that read or wrote any of the artifacts, newest first."""
        ids = list(set(artifact_ids))
        if not ids:
            return []
        stmt = (
            select(Job)
            .join(JobFile)
            .where(JobFile.role == role, JobFile.artifact_id.in_(ids))
            .distinct()
            .order_by(Job.started_at.desc(), Job.id.desc())
            .options(*_JOB_LOADS)
        )
        return [_job_view(j) for j in self.orm.scalars(stmt)]

    def jobs_with_path(self, path: str) -> list[JobView]:
        stmt = (
            select(Job)
            .join(JobFile)
            .where(JobFile.path == path)
            .distinct()
            .order_by(Job.started_at.desc(), Job.id.desc())
            .options(*_JOB_LOADS)
        )
        return [_job_view(j) for j in self.orm.scalars(stmt)]

    def job_count(self) -> int:
        return int(self.orm.scalar(select(func.count(Job.id))) or 0)

    # artifacts ----------------------------------------------------------------------------
    def artifacts_by_digest_prefix(self, prefix: str) -> list[ArtifactView]:
        stmt = select(Artifact).where(Artifact.digest.startswith(prefix.lower())).limit(50)
        return [_artifact_view(a) for a in self.orm.scalars(stmt)]

    def artifacts_by_digest(self, digest: str) -> list[ArtifactView]:
        """Every artifact with exactly this digest (one per algorithm at most)."""
        stmt = select(Artifact).where(Artifact.digest == digest.lower())
        return [_artifact_view(a) for a in self.orm.scalars(stmt)]

    def artifact(self, artifact_id: int) -> ArtifactView | None:
        row = self.orm.get(Artifact, artifact_id)
        return _artifact_view(row) if row else None

    def composites_containing(self, member_ids: Iterable[int]) -> dict[int, list[int]]:
        """member artifact id → ids of composite artifacts that contain it."""
        ids = list(set(member_ids))
        found: dict[int, list[int]] = {}
        if not ids:
            return found
        rows = self.orm.execute(
            select(CompositeMember.member_id, CompositeMember.composite_id).where(
                CompositeMember.member_id.in_(ids)
            )
        )
        for member_id, composite_id in rows:
            found.setdefault(member_id, []).append(composite_id)
        return found

    def composite_members(self, composite_id: int) -> list[tuple[str, ArtifactView]]:
        rows = self.orm.execute(
            select(CompositeMember.relpath, Artifact)
            .join(Artifact, Artifact.id == CompositeMember.member_id)
            .where(CompositeMember.composite_id == composite_id)
            .order_by(CompositeMember.relpath)
        )
        return [(relpath, _artifact_view(a)) for relpath, a in rows]

    # hash cache (read only: readers never write the store) ------------------------------
    def cached_digests(
        self, algorithm: str, keys: Sequence[tuple[int, int]]
    ) -> dict[tuple[int, int], tuple[int, int, str]]:
        """(dev, inode) → (size, mtime_ns, digest) for the keys the hash cache knows."""
        by_dev: dict[int, list[int]] = {}
        for dev, inode in set(keys):
            by_dev.setdefault(dev, []).append(inode)
        found: dict[tuple[int, int], tuple[int, int, str]] = {}
        for dev, inodes in by_dev.items():
            for start in range(0, len(inodes), 500):
                rows = self.orm.execute(
                    select(HashCache.inode, HashCache.size, HashCache.mtime_ns, HashCache.digest)
                    .where(HashCache.dev == dev, HashCache.algorithm == algorithm)
                    .where(HashCache.inode.in_(inodes[start : start + 500]))
                )
                for inode, size, mtime_ns, digest in rows:
                    found[(dev, int(inode))] = (int(size), int(mtime_ns), str(digest))
        return found


def engine_for(db_path: Path, *, readonly: bool = False) -> Engine:
    """An engine whose connections come from ``connection.connect`` (same pragmas, migrations)."""
    return create_engine(
        "sqlite://",
        creator=lambda: connect(db_path, readonly=readonly),
        poolclass=NullPool,
    )


@contextmanager
def reader(db_path: Path, *, readonly: bool = False) -> Iterator[Reader]:
    engine = engine_for(db_path, readonly=readonly)
    try:
        with OrmSession(engine) as orm:
            yield Reader(orm)
    except DBAPIError as exc:
        raise describe_failure(db_path, exc.orig or exc) from exc
    finally:
        engine.dispose()


def _session_view(s: Session) -> SessionView:
    return SessionView(s.id, s.uid, s.created_at, bool(s.is_active), s.git_commit_start)


def _artifact_view(a: Artifact) -> ArtifactView:
    return ArtifactView(
        a.id,
        a.algorithm,
        a.digest,
        a.size,
        bool(a.is_composite),
        a.first_seen_at,
        a.first_seen_path,
    )


def _job_view(j: Job) -> JobView:
    view = JobView(
        id=j.id, uid=j.uid, session_id=j.session_id, kind=j.kind, step_number=j.step_number,
        step_name=j.step_name, command=j.command, argv=json.loads(j.argv), cwd=j.cwd,
        started_at=j.started_at, ended_at=j.ended_at, exit_code=j.exit_code,
        interrupted=bool(j.interrupted), tracer=j.tracer, git_commit=j.git_commit,
        git_branch=j.git_branch, git_remote=j.git_remote, git_dirty=bool(j.git_dirty),
        git_diff_hash=j.git_diff_hash, metadata=json.loads(j.metadata_json or "{}"),
        notebook_path=j.notebook_path, cell_id=j.cell_id, execution_count=j.execution_count,
        source=j.source, source_hash=j.source_hash,
    )  # fmt: skip
    for v in j.variables:
        if v.role == "read":
            producer_uid = v.producer.uid if v.producer else None
            view.variables_read.append(VariableRef(v.name, v.producer_job_id, producer_uid))
        else:
            view.variables_defined.append(v.name)
    for f in j.files:
        if f.role == "deleted":
            a = f.artifact
            view.deleted.append(
                DeletedFile(f.path, a.digest, a.size, bool(a.is_composite), a.id)
                if a is not None
                else DeletedFile(f.path, None, None)
            )
            continue
        assert f.artifact is not None and f.artifact_id is not None  # inputs and outputs have one
        fv = FileView(
            f.path,
            f.artifact.digest,
            f.artifact.size,
            bool(f.artifact.is_composite),
            f.artifact_id,
            f.artifact.algorithm,
        )
        (view.inputs if f.role == "input" else view.outputs).append(fv)
    return view

"""The store's tables as SQLAlchemy 2.x models: the schema of record.

Migrations (``migrations.py``) build exactly these tables step by step; a test checks that a
freshly migrated database and these models agree column for column. Documented for outside
readers in docs/store.md.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

from roar.store.paths import storable_path, stored_path

SCHEMA_VERSION = 8


class StoredPath(TypeDecorator[str]):
    """A path column (``paths.py``): TEXT when the path is valid UTF-8, else a BLOB of its exact
    bytes; read back as ``str`` with undecodable bytes surrogate-escaped (schema 4)."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | bytes | None:
        return None if value is None else storable_path(value)

    def process_result_value(self, value: str | bytes | None, dialect: Dialect) -> str | None:
        return None if value is None else stored_path(value)


class Base(DeclarativeBase):
    pass


class Session(Base):
    """A pipeline session: the jobs whose steps make up one DAG. One is active at a time."""

    __tablename__ = "sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uid: Mapped[str] = mapped_column(String, unique=True)
    created_at: Mapped[float] = mapped_column(Float)
    is_active: Mapped[bool] = mapped_column(Boolean, default=False)
    git_commit_start: Mapped[str | None] = mapped_column(String)

    jobs: Mapped[list[Job]] = relationship(back_populates="session")


class Job(Base):
    """One recorded execution: a `roar run`, `roar build` or (later) a notebook cell."""

    __tablename__ = "jobs"
    __table_args__ = (
        Index("ix_jobs_session_step", "session_id", "step_number"),
        Index("ix_jobs_session_identity", "session_id", "step_identity"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uid: Mapped[str] = mapped_column(String, unique=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("sessions.id"))
    kind: Mapped[str] = mapped_column(String)  # run | build | cell | get | put
    step_number: Mapped[int] = mapped_column(Integer)  # builds numbered apart (schema 6)
    step_name: Mapped[str | None] = mapped_column(String)
    step_identity: Mapped[str] = mapped_column(String)
    command: Mapped[str] = mapped_column(Text)
    argv: Mapped[str] = mapped_column(Text)  # JSON list
    cwd: Mapped[str] = mapped_column(StoredPath)  # relative to the project root ("" at the root)
    started_at: Mapped[float] = mapped_column(Float)
    ended_at: Mapped[float] = mapped_column(Float)
    exit_code: Mapped[int | None] = mapped_column(Integer)  # None: unknown (schema 5)
    interrupted: Mapped[bool] = mapped_column(Boolean, default=False)
    tracer: Mapped[str] = mapped_column(String)
    git_commit: Mapped[str | None] = mapped_column(String)
    git_branch: Mapped[str | None] = mapped_column(String)
    git_remote: Mapped[str | None] = mapped_column(String)
    git_dirty: Mapped[bool] = mapped_column(Boolean, default=False)
    git_diff_hash: Mapped[str | None] = mapped_column(String)
    metadata_json: Mapped[str] = mapped_column("metadata", Text, default="{}")
    # Notebook cells (schema version 2).
    notebook_path: Mapped[str | None] = mapped_column(Text)
    cell_id: Mapped[str | None] = mapped_column(String)
    execution_count: Mapped[int | None] = mapped_column(Integer)
    source: Mapped[str | None] = mapped_column(Text)
    source_hash: Mapped[str | None] = mapped_column(String)

    session: Mapped[Session] = relationship(back_populates="jobs")
    files: Mapped[list[JobFile]] = relationship(
        back_populates="job", cascade="all, delete-orphan", order_by="JobFile.path"
    )
    variables: Mapped[list[JobVariable]] = relationship(
        foreign_keys="JobVariable.job_id", cascade="all, delete-orphan", order_by="JobVariable.name"
    )


class Artifact(Base):
    """A content-addressed blob (or a composite directory) — the same bytes, one artifact."""

    __tablename__ = "artifacts"
    __table_args__ = (UniqueConstraint("algorithm", "digest"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    algorithm: Mapped[str] = mapped_column(String)
    digest: Mapped[str] = mapped_column(String, index=True)
    size: Mapped[int] = mapped_column(Integer)
    is_composite: Mapped[bool] = mapped_column(Boolean, default=False)
    first_seen_at: Mapped[float] = mapped_column(Float)
    first_seen_path: Mapped[str | None] = mapped_column(StoredPath)


class JobFile(Base):
    """A job read (role=input), wrote (role=output) or removed (role=deleted) a file at a path.

    A deleted file's artifact is what the path held before the job removed it, as roar last
    recorded it; None when roar never recorded its content (schema version 4).
    """

    __tablename__ = "job_files"
    __table_args__ = (Index("ix_job_files_path", "path"),)

    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True)
    role: Mapped[str] = mapped_column(String, primary_key=True)  # input | output | deleted
    path: Mapped[str] = mapped_column(StoredPath, primary_key=True)  # absolute
    artifact_id: Mapped[int | None] = mapped_column(ForeignKey("artifacts.id"), index=True)

    job: Mapped[Job] = relationship(back_populates="files")
    artifact: Mapped[Artifact | None] = relationship()


class JobVariable(Base):
    """A notebook cell read (role=read) or (re)defined (role=defined) a user-namespace name.

    For a read, ``producer_job_id`` is the cell job that last defined the name in the same
    kernel session before this cell ran (None: defined outside any recorded cell).
    """

    __tablename__ = "job_variables"

    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True)
    role: Mapped[str] = mapped_column(String, primary_key=True)  # read | defined
    name: Mapped[str] = mapped_column(Text, primary_key=True)
    producer_job_id: Mapped[int | None] = mapped_column(
        ForeignKey("jobs.id", ondelete="SET NULL"), index=True
    )

    producer: Mapped[Job | None] = relationship(foreign_keys=[producer_job_id])


class CompositeMember(Base):
    """A member file of a composite (directory) artifact, by its path inside the directory."""

    __tablename__ = "composite_members"

    composite_id: Mapped[int] = mapped_column(
        ForeignKey("artifacts.id", ondelete="CASCADE"), primary_key=True
    )
    relpath: Mapped[str] = mapped_column(StoredPath, primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("artifacts.id"), index=True)


class HashCache(Base):
    """Digest of a file as last seen, keyed by (device, inode): unchanged files are never re-read."""

    __tablename__ = "hash_cache"

    dev: Mapped[int] = mapped_column(Integer, primary_key=True)
    inode: Mapped[int] = mapped_column(Integer, primary_key=True)
    algorithm: Mapped[str] = mapped_column(String, primary_key=True)
    size: Mapped[int] = mapped_column(Integer)
    mtime_ns: Mapped[int] = mapped_column(Integer)
    digest: Mapped[str] = mapped_column(String)
    path: Mapped[str] = mapped_column(StoredPath)


class Label(Base):
    """One version of an entity's labels (schema 7): the whole document after one change.

    ``entity`` is ``dag`` (``entity_key``: the session uid), ``job`` (the job uid) or
    ``artifact`` (its digest); the entity's current labels are its highest version.
    """

    __tablename__ = "labels"
    __table_args__ = (UniqueConstraint("entity", "entity_key", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    entity: Mapped[str] = mapped_column(String)  # dag | job | artifact
    entity_key: Mapped[str] = mapped_column(String)
    version: Mapped[int] = mapped_column(Integer)  # 1, 2, … per entity
    document: Mapped[str] = mapped_column(Text)  # JSON object: the labels after this change
    operation: Mapped[str] = mapped_column(String)  # set | unset | cp
    change: Mapped[str] = mapped_column(Text, default="{}")  # JSON: what this version changed
    created_at: Mapped[float] = mapped_column(Float)


class RemoteObject(Base):
    """An object in an object store (s3://, gs://, https://) a `get` or `put` job saw (schema 8).

    Its content is ``artifact`` (the BLAKE3 of the bytes); ``etag`` and ``version_id`` are what
    the store calls it, kept apart from the digest: a multipart upload's ETag is no digest of
    the content. ``job`` is the job that saw it first (None once that job is popped).
    """

    __tablename__ = "remote_objects"
    __table_args__ = (UniqueConstraint("url", "etag", "version_id", "artifact_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    url: Mapped[str] = mapped_column(Text, index=True)
    etag: Mapped[str | None] = mapped_column(String)
    version_id: Mapped[str | None] = mapped_column(String)
    size: Mapped[int] = mapped_column(Integer)
    artifact_id: Mapped[int] = mapped_column(
        ForeignKey("artifacts.id", ondelete="CASCADE"), index=True
    )
    job_id: Mapped[int | None] = mapped_column(
        ForeignKey("jobs.id", ondelete="SET NULL"), index=True
    )
    first_seen_at: Mapped[float] = mapped_column(Float)

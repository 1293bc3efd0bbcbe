"""SQLAlchemy 2 models: the same tables on SQLite and PostgreSQL.

Every table's key is natural (a content hash, or the tuple that makes a row what it is), so a
registration is a set of INSERT ... ON CONFLICT DO NOTHING and registering twice adds nothing.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Stable constraint names, so Alembic revisions can refer to them on both databases.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

HASH = String(64)  # hex digests: BLAKE3-256 for artifacts, SHA-256 for jobs and sessions


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Artifact(Base):
    __tablename__ = "artifacts"
    hash: Mapped[str] = mapped_column(HASH, primary_key=True)  # BLAKE3
    size: Mapped[int | None] = mapped_column(BigInteger)
    composite: Mapped[bool] = mapped_column(Boolean, default=False)
    registered_at: Mapped[float] = mapped_column(Float)
    # Slice 2 replaces this plain string with the authenticated principal and adds a scope.
    registered_by: Mapped[str] = mapped_column(String(200))
    __table_args__ = (Index("ix_artifacts_registered_at_hash", "registered_at", "hash"),)


class ArtifactAlias(Base):
    """Another algorithm's digest (sha256, md5, an S3 ETag) for the same bytes."""

    __tablename__ = "artifact_aliases"
    algorithm: Mapped[str] = mapped_column(String(32), primary_key=True)
    digest: Mapped[str] = mapped_column(String(200), primary_key=True, index=True)  # found alone
    artifact_hash: Mapped[str] = mapped_column(HASH, ForeignKey("artifacts.hash"), index=True)


class CompositeMember(Base):
    __tablename__ = "composite_members"
    composite_hash: Mapped[str] = mapped_column(
        HASH, ForeignKey("artifacts.hash"), primary_key=True
    )
    path: Mapped[str] = mapped_column(Text, primary_key=True)  # relative to the composite's root
    member_hash: Mapped[str] = mapped_column(HASH)
    size: Mapped[int | None] = mapped_column(BigInteger)


class Job(Base):
    __tablename__ = "jobs"
    job_hash: Mapped[str] = mapped_column(HASH, primary_key=True)
    uid: Mapped[str] = mapped_column(String(64), index=True)  # the client's job uid
    kind: Mapped[str] = mapped_column(String(16))
    step_number: Mapped[int | None] = mapped_column(Integer)
    step_name: Mapped[str | None] = mapped_column(Text)
    command: Mapped[str] = mapped_column(Text)
    argv: Mapped[list[str]] = mapped_column(JSON)
    cwd: Mapped[str | None] = mapped_column(Text)
    exit_code: Mapped[int | None] = mapped_column(Integer)
    interrupted: Mapped[bool | None] = mapped_column(Boolean)
    started_at: Mapped[str | None] = mapped_column(String(40))
    ended_at: Mapped[str | None] = mapped_column(String(40))
    duration_seconds: Mapped[float | None] = mapped_column(Float)
    tracer: Mapped[str | None] = mapped_column(String(32))
    git_remote: Mapped[str | None] = mapped_column(Text)
    git_commit: Mapped[str | None] = mapped_column(String(64), index=True)
    git_branch: Mapped[str | None] = mapped_column(Text)
    git_dirty: Mapped[bool | None] = mapped_column(Boolean)
    git_diff_hash: Mapped[str | None] = mapped_column(String(64))
    packages: Mapped[dict[str, Any]] = mapped_column(JSON)
    env_names: Mapped[list[str]] = mapped_column(JSON)
    deleted: Mapped[list[dict[str, Any]]] = mapped_column(JSON)  # paths removed, what they held
    cell: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # a notebook cell job's location
    job_metadata: Mapped[dict[str, Any]] = mapped_column("metadata", JSON)
    registered_at: Mapped[float] = mapped_column(Float)
    registered_by: Mapped[str] = mapped_column(String(200))
    __table_args__ = (  # search (revision 0002): newest first, by start time, by registrant
        Index("ix_jobs_registered_at_hash", "registered_at", "job_hash", "command"),
        Index("ix_jobs_started_at", "started_at"),
        Index("ix_jobs_registered_by", "registered_by", "registered_at"),
        # The GPU jobs alone, newest first (revision 0006; search.GPU is the same text).
        Index(
            "ix_jobs_gpu",
            "registered_at",
            "job_hash",
            postgresql_where=text("(metadata #>> '{host,gpu}') IS NOT NULL"),
            sqlite_where=text("json_extract(metadata, '$.host.gpu') IS NOT NULL"),
        ),
        # Text search: a trigram (GIN) index on PostgreSQL, a plain one elsewhere (see 0002).
        Index(
            "ix_jobs_command",
            "command",
            postgresql_using="gin",
            postgresql_ops={"command": "gin_trgm_ops"},
        ),
    )


class Edge(Base):
    """A job read or wrote an artifact, under a path."""

    __tablename__ = "edges"
    job_hash: Mapped[str] = mapped_column(HASH, ForeignKey("jobs.job_hash"), primary_key=True)
    artifact_hash: Mapped[str] = mapped_column(HASH, ForeignKey("artifacts.hash"), primary_key=True)
    role: Mapped[str] = mapped_column(String(8), primary_key=True)  # "read" | "write"
    path: Mapped[str] = mapped_column(Text, primary_key=True)
    __table_args__ = (
        Index("ix_edges_artifact_role", "artifact_hash", "role"),
        # Search by file name (revision 0002): the path's last component, indexed as an
        # expression. SQLite spells it differently (replace/rtrim, see the revision); this is
        # PostgreSQL's, which is the database that reflects expression indexes for comparison.
        Index("ix_edges_basename", text("regexp_replace(path, '^.*/', '')")),
    )


class Session(Base):
    __tablename__ = "sessions"
    session_hash: Mapped[str] = mapped_column(HASH, primary_key=True)
    git_remote: Mapped[str | None] = mapped_column(Text)
    git_commit: Mapped[str | None] = mapped_column(String(64))
    registered_at: Mapped[float] = mapped_column(Float)
    registered_by: Mapped[str] = mapped_column(String(200))


class SessionJob(Base):
    __tablename__ = "session_jobs"
    session_hash: Mapped[str] = mapped_column(
        HASH, ForeignKey("sessions.session_hash"), primary_key=True
    )
    job_hash: Mapped[str] = mapped_column(
        HASH, ForeignKey("jobs.job_hash"), primary_key=True, index=True
    )


class LabelEvent(Base):
    """One setting of a label; the current value is the latest event for (target, key)."""

    __tablename__ = "label_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    target_kind: Mapped[str] = mapped_column(String(16))  # artifact | job | session
    target: Mapped[str] = mapped_column(HASH)
    key: Mapped[str] = mapped_column(String(200))
    value: Mapped[str | None] = mapped_column(Text)  # None: the label was removed
    set_at: Mapped[float] = mapped_column(Float)
    registered_by: Mapped[str] = mapped_column(String(200))
    scope: Mapped[str] = mapped_column(String(140), server_default="public")  # as Grant.scope
    __table_args__ = (
        # The same event registered twice (in the same scope) is one event.
        UniqueConstraint(
            "target_kind", "target", "key", "set_at", "scope", name="uq_label_events_event"
        ),
        Index("ix_label_events_target", "target_kind", "target", "key"),
        Index("ix_label_events_key", "key", "target_kind"),  # search's label filter, leaderboard
    )


# ---------------------------------------------------------------- identity and scopes (0004)


class User(Base):
    """Someone the server knows: made by `glaas-server admin create-user`."""

    __tablename__ = "users"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    created_at: Mapped[float] = mapped_column(Float)


class UserKey(Base):
    """An SSH public key that signs a user's requests, found by its SHA256 fingerprint."""

    __tablename__ = "user_keys"
    fingerprint: Mapped[str] = mapped_column(String(100), primary_key=True)  # SHA256:base64
    user_name: Mapped[str] = mapped_column(String(64), ForeignKey("users.name"), index=True)
    public_key: Mapped[str] = mapped_column(Text)  # the OpenSSH line, comment dropped
    created_at: Mapped[float] = mapped_column(Float)
    comment: Mapped[str | None] = mapped_column(Text)  # the line's comment, shown (0005)


class ApiToken(Base):
    """A bearer token: only its SHA-256 is kept, the token itself is shown once."""

    __tablename__ = "api_tokens"
    token_hash: Mapped[str] = mapped_column(HASH, primary_key=True)
    user_name: Mapped[str] = mapped_column(String(64), ForeignKey("users.name"), index=True)
    created_at: Mapped[float] = mapped_column(Float)
    # Revision 0005: a name and the token's first characters to tell tokens apart, an expiry,
    # when it was last used (to the nearest LAST_USED_STEP), when it was revoked (kept: a
    # revoked token is refused saying so).
    name: Mapped[str | None] = mapped_column(String(100))
    prefix: Mapped[str | None] = mapped_column(String(16))
    expires_at: Mapped[float | None] = mapped_column(Float)
    last_used_at: Mapped[float | None] = mapped_column(Float)
    revoked_at: Mapped[float | None] = mapped_column(Float)


class WebSession(Base):
    """A signed-in browser (revision 0005): the cookie holds a random id, this row its SHA-256.
    Made by signing in with an API token; ends at its expiry, at sign-out, or when that token
    is revoked."""

    __tablename__ = "web_sessions"
    id_hash: Mapped[str] = mapped_column(HASH, primary_key=True)
    user_name: Mapped[str] = mapped_column(String(64), ForeignKey("users.name"), index=True)
    token_hash: Mapped[str | None] = mapped_column(HASH, index=True)  # the token signed in with
    created_at: Mapped[float] = mapped_column(Float)
    expires_at: Mapped[float] = mapped_column(Float, index=True)


class AuthNonce(Base):
    """A signed request's nonce, kept until its timestamp leaves the window: a second request
    with the same nonce hits the key and is refused, whichever server process it reaches."""

    __tablename__ = "auth_nonces"
    nonce: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[float] = mapped_column(Float, index=True)


class Project(Base):
    """An OWNER/PROJECT scope; its members see and publish its lineage."""

    __tablename__ = "projects"
    slug: Mapped[str] = mapped_column(String(129), primary_key=True)  # OWNER/PROJECT
    created_at: Mapped[float] = mapped_column(Float)


class ProjectMember(Base):
    __tablename__ = "project_members"
    project: Mapped[str] = mapped_column(String(129), ForeignKey("projects.slug"), primary_key=True)
    user_name: Mapped[str] = mapped_column(
        String(64), ForeignKey("users.name"), primary_key=True, index=True
    )


class Grant(Base):
    """Who may see a record: one row per (artifact, job or session hash, scope) it was
    registered in. ``scope`` is ``public`` (anonymous and public registrations), ``user:NAME``
    (private) or ``project:OWNER/PROJECT``; a record is visible when any of its grants is."""

    __tablename__ = "grants"
    target_hash: Mapped[str] = mapped_column(HASH, primary_key=True)
    scope: Mapped[str] = mapped_column(String(140), primary_key=True)
    registered_by: Mapped[str] = mapped_column(String(200))
    registered_at: Mapped[float] = mapped_column(Float)


class TelemetryEvent(Base):
    """One uploaded roar telemetry event (revision 0003): only the seed's allowlisted fields.
    The same (install_id, event_id) uploaded twice is one event."""

    __tablename__ = "telemetry_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    install_id: Mapped[str] = mapped_column(String(36))  # random, made by the client
    event_id: Mapped[str] = mapped_column(String(36))
    sequence: Mapped[int] = mapped_column(Integer)
    period_start: Mapped[str] = mapped_column(String(10))  # coarse: a UTC date, YYYY-MM-DD
    period_end: Mapped[str] = mapped_column(String(10))
    roar_version: Mapped[str] = mapped_column(String(40))
    os: Mapped[str] = mapped_column(String(16))  # OS family
    arch: Mapped[str] = mapped_column(String(16))
    python: Mapped[str] = mapped_column(String(8))  # major.minor
    shell: Mapped[str] = mapped_column(String(16))
    installer: Mapped[str] = mapped_column(String(16))
    containerized: Mapped[bool] = mapped_column(Boolean)
    received_at: Mapped[float] = mapped_column(Float)
    __table_args__ = (
        UniqueConstraint("install_id", "event_id", name="uq_telemetry_events_event"),
        Index("ix_telemetry_events_received_at", "received_at"),
    )


class TelemetryCounter(Base):
    """One allowlisted counter of an event: kind command | outcome | tracer | feature."""

    __tablename__ = "telemetry_counters"
    event: Mapped[int] = mapped_column(Integer, ForeignKey("telemetry_events.id"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    count: Mapped[int] = mapped_column(Integer)
    __table_args__ = (Index("ix_telemetry_counters_kind_name", "kind", "name"),)

"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-12-02 06:50:05.069825
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "artifacts",
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=True),
        sa.Column("composite", sa.Boolean(), nullable=False),
        sa.Column("registered_at", sa.Float(), nullable=False),
        sa.Column("registered_by", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("hash", name=op.f("pk_artifacts")),
    )
    op.create_table(
        "jobs",
        sa.Column("job_hash", sa.String(length=64), nullable=False),
        sa.Column("uid", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("step_number", sa.Integer(), nullable=True),
        sa.Column("step_name", sa.Text(), nullable=True),
        sa.Column("command", sa.Text(), nullable=False),
        sa.Column("argv", sa.JSON(), nullable=False),
        sa.Column("cwd", sa.Text(), nullable=True),
        sa.Column("exit_code", sa.Integer(), nullable=True),
        sa.Column("interrupted", sa.Boolean(), nullable=True),
        sa.Column("started_at", sa.String(length=40), nullable=True),
        sa.Column("ended_at", sa.String(length=40), nullable=True),
        sa.Column("duration_seconds", sa.Float(), nullable=True),
        sa.Column("tracer", sa.String(length=32), nullable=True),
        sa.Column("git_remote", sa.Text(), nullable=True),
        sa.Column("git_commit", sa.String(length=64), nullable=True),
        sa.Column("git_branch", sa.Text(), nullable=True),
        sa.Column("git_dirty", sa.Boolean(), nullable=True),
        sa.Column("git_diff_hash", sa.String(length=64), nullable=True),
        sa.Column("packages", sa.JSON(), nullable=False),
        sa.Column("env_names", sa.JSON(), nullable=False),
        sa.Column("deleted", sa.JSON(), nullable=False),
        sa.Column("cell", sa.JSON(), nullable=True),
        sa.Column("metadata", sa.JSON(), nullable=False),
        sa.Column("registered_at", sa.Float(), nullable=False),
        sa.Column("registered_by", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("job_hash", name=op.f("pk_jobs")),
    )
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_jobs_git_commit"), ["git_commit"], unique=False)
        batch_op.create_index(batch_op.f("ix_jobs_uid"), ["uid"], unique=False)

    op.create_table(
        "label_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("target_kind", sa.String(length=16), nullable=False),
        sa.Column("target", sa.String(length=64), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("value", sa.Text(), nullable=True),
        sa.Column("set_at", sa.Float(), nullable=False),
        sa.Column("registered_by", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_label_events")),
        sa.UniqueConstraint("target_kind", "target", "key", "set_at", name="uq_label_events_event"),
    )
    with op.batch_alter_table("label_events", schema=None) as batch_op:
        batch_op.create_index(
            "ix_label_events_target", ["target_kind", "target", "key"], unique=False
        )

    op.create_table(
        "sessions",
        sa.Column("session_hash", sa.String(length=64), nullable=False),
        sa.Column("git_remote", sa.Text(), nullable=True),
        sa.Column("git_commit", sa.String(length=64), nullable=True),
        sa.Column("registered_at", sa.Float(), nullable=False),
        sa.Column("registered_by", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("session_hash", name=op.f("pk_sessions")),
    )
    op.create_table(
        "artifact_aliases",
        sa.Column("algorithm", sa.String(length=32), nullable=False),
        sa.Column("digest", sa.String(length=200), nullable=False),
        sa.Column("artifact_hash", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["artifact_hash"],
            ["artifacts.hash"],
            name=op.f("fk_artifact_aliases_artifact_hash_artifacts"),
        ),
        sa.PrimaryKeyConstraint("algorithm", "digest", name=op.f("pk_artifact_aliases")),
    )
    with op.batch_alter_table("artifact_aliases", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_artifact_aliases_artifact_hash"), ["artifact_hash"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_artifact_aliases_digest"), ["digest"], unique=False)

    op.create_table(
        "composite_members",
        sa.Column("composite_hash", sa.String(length=64), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("member_hash", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["composite_hash"],
            ["artifacts.hash"],
            name=op.f("fk_composite_members_composite_hash_artifacts"),
        ),
        sa.PrimaryKeyConstraint("composite_hash", "path", name=op.f("pk_composite_members")),
    )
    op.create_table(
        "edges",
        sa.Column("job_hash", sa.String(length=64), nullable=False),
        sa.Column("artifact_hash", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=8), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["artifact_hash"], ["artifacts.hash"], name=op.f("fk_edges_artifact_hash_artifacts")
        ),
        sa.ForeignKeyConstraint(
            ["job_hash"], ["jobs.job_hash"], name=op.f("fk_edges_job_hash_jobs")
        ),
        sa.PrimaryKeyConstraint("job_hash", "artifact_hash", "role", "path", name=op.f("pk_edges")),
    )
    with op.batch_alter_table("edges", schema=None) as batch_op:
        batch_op.create_index("ix_edges_artifact_role", ["artifact_hash", "role"], unique=False)

    op.create_table(
        "session_jobs",
        sa.Column("session_hash", sa.String(length=64), nullable=False),
        sa.Column("job_hash", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["job_hash"], ["jobs.job_hash"], name=op.f("fk_session_jobs_job_hash_jobs")
        ),
        sa.ForeignKeyConstraint(
            ["session_hash"],
            ["sessions.session_hash"],
            name=op.f("fk_session_jobs_session_hash_sessions"),
        ),
        sa.PrimaryKeyConstraint("session_hash", "job_hash", name=op.f("pk_session_jobs")),
    )
    with op.batch_alter_table("session_jobs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_session_jobs_job_hash"), ["job_hash"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("session_jobs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_session_jobs_job_hash"))

    op.drop_table("session_jobs")
    with op.batch_alter_table("edges", schema=None) as batch_op:
        batch_op.drop_index("ix_edges_artifact_role")

    op.drop_table("edges")
    op.drop_table("composite_members")
    with op.batch_alter_table("artifact_aliases", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_artifact_aliases_digest"))
        batch_op.drop_index(batch_op.f("ix_artifact_aliases_artifact_hash"))

    op.drop_table("artifact_aliases")
    op.drop_table("sessions")
    with op.batch_alter_table("label_events", schema=None) as batch_op:
        batch_op.drop_index("ix_label_events_target")

    op.drop_table("label_events")
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_jobs_uid"))
        batch_op.drop_index(batch_op.f("ix_jobs_git_commit"))

    op.drop_table("jobs")
    op.drop_table("artifacts")

"""search indexes: newest-first ordering, start time, registrant, label keys, file names

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02 10:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# (index, table, columns): plain B-tree indexes, the same on SQLite and PostgreSQL.
INDEXES = [
    # Search lists newest first and pages by (registered_at, hash): an index walk, no sort.
    # The command rides along, so a text search reads the index alone, not every job's row.
    ("ix_jobs_registered_at_hash", "jobs", ["registered_at", "job_hash", "command"]),
    ("ix_artifacts_registered_at_hash", "artifacts", ["registered_at", "hash"]),
    ("ix_jobs_started_at", "jobs", ["started_at"]),
    ("ix_jobs_registered_by", "jobs", ["registered_by", "registered_at"]),
    # The label filter and the leaderboard start from a key.
    ("ix_label_events_key", "label_events", ["key", "target_kind"]),
]


# A path's file name, indexed as an expression; glaas.service.search.BASENAME spells the same
# text in its queries (SQLite uses an expression index only for an identical expression).
BASENAME = {
    "sqlite": "replace(path, rtrim(path, replace(path, '/', '')), '')",
    "postgresql": "regexp_replace(path, '^.*/', '')",
}


def upgrade() -> None:
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns, unique=False)
    bind = op.get_bind()
    expr = BASENAME[bind.dialect.name]
    op.create_index("ix_edges_basename", "edges", [sa.text(f"({expr})")], unique=False)
    _command_index(bind)


def _command_index(bind: sa.Connection) -> None:
    """ix_jobs_command: on PostgreSQL a trigram index, which serves ILIKE '%text%' (pg_trgm
    ships with PostgreSQL; creating it needs the right to). Elsewhere, or when the extension is
    refused, a plain index of the same name: SQLite reads commands from the newest-first index,
    and a PostgreSQL without pg_trgm scans them (slower on a big registry, the same answers)."""
    if bind.dialect.name == "postgresql":
        try:
            with bind.begin_nested():
                bind.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pg_trgm")
                bind.exec_driver_sql(
                    "CREATE INDEX ix_jobs_command ON jobs USING gin (command gin_trgm_ops)"
                )
            return
        except sa.exc.DBAPIError:
            pass
    op.create_index("ix_jobs_command", "jobs", ["command"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_jobs_command", table_name="jobs")
    op.drop_index("ix_edges_basename", table_name="edges")
    for name, table, _columns in reversed(INDEXES):
        op.drop_index(name, table_name=table)

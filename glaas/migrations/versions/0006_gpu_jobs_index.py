"""the GPU jobs, newest first: a partial index for search's gpu=true

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 17:55:00

Search walks jobs newest first and checks each filter on the way; with gpu=true and other
filters that together match few jobs, that walk read every job (the metadata's host.gpu from
each row). This index holds the GPU jobs alone, so such a walk reads those only.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# glaas.service.search.GPU writes the same condition (a partial index serves a query only when
# its condition is the index's own text); the column is unqualified here, as in the index.
GPU_JOB = {
    "sqlite": "json_extract(metadata, '$.host.gpu') IS NOT NULL",
    "postgresql": "(metadata #>> '{host,gpu}') IS NOT NULL",
}


def upgrade() -> None:
    where = sa.text(GPU_JOB[op.get_bind().dialect.name])
    op.create_index(
        "ix_jobs_gpu",
        "jobs",
        ["registered_at", "job_hash"],
        unique=False,
        postgresql_where=where,
        sqlite_where=where,
    )


def downgrade() -> None:
    op.drop_index("ix_jobs_gpu", table_name="jobs")

"""telemetry: anonymous roar product telemetry events and their counters

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 13:30:00

One row per uploaded event (install_id, event_id unique: a re-upload of the same event is
one event), its counters in a child table so the admin page counts them with GROUP BY.
Only the seed's allowlisted fields exist as columns; nothing else can be stored.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "telemetry_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("install_id", sa.String(length=36), nullable=False),
        sa.Column("event_id", sa.String(length=36), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("period_start", sa.String(length=10), nullable=False),
        sa.Column("period_end", sa.String(length=10), nullable=False),
        sa.Column("roar_version", sa.String(length=40), nullable=False),
        sa.Column("os", sa.String(length=16), nullable=False),
        sa.Column("arch", sa.String(length=16), nullable=False),
        sa.Column("python", sa.String(length=8), nullable=False),
        sa.Column("shell", sa.String(length=16), nullable=False),
        sa.Column("installer", sa.String(length=16), nullable=False),
        sa.Column("containerized", sa.Boolean(), nullable=False),
        sa.Column("received_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_telemetry_events")),
        sa.UniqueConstraint("install_id", "event_id", name="uq_telemetry_events_event"),
    )
    op.create_index(
        "ix_telemetry_events_received_at", "telemetry_events", ["received_at"], unique=False
    )
    op.create_table(
        "telemetry_counters",
        sa.Column("event", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["event"],
            ["telemetry_events.id"],
            name=op.f("fk_telemetry_counters_event_telemetry_events"),
        ),
        sa.PrimaryKeyConstraint("event", "kind", "name", name=op.f("pk_telemetry_counters")),
    )
    op.create_index(
        "ix_telemetry_counters_kind_name", "telemetry_counters", ["kind", "name"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_telemetry_counters_kind_name", table_name="telemetry_counters")
    op.drop_table("telemetry_counters")
    op.drop_index("ix_telemetry_events_received_at", table_name="telemetry_events")
    op.drop_table("telemetry_events")

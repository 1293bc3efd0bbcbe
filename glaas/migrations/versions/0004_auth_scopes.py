"""auth and scopes: users, their SSH keys and API tokens, signed requests' nonces, projects
and their members, and grants (which scope may see each registered record)

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 13:40:00

Everything registered before this revision was visible to everyone: each artifact, job and
session gets a `public` grant attributed as it was. Label events gain the scope they were
registered in (`public` for the existing ones), part of their uniqueness: the same event
registered privately and publicly is two events, each seen by its own readers.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

LABEL_EVENT = ["target_kind", "target", "key", "set_at"]


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_users")),
    )
    op.create_table(
        "user_keys",
        sa.Column("fingerprint", sa.String(length=100), nullable=False),
        sa.Column("user_name", sa.String(length=64), nullable=False),
        sa.Column("public_key", sa.Text(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_name"], ["users.name"], name=op.f("fk_user_keys_user_name_users")
        ),
        sa.PrimaryKeyConstraint("fingerprint", name=op.f("pk_user_keys")),
    )
    op.create_index("ix_user_keys_user_name", "user_keys", ["user_name"])
    op.create_table(
        "api_tokens",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("user_name", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_name"], ["users.name"], name=op.f("fk_api_tokens_user_name_users")
        ),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_api_tokens")),
    )
    op.create_index("ix_api_tokens_user_name", "api_tokens", ["user_name"])
    op.create_table(
        "auth_nonces",
        sa.Column("nonce", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("nonce", name=op.f("pk_auth_nonces")),
    )
    op.create_index("ix_auth_nonces_expires_at", "auth_nonces", ["expires_at"])
    op.create_table(
        "projects",
        sa.Column("slug", sa.String(length=129), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("slug", name=op.f("pk_projects")),
    )
    op.create_table(
        "project_members",
        sa.Column("project", sa.String(length=129), nullable=False),
        sa.Column("user_name", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["project"], ["projects.slug"], name=op.f("fk_project_members_project_projects")
        ),
        sa.ForeignKeyConstraint(
            ["user_name"], ["users.name"], name=op.f("fk_project_members_user_name_users")
        ),
        sa.PrimaryKeyConstraint("project", "user_name", name=op.f("pk_project_members")),
    )
    op.create_index("ix_project_members_user_name", "project_members", ["user_name"])
    op.create_table(
        "grants",
        sa.Column("target_hash", sa.String(length=64), nullable=False),
        sa.Column("scope", sa.String(length=140), nullable=False),
        sa.Column("registered_by", sa.String(length=200), nullable=False),
        sa.Column("registered_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("target_hash", "scope", name=op.f("pk_grants")),
    )
    for table, key in (("artifacts", "hash"), ("jobs", "job_hash"), ("sessions", "session_hash")):
        op.execute(
            f"INSERT INTO grants (target_hash, scope, registered_by, registered_at) "
            f"SELECT {key}, 'public', registered_by, registered_at FROM {table}"
        )
    # SQLite cannot alter a constraint: batch mode copies the table (a no-op move elsewhere).
    with op.batch_alter_table("label_events") as batch:
        batch.add_column(
            sa.Column("scope", sa.String(length=140), server_default="public", nullable=False)
        )
        batch.drop_constraint("uq_label_events_event", type_="unique")
        batch.create_unique_constraint("uq_label_events_event", [*LABEL_EVENT, "scope"])


def downgrade() -> None:
    op.execute("DELETE FROM label_events WHERE scope <> 'public'")
    with op.batch_alter_table("label_events") as batch:
        batch.drop_constraint("uq_label_events_event", type_="unique")
        batch.create_unique_constraint("uq_label_events_event", LABEL_EVENT)
        batch.drop_column("scope")
    op.drop_table("grants")
    op.drop_index("ix_project_members_user_name", table_name="project_members")
    op.drop_table("project_members")
    op.drop_table("projects")
    op.drop_index("ix_auth_nonces_expires_at", table_name="auth_nonces")
    op.drop_table("auth_nonces")
    op.drop_index("ix_api_tokens_user_name", table_name="api_tokens")
    op.drop_table("api_tokens")
    op.drop_index("ix_user_keys_user_name", table_name="user_keys")
    op.drop_table("user_keys")
    op.drop_table("users")

"""api keys: credentials for the company's systems, scoped to points and scopes, stored as SHA-256 of the secret

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-28 19:45:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TS = sa.DateTime(timezone=True)
# Frozen here on purpose: a new scope is a new migration of this check.
_SCOPES = "ARRAY['messages:read', 'messages:send', 'shipments:read', 'shipments:write']::text[]"


def upgrade() -> None:
    op.create_table(
        "api_key",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(120), nullable=False),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("secret_sha256", sa.String(64), nullable=False),
        sa.Column("scopes", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("service_point_ids", postgresql.ARRAY(sa.Uuid()), nullable=True),
        sa.Column("created_by_user_id", sa.Uuid(), nullable=True),
        sa.Column("last_used_at", _TS, nullable=True),
        sa.Column("revoked_at", _TS, nullable=True),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.CheckConstraint("char_length(name) BETWEEN 1 AND 120", name=op.f("ck_api_key_name_length")),
        sa.CheckConstraint(f"scopes <@ {_SCOPES}", name=op.f("ck_api_key_scopes_known")),
        sa.CheckConstraint("cardinality(scopes) >= 1", name=op.f("ck_api_key_scopes_present")),
        sa.CheckConstraint(
            "service_point_ids IS NULL OR cardinality(service_point_ids) >= 1",
            name=op.f("ck_api_key_service_point_ids_present"),
        ),
        sa.ForeignKeyConstraint(
            ["created_by_user_id"],
            ["user_account.id"],
            name=op.f("fk_api_key_created_by_user_id_user_account"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_key")),
        sa.UniqueConstraint("secret_sha256", name=op.f("uq_api_key_secret_sha256")),
    )
    op.create_index(op.f("ix_api_key_prefix"), "api_key", ["prefix"])


def downgrade() -> None:
    op.drop_index(op.f("ix_api_key_prefix"), table_name="api_key")
    op.drop_table("api_key")

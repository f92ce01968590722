"""canned responses: ready replies per point, and global ones from admins

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28 15:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The "point" of a global canned response in the unique index: NULLs are never equal, this value is.
_SCOPE = "coalesce(service_point_id, '00000000-0000-0000-0000-000000000000'::uuid)"


def upgrade() -> None:
    op.create_table(
        "canned_response",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("service_point_id", sa.Uuid(), nullable=True),
        sa.Column("shortcut", sa.String(length=32), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("shortcut ~ '^[a-z0-9_-]{1,32}$'", name=op.f("ck_canned_response_shortcut_format")),
        sa.CheckConstraint("char_length(content) BETWEEN 1 AND 4096", name=op.f("ck_canned_response_content_length")),
        sa.ForeignKeyConstraint(
            ["service_point_id"],
            ["service_point.id"],
            name=op.f("fk_canned_response_service_point_id_service_point"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_canned_response")),
    )
    op.create_index(op.f("ix_canned_response_service_point_id"), "canned_response", ["service_point_id"])
    op.create_index("uq_canned_response_scope_shortcut", "canned_response", [sa.text(_SCOPE), "shortcut"], unique=True)


def downgrade() -> None:
    op.drop_index("uq_canned_response_scope_shortcut", table_name="canned_response")
    op.drop_index(op.f("ix_canned_response_service_point_id"), table_name="canned_response")
    op.drop_table("canned_response")

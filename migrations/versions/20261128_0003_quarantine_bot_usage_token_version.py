"""faults: quarantined messages, model calls per point and day, token versions

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 07:01:34.046862
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "quarantined_message",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("service_point_id", sa.Uuid(), nullable=False),
        sa.Column("provider_message_id", sa.Text(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quarantined_message")),
        sa.UniqueConstraint("service_point_id", "provider_message_id", name="uq_quarantined_point_provider_id"),
    )
    op.create_index(
        "ix_quarantined_message_created", "quarantined_message", [sa.literal_column("created_at DESC")], unique=False
    )
    op.create_table(
        "bot_usage",
        sa.Column("service_point_id", sa.Uuid(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("model_calls", sa.Integer(), server_default="0", nullable=False),
        sa.ForeignKeyConstraint(
            ["service_point_id"],
            ["service_point.id"],
            name=op.f("fk_bot_usage_service_point_id_service_point"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("service_point_id", "day", name=op.f("pk_bot_usage")),
    )
    op.add_column("user_account", sa.Column("token_version", sa.Integer(), server_default="0", nullable=False))


def downgrade() -> None:
    op.drop_column("user_account", "token_version")
    op.drop_table("bot_usage")
    op.drop_index("ix_quarantined_message_created", table_name="quarantined_message")
    op.drop_table("quarantined_message")

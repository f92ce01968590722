"""receipts: DELIVERED and READ outgoing messages

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28 11:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_NAME = "ck_message_delivery_status"


def upgrade() -> None:
    op.drop_constraint(op.f(_NAME), "message", type_="check")
    op.create_check_constraint(
        op.f(_NAME), "message", "delivery_status IN ('PENDING', 'SENT', 'DELIVERED', 'READ', 'FAILED')"
    )


def downgrade() -> None:
    op.execute("UPDATE message SET delivery_status = 'SENT' WHERE delivery_status IN ('DELIVERED', 'READ')")
    op.drop_constraint(op.f(_NAME), "message", type_="check")
    op.create_check_constraint(op.f(_NAME), "message", "delivery_status IN ('PENDING', 'SENT', 'FAILED')")

"""shipment alerts: status events pushed by the tracking system, and customers' opt-in subscriptions

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-28 20:05:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | Sequence[str] | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TS = sa.DateTime(timezone=True)
# Frozen here on purpose: a new shipment status is a new migration of this check.
_STATUSES = ("CREATED", "IN_TRANSIT", "AT_SERVICE_POINT", "OUT_FOR_DELIVERY", "DELIVERED", "RETURNED", "EXCEPTION")


def upgrade() -> None:
    op.create_table(
        "shipment_event",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tracking_number", sa.String(length=40), nullable=False),
        sa.Column(
            "status",
            sa.Enum(*_STATUSES, name="shipment_status", native_enum=False, create_constraint=True, length=24),
            nullable=False,
        ),
        sa.Column("at", _TS, nullable=False),
        sa.Column("origin", sa.String(length=120), nullable=True),
        sa.Column("destination", sa.String(length=120), nullable=True),
        sa.Column("eta", sa.Date(), nullable=True),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shipment_event")),
        sa.UniqueConstraint("tracking_number", "status", "at", name="uq_shipment_event_tracking_status_at"),
    )
    op.create_table(
        "shipment_alert",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("conversation_id", sa.Uuid(), nullable=False),
        sa.Column("service_point_id", sa.Uuid(), nullable=False),
        sa.Column("tracking_number", sa.String(length=40), nullable=False),
        sa.Column("cancelled_at", _TS, nullable=True),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversation.id"],
            name=op.f("fk_shipment_alert_conversation_id_conversation"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["service_point_id"],
            ["service_point.id"],
            name=op.f("fk_shipment_alert_service_point_id_service_point"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shipment_alert")),
    )
    op.create_index(
        "uq_shipment_alert_active",
        "shipment_alert",
        ["conversation_id", "tracking_number"],
        unique=True,
        postgresql_where=sa.text("cancelled_at IS NULL"),
    )
    op.create_index(
        "ix_shipment_alert_active_tracking",
        "shipment_alert",
        ["tracking_number"],
        postgresql_where=sa.text("cancelled_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_shipment_alert_active_tracking", table_name="shipment_alert")
    op.drop_index("uq_shipment_alert_active", table_name="shipment_alert")
    op.drop_table("shipment_alert")
    op.drop_table("shipment_event")

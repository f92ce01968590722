"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-21 23:00:52.529029
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "service_point",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("phone_number", sa.String(length=16), nullable=True),
        sa.Column(
            "whatsapp_status",
            sa.Enum(
                "DISCONNECTED",
                "CONNECTING",
                "CONNECTED",
                name="whatsapp_status",
                native_enum=False,
                create_constraint=True,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("last_qr_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_connected_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("phone_number ~ '^\\+[1-9][0-9]{7,14}$'", name=op.f("ck_service_point_phone_number_e164")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_service_point")),
    )
    op.create_index("uq_service_point_name_lower", "service_point", [sa.literal_column("lower(name)")], unique=True)
    op.create_index("uq_service_point_phone_number", "service_point", ["phone_number"], unique=True)
    op.create_table(
        "user_account",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("is_admin", sa.Boolean(), nullable=False),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("email = lower(email)", name=op.f("ck_user_account_email_lower")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_account")),
        sa.UniqueConstraint("email", name=op.f("uq_user_account_email")),
    )
    op.create_table(
        "conversation",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("service_point_id", sa.Uuid(), nullable=False),
        sa.Column("customer_phone", sa.String(length=16), nullable=False),
        sa.Column(
            "status",
            sa.Enum("BOT", "HUMAN", name="conversation_status", native_enum=False, create_constraint=True, length=24),
            nullable=False,
        ),
        sa.Column("assigned_to_user_id", sa.Uuid(), nullable=True),
        sa.Column("last_message_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "customer_phone ~ '^\\+[1-9][0-9]{7,14}$'", name=op.f("ck_conversation_customer_phone_e164")
        ),
        sa.ForeignKeyConstraint(
            ["assigned_to_user_id"],
            ["user_account.id"],
            name=op.f("fk_conversation_assigned_to_user_id_user_account"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["service_point_id"],
            ["service_point.id"],
            name=op.f("fk_conversation_service_point_id_service_point"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conversation")),
        sa.UniqueConstraint("service_point_id", "customer_phone", name="uq_conversation_point_customer"),
    )
    op.create_index(op.f("ix_conversation_assigned_to_user_id"), "conversation", ["assigned_to_user_id"], unique=False)
    op.create_index(
        "ix_conversation_point_last_message",
        "conversation",
        ["service_point_id", sa.literal_column("last_message_at DESC"), sa.literal_column("id DESC")],
        unique=False,
    )
    op.create_table(
        "faq",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("service_point_id", sa.Uuid(), nullable=True),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.Column("keywords", sa.ARRAY(sa.Text()), server_default="{}", nullable=False),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["service_point_id"],
            ["service_point.id"],
            name=op.f("fk_faq_service_point_id_service_point"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_faq")),
    )
    op.create_index(op.f("ix_faq_service_point_id"), "faq", ["service_point_id"], unique=False)
    op.create_table(
        "membership",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("service_point_id", sa.Uuid(), nullable=False),
        sa.Column(
            "role",
            sa.Enum("SUPERVISOR", "AGENT", name="member_role", native_enum=False, create_constraint=True, length=24),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["service_point_id"],
            ["service_point.id"],
            name=op.f("fk_membership_service_point_id_service_point"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["user_account.id"], name=op.f("fk_membership_user_id_user_account"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", "service_point_id", name=op.f("pk_membership")),
    )
    op.create_index(op.f("ix_membership_service_point_id"), "membership", ["service_point_id"], unique=False)
    op.create_table(
        "shipment",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("service_point_id", sa.Uuid(), nullable=False),
        sa.Column("tracking_number", sa.String(length=40), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "CREATED",
                "IN_TRANSIT",
                "AT_SERVICE_POINT",
                "OUT_FOR_DELIVERY",
                "DELIVERED",
                "RETURNED",
                "EXCEPTION",
                name="shipment_status",
                native_enum=False,
                create_constraint=True,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("origin", sa.String(length=120), nullable=True),
        sa.Column("destination", sa.String(length=120), nullable=True),
        sa.Column("eta", sa.Date(), nullable=True),
        sa.Column("last_update", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("sender_name", sa.String(length=120), nullable=True),
        sa.Column("recipient_name", sa.String(length=120), nullable=True),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("tracking_number = upper(tracking_number)", name=op.f("ck_shipment_tracking_number_upper")),
        sa.ForeignKeyConstraint(
            ["service_point_id"],
            ["service_point.id"],
            name=op.f("fk_shipment_service_point_id_service_point"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shipment")),
        sa.UniqueConstraint("tracking_number", name=op.f("uq_shipment_tracking_number")),
    )
    op.create_index(op.f("ix_shipment_service_point_id"), "shipment", ["service_point_id"], unique=False)
    op.create_table(
        "message",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("conversation_id", sa.Uuid(), nullable=False),
        sa.Column("service_point_id", sa.Uuid(), nullable=False),
        sa.Column(
            "direction",
            sa.Enum("IN", "OUT", name="direction", native_enum=False, create_constraint=True, length=24),
            nullable=False,
        ),
        sa.Column(
            "sender_type",
            sa.Enum(
                "CUSTOMER", "BOT", "AGENT", name="sender_type", native_enum=False, create_constraint=True, length=24
            ),
            nullable=False,
        ),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("provider_message_id", sa.String(length=128), nullable=False),
        sa.Column("timestamp", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column(
            "delivery_status",
            sa.Enum(
                "PENDING",
                "SENT",
                "FAILED",
                name="delivery_status",
                native_enum=False,
                create_constraint=True,
                length=24,
            ),
            nullable=True,
        ),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "(direction = 'IN') = (sender_type = 'CUSTOMER')", name=op.f("ck_message_sender_matches_direction")
        ),
        sa.CheckConstraint(
            "(direction = 'OUT') = (delivery_status IS NOT NULL)", name=op.f("ck_message_delivery_status_only_outbound")
        ),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversation.id"],
            name=op.f("fk_message_conversation_id_conversation"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["service_point_id"],
            ["service_point.id"],
            name=op.f("fk_message_service_point_id_service_point"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_message")),
        sa.UniqueConstraint("service_point_id", "provider_message_id", name="uq_message_point_provider_id"),
    )
    op.create_index(
        "ix_message_conversation_timestamp",
        "message",
        ["conversation_id", sa.literal_column("timestamp DESC"), sa.literal_column("id DESC")],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_message_conversation_timestamp", table_name="message")
    op.drop_table("message")
    op.drop_index(op.f("ix_shipment_service_point_id"), table_name="shipment")
    op.drop_table("shipment")
    op.drop_index(op.f("ix_membership_service_point_id"), table_name="membership")
    op.drop_table("membership")
    op.drop_index(op.f("ix_faq_service_point_id"), table_name="faq")
    op.drop_table("faq")
    op.drop_index("ix_conversation_point_last_message", table_name="conversation")
    op.drop_index(op.f("ix_conversation_assigned_to_user_id"), table_name="conversation")
    op.drop_table("conversation")
    op.drop_table("user_account")
    op.drop_index("uq_service_point_phone_number", table_name="service_point")
    op.drop_index("uq_service_point_name_lower", table_name="service_point")
    op.drop_table("service_point")

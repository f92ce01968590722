"""media, replies, reactions and messages sent from the branch's phone

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28 12:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_EVENT_KIND = "ck_conversation_event_conversation_event_kind"
_KINDS = "'HANDOFF_REQUESTED', 'STATUS_CHANGED', 'ASSIGNED'"
_MESSAGE_TYPES = ("text", "image", "audio", "video", "document", "sticker", "location", "contact", "unsupported")


def upgrade() -> None:
    op.create_table(
        "media",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("service_point_id", sa.Uuid(), nullable=False),
        sa.Column("message_id", sa.Uuid(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "PENDING",
                "READY",
                "FAILED",
                "EXPIRED",
                name="media_status",
                native_enum=False,
                create_constraint=True,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("mime_type", sa.String(length=127), nullable=True),
        sa.Column("file_name", sa.String(length=255), nullable=True),
        sa.Column("size", sa.BigInteger(), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("voice", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("source", sa.LargeBinary(), nullable=True),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("transcript", sa.Text(), nullable=True),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["message_id"], ["message.id"], name=op.f("fk_media_message_id_message"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["service_point_id"],
            ["service_point.id"],
            name=op.f("fk_media_service_point_id_service_point"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_media")),
        sa.UniqueConstraint("message_id", name=op.f("uq_media_message_id")),
    )
    op.create_index(
        "ix_media_pending_point",
        "media",
        ["service_point_id", "next_attempt_at", "id"],
        postgresql_where=sa.text("status = 'PENDING'"),
    )
    op.create_index("ix_media_ready_created", "media", ["created_at"], postgresql_where=sa.text("status = 'READY'"))
    op.create_index(op.f("ix_media_service_point_id"), "media", ["service_point_id"])
    op.create_index("ix_media_sha256", "media", ["sha256"])
    # Constant defaults: PostgreSQL adds these columns without rewriting the message table.
    op.add_column(
        "message",
        sa.Column(
            "type",
            sa.Enum(*_MESSAGE_TYPES, name="message_type", native_enum=False, create_constraint=True, length=16),
            server_default="text",
            nullable=False,
        ),
    )
    op.add_column("message", sa.Column("sent_from_phone", sa.Boolean(), server_default="false", nullable=False))
    op.add_column("message", sa.Column("reply_to", sa.String(length=128), nullable=True))
    op.add_column("message", sa.Column("reaction", sa.String(length=32), nullable=True))
    op.add_column("message", sa.Column("details", postgresql.JSONB(astext_type=sa.Text()), nullable=True))
    op.drop_constraint(op.f(_EVENT_KIND), "conversation_event", type_="check")
    op.create_check_constraint(op.f(_EVENT_KIND), "conversation_event", f"kind IN ({_KINDS}, 'TAKEN_FROM_PHONE')")


def downgrade() -> None:
    op.execute("UPDATE conversation_event SET kind = 'STATUS_CHANGED' WHERE kind = 'TAKEN_FROM_PHONE'")
    op.drop_constraint(op.f(_EVENT_KIND), "conversation_event", type_="check")
    op.create_check_constraint(op.f(_EVENT_KIND), "conversation_event", f"kind IN ({_KINDS})")
    op.drop_column("message", "details")
    op.drop_column("message", "reaction")
    op.drop_column("message", "reply_to")
    op.drop_column("message", "sent_from_phone")
    op.drop_column("message", "type")
    op.drop_index("ix_media_sha256", table_name="media")
    op.drop_index(op.f("ix_media_service_point_id"), table_name="media")
    op.drop_index("ix_media_ready_created", table_name="media", postgresql_where=sa.text("status = 'READY'"))
    op.drop_index("ix_media_pending_point", table_name="media", postgresql_where=sa.text("status = 'PENDING'"))
    op.drop_table("media")

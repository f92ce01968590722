"""the agents' workspace: RESOLVED, notes, labels, assignment, availability, business hours, CSAT, inactive users

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28 15:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OLD_KINDS = "'HANDOFF_REQUESTED', 'STATUS_CHANGED', 'ASSIGNED', 'TAKEN_FROM_PHONE'"
_NEW_KINDS = f"{_OLD_KINDS}, 'RESOLVED', 'REOPENED', 'LABELS_CHANGED'"
# (table, check constraint, column) of every column holding a conversation status
_STATUS_CHECKS = (
    ("conversation", "ck_conversation_conversation_status", "status"),
    ("conversation_event", "ck_conversation_event_from_status", "from_status"),
    ("conversation_event", "ck_conversation_event_to_status", "to_status"),
)
_SENT_ONLY_OUT = "ck_message_delivery_status_only_outbound"


def _replace_check(table: str, name: str, condition: str) -> None:
    op.drop_constraint(op.f(name), table, type_="check")
    op.create_check_constraint(op.f(name), table, condition)


def upgrade() -> None:
    for table, name, column in _STATUS_CHECKS:
        _replace_check(table, name, f"{column} IN ('BOT', 'HUMAN', 'RESOLVED')")
    _replace_check("conversation_event", "ck_conversation_event_conversation_event_kind", f"kind IN ({_NEW_KINDS})")

    op.add_column(
        "service_point",
        sa.Column("timezone", sa.String(length=64), server_default="America/Guayaquil", nullable=False),
    )
    op.add_column("service_point", sa.Column("business_hours", postgresql.JSONB(astext_type=sa.Text()), nullable=True))
    op.add_column("service_point", sa.Column("auto_resolve_hours", sa.Integer(), server_default="24", nullable=False))
    op.add_column(
        "service_point", sa.Column("assignment_timeout_minutes", sa.Integer(), server_default="5", nullable=False)
    )
    op.add_column("service_point", sa.Column("csat_enabled", sa.Boolean(), server_default="false", nullable=False))
    op.create_check_constraint(
        op.f("ck_service_point_auto_resolve_hours_range"), "service_point", "auto_resolve_hours BETWEEN 1 AND 8760"
    )
    op.create_check_constraint(
        op.f("ck_service_point_assignment_timeout_range"),
        "service_point",
        "assignment_timeout_minutes BETWEEN 1 AND 1440",
    )

    op.add_column(
        "user_account",
        sa.Column(
            "availability",
            sa.Enum("ONLINE", "AWAY", name="availability", native_enum=False, create_constraint=True, length=24),
            server_default="AWAY",
            nullable=False,
        ),
    )
    op.add_column("user_account", sa.Column("availability_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("user_account", sa.Column("is_active", sa.Boolean(), server_default="true", nullable=False))

    for column in ("assigned_at", "assignee_read_at", "resolved_at", "csat_requested_at"):
        op.add_column("conversation", sa.Column(column, sa.DateTime(timezone=True), nullable=True))
    op.add_column("conversation", sa.Column("labels", postgresql.ARRAY(sa.Text()), server_default="{}", nullable=False))
    op.create_index(
        "ix_conversation_human_idle",
        "conversation",
        ["last_message_at"],
        postgresql_where=sa.text("status = 'HUMAN'"),
    )
    op.create_index(
        "ix_conversation_waiting",
        "conversation",
        ["service_point_id", "waiting_since"],
        postgresql_where=sa.text("waiting_since IS NOT NULL"),
    )
    op.create_index("ix_conversation_labels", "conversation", ["labels"], postgresql_using="gin")
    op.create_index(
        "ix_conversation_event_point_kind_created", "conversation_event", ["service_point_id", "kind", "created_at"]
    )

    op.add_column(
        "message",
        sa.Column(
            "kind",
            sa.Enum("message", "note", name="message_kind", native_enum=False, create_constraint=True, length=16),
            server_default="message",
            nullable=False,
        ),
    )
    _replace_check("message", _SENT_ONLY_OUT, "kind = 'note' OR (direction = 'OUT') = (delivery_status IS NOT NULL)")
    op.create_check_constraint(
        op.f("ck_message_note_never_sent"),
        "message",
        "kind <> 'note' OR (direction = 'OUT' AND sender_type = 'AGENT' AND delivery_status IS NULL)",
    )

    op.create_table(
        "csat_response",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("service_point_id", sa.Uuid(), nullable=False),
        sa.Column("conversation_id", sa.Uuid(), nullable=False),
        sa.Column("message_id", sa.Uuid(), nullable=True),
        sa.Column("resolved_by_user_id", sa.Uuid(), nullable=True),
        sa.Column("rating", sa.Integer(), nullable=False),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("rating BETWEEN 1 AND 5", name=op.f("ck_csat_response_rating_range")),
        sa.ForeignKeyConstraint(
            ["service_point_id"],
            ["service_point.id"],
            name=op.f("fk_csat_response_service_point_id_service_point"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversation.id"],
            name=op.f("fk_csat_response_conversation_id_conversation"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["message_id"], ["message.id"], name=op.f("fk_csat_response_message_id_message"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["resolved_by_user_id"],
            ["user_account.id"],
            name=op.f("fk_csat_response_resolved_by_user_id_user_account"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_csat_response")),
    )
    op.create_index(op.f("ix_csat_response_conversation_id"), "csat_response", ["conversation_id"])
    op.create_index("ix_csat_response_point_created", "csat_response", ["service_point_id", "created_at"])


def downgrade() -> None:
    op.drop_table("csat_response")
    op.execute("DELETE FROM message WHERE kind = 'note'")
    op.drop_constraint(op.f("ck_message_note_never_sent"), "message", type_="check")
    _replace_check("message", _SENT_ONLY_OUT, "(direction = 'OUT') = (delivery_status IS NOT NULL)")
    op.drop_column("message", "kind")
    op.drop_index("ix_conversation_event_point_kind_created", table_name="conversation_event")
    op.drop_index("ix_conversation_labels", table_name="conversation")
    op.drop_index("ix_conversation_waiting", table_name="conversation")
    op.drop_index("ix_conversation_human_idle", table_name="conversation")
    for column in ("labels", "csat_requested_at", "resolved_at", "assignee_read_at", "assigned_at"):
        op.drop_column("conversation", column)
    op.drop_column("user_account", "is_active")
    op.drop_column("user_account", "availability_at")
    op.drop_column("user_account", "availability")
    op.drop_constraint(op.f("ck_service_point_assignment_timeout_range"), "service_point", type_="check")
    op.drop_constraint(op.f("ck_service_point_auto_resolve_hours_range"), "service_point", type_="check")
    for column in ("csat_enabled", "assignment_timeout_minutes", "auto_resolve_hours", "business_hours", "timezone"):
        op.drop_column("service_point", column)
    # RESOLVED cannot be kept: those conversations and their history go back to the bot's hands
    op.execute("UPDATE conversation SET status = 'BOT' WHERE status = 'RESOLVED'")
    op.execute("DELETE FROM conversation_event WHERE kind IN ('RESOLVED', 'REOPENED', 'LABELS_CHANGED')")
    op.execute("UPDATE conversation_event SET from_status = 'BOT' WHERE from_status = 'RESOLVED'")
    op.execute("UPDATE conversation_event SET to_status = 'BOT' WHERE to_status = 'RESOLVED'")
    _replace_check("conversation_event", "ck_conversation_event_conversation_event_kind", f"kind IN ({_OLD_KINDS})")
    for table, name, column in _STATUS_CHECKS:
        _replace_check(table, name, f"{column} IN ('BOT', 'HUMAN')")

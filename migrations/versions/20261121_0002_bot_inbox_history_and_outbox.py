"""bot, inbox history and outbox

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21 23:13:06.126704
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# Accent-insensitive Spanish search for FAQs. Names are schema-qualified so that a pg_dump restore (which runs
# with an empty search_path) can still compute the generated column.
FOLD_FUNCTION = """
CREATE FUNCTION public.ventanilla_fold(value text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$ SELECT pg_catalog.translate(pg_catalog.lower(value), 'áàâäéèêëíìîïóòôöúùûüñç', 'aaaaeeeeiiiioooouuuunc') $$
"""
DOCUMENT_FUNCTION = """
CREATE FUNCTION public.faq_search_document(question text, answer text, keywords text[]) RETURNS tsvector
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT
    pg_catalog.setweight(pg_catalog.to_tsvector('pg_catalog.spanish', public.ventanilla_fold(question)), 'A')
    || pg_catalog.setweight(pg_catalog.to_tsvector('pg_catalog.spanish',
        public.ventanilla_fold(coalesce(pg_catalog.array_to_string(keywords, ' '), ''))), 'A')
    || pg_catalog.setweight(pg_catalog.to_tsvector('pg_catalog.spanish', public.ventanilla_fold(answer)), 'B') $$
"""


def upgrade() -> None:
    op.execute(FOLD_FUNCTION)
    op.execute(DOCUMENT_FUNCTION)
    op.create_table(
        "conversation_event",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("conversation_id", sa.Uuid(), nullable=False),
        sa.Column("service_point_id", sa.Uuid(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "HANDOFF_REQUESTED",
                "STATUS_CHANGED",
                "ASSIGNED",
                name="conversation_event_kind",
                native_enum=False,
                create_constraint=True,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("actor_user_id", sa.Uuid(), nullable=True),
        sa.Column(
            "from_status",
            sa.Enum("BOT", "HUMAN", name="from_status", native_enum=False, create_constraint=True, length=24),
            nullable=True,
        ),
        sa.Column(
            "to_status",
            sa.Enum("BOT", "HUMAN", name="to_status", native_enum=False, create_constraint=True, length=24),
            nullable=True,
        ),
        sa.Column("assigned_to_user_id", sa.Uuid(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_user_id"],
            ["user_account.id"],
            name=op.f("fk_conversation_event_actor_user_id_user_account"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["assigned_to_user_id"],
            ["user_account.id"],
            name=op.f("fk_conversation_event_assigned_to_user_id_user_account"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversation.id"],
            name=op.f("fk_conversation_event_conversation_id_conversation"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["service_point_id"],
            ["service_point.id"],
            name=op.f("fk_conversation_event_service_point_id_service_point"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conversation_event")),
    )
    op.create_index(
        "ix_conversation_event_conversation", "conversation_event", ["conversation_id", "created_at"], unique=False
    )
    op.create_table(
        "tool_call",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("conversation_id", sa.Uuid(), nullable=False),
        sa.Column("service_point_id", sa.Uuid(), nullable=False),
        sa.Column("message_id", sa.Uuid(), nullable=True),
        sa.Column("engine", sa.String(length=16), nullable=False),
        sa.Column("tool", sa.String(length=64), nullable=False),
        sa.Column("arguments", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("outcome", sa.String(length=32), nullable=False),
        sa.Column("result", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("latency_ms", sa.Integer(), nullable=False),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversation.id"],
            name=op.f("fk_tool_call_conversation_id_conversation"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["message_id"], ["message.id"], name=op.f("fk_tool_call_message_id_message"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["service_point_id"],
            ["service_point.id"],
            name=op.f("fk_tool_call_service_point_id_service_point"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tool_call")),
    )
    op.create_index("ix_tool_call_conversation", "tool_call", ["conversation_id", "created_at"], unique=False)
    op.create_index(
        "ix_tool_call_point_created",
        "tool_call",
        ["service_point_id", sa.literal_column("created_at DESC")],
        unique=False,
    )
    op.add_column("conversation", sa.Column("waiting_since", sa.DateTime(timezone=True), nullable=True))
    op.add_column("conversation", sa.Column("handoff_reason", sa.Text(), nullable=True))
    op.add_column(
        "faq",
        sa.Column(
            "search_vector",
            postgresql.TSVECTOR(),
            sa.Computed("faq_search_document(question, answer, keywords)", persisted=True),
            nullable=False,
        ),
    )
    op.create_index("ix_faq_search_vector", "faq", ["search_vector"], unique=False, postgresql_using="gin")
    op.add_column("message", sa.Column("sender_user_id", sa.Uuid(), nullable=True))
    op.add_column("message", sa.Column("attempts", sa.Integer(), server_default="0", nullable=False))
    op.add_column("message", sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("message", sa.Column("delivery_error", sa.Text(), nullable=True))
    op.add_column("message", sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("message", sa.Column("handled_at", sa.DateTime(timezone=True), nullable=True))
    # Messages stored before this revision were dealt with by whatever ran then: never resume them.
    op.execute("UPDATE message SET handled_at = created_at WHERE direction = 'IN'")
    op.create_index(
        "ix_message_inbound_unhandled",
        "message",
        ["created_at"],
        unique=False,
        postgresql_where=sa.text("direction = 'IN' AND handled_at IS NULL"),
    )
    op.create_index(
        "ix_message_outbox_pending",
        "message",
        ["service_point_id", "created_at"],
        unique=False,
        postgresql_where=sa.text("delivery_status = 'PENDING'"),
    )
    op.create_foreign_key(
        op.f("fk_message_sender_user_id_user_account"),
        "message",
        "user_account",
        ["sender_user_id"],
        ["id"],
        ondelete="SET NULL",
    )


def downgrade() -> None:
    op.drop_constraint(op.f("fk_message_sender_user_id_user_account"), "message", type_="foreignkey")
    op.drop_index(
        "ix_message_outbox_pending", table_name="message", postgresql_where=sa.text("delivery_status = 'PENDING'")
    )
    op.drop_index(
        "ix_message_inbound_unhandled",
        table_name="message",
        postgresql_where=sa.text("direction = 'IN' AND handled_at IS NULL"),
    )
    op.drop_column("message", "handled_at")
    op.drop_column("message", "sent_at")
    op.drop_column("message", "delivery_error")
    op.drop_column("message", "next_attempt_at")
    op.drop_column("message", "attempts")
    op.drop_column("message", "sender_user_id")
    op.drop_index("ix_faq_search_vector", table_name="faq", postgresql_using="gin")
    op.drop_column("faq", "search_vector")
    op.drop_column("conversation", "handoff_reason")
    op.drop_column("conversation", "waiting_since")
    op.drop_index("ix_tool_call_point_created", table_name="tool_call")
    op.drop_index("ix_tool_call_conversation", table_name="tool_call")
    op.drop_table("tool_call")
    op.drop_index("ix_conversation_event_conversation", table_name="conversation_event")
    op.drop_table("conversation_event")
    op.execute("DROP FUNCTION public.faq_search_document(text, text, text[])")
    op.execute("DROP FUNCTION public.ventanilla_fold(text)")

"""report rollups: customer activity per conversation and hour, and each handoff with its response, kept by triggers

The reports' summary of a busy point over 90 days must answer in well under a second; counting every message and
searching each handoff's first reply took seconds. These two tables hold the same facts, written by triggers in the
transaction that writes the message or the event, so they are never behind and cost the writers one small upsert.
Definitions (a handoff, its episode, the 2-second slack) are those of docs/reports.md and reports/services.py.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-28 16:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_HOUR = "date_trunc('hour', {0} AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'"
_IS_HANDOFF = (
    "{0}.kind IN ('HANDOFF_REQUESTED', 'TAKEN_FROM_PHONE') OR ({0}.kind = 'STATUS_CHANGED' AND {0}.to_status = 'HUMAN')"
)
_ENDS = "('RESOLVED', 'STATUS_CHANGED', 'HANDOFF_REQUESTED', 'TAKEN_FROM_PHONE')"
_SLACK = "interval '2 seconds'"

_COUNT_MESSAGE = f"""
CREATE FUNCTION report_count_message() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO report_activity AS r (service_point_id, hour, conversation_id, inbound, bot, agent, first_inbound_at,
                                      last_at)
    VALUES (NEW.service_point_id, {_HOUR.format("NEW.timestamp")}, NEW.conversation_id,
            (NEW.direction = 'IN')::int, (NEW.sender_type = 'BOT')::int, (NEW.sender_type = 'AGENT')::int,
            CASE WHEN NEW.direction = 'IN' THEN NEW.timestamp END, NEW.timestamp)
    ON CONFLICT (service_point_id, hour, conversation_id) DO UPDATE
        SET inbound = r.inbound + excluded.inbound, bot = r.bot + excluded.bot, agent = r.agent + excluded.agent,
            first_inbound_at = least(r.first_inbound_at, excluded.first_inbound_at),
            last_at = greatest(r.last_at, excluded.last_at);
    IF NEW.sender_type = 'AGENT' THEN
        UPDATE report_handoff SET first_response_at = NEW.timestamp
        WHERE conversation_id = NEW.conversation_id
          AND (first_response_at IS NULL OR first_response_at > NEW.timestamp)
          AND at - {_SLACK} <= NEW.timestamp AND (ended_at IS NULL OR NEW.timestamp < ended_at);
    END IF;
    RETURN NULL;
END $$
"""

# An event that ends episodes closes the open ones before it; a handoff opens one, finding a reply (and an end)
# already stored when rows of one transaction arrive in another order.
_TRACK_HANDOFF = f"""
CREATE FUNCTION report_track_handoff() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    ending conversation_event%ROWTYPE;
BEGIN
    IF NEW.kind IN {_ENDS} THEN
        UPDATE report_handoff SET ended_at = NEW.created_at, resolved = (NEW.kind = 'RESOLVED')
        WHERE conversation_id = NEW.conversation_id AND at < NEW.created_at
          AND (ended_at IS NULL OR ended_at > NEW.created_at);
    END IF;
    IF {_IS_HANDOFF.format("NEW")} THEN
        INSERT INTO report_activity AS r (service_point_id, hour, conversation_id, handoffs)
        VALUES (NEW.service_point_id, {_HOUR.format("NEW.created_at")}, NEW.conversation_id, 1)
        ON CONFLICT (service_point_id, hour, conversation_id) DO UPDATE SET handoffs = r.handoffs + 1;
        SELECT * INTO ending FROM conversation_event e
        WHERE e.conversation_id = NEW.conversation_id AND e.created_at > NEW.created_at AND e.kind IN {_ENDS}
        ORDER BY e.created_at LIMIT 1;
        INSERT INTO report_handoff (event_id, service_point_id, conversation_id, at, first_response_at, ended_at,
                                    resolved)
        VALUES (
            NEW.id, NEW.service_point_id, NEW.conversation_id, NEW.created_at,
            (SELECT min(m.timestamp) FROM message m
             WHERE m.conversation_id = NEW.conversation_id AND m.sender_type = 'AGENT' AND m.kind = 'message'
               AND m.timestamp >= NEW.created_at - {_SLACK}
               AND (ending.created_at IS NULL OR m.timestamp < ending.created_at)),
            ending.created_at, coalesce(ending.kind = 'RESOLVED', false)
        );
    END IF;
    RETURN NULL;
END $$
"""

# The history already stored, as the triggers would have written it.
_BACKFILL_ACTIVITY = f"""
INSERT INTO report_activity (service_point_id, hour, conversation_id, inbound, bot, agent, handoffs, first_inbound_at,
                             last_at)
SELECT service_point_id, hour, conversation_id, sum(inbound), sum(bot), sum(agent), sum(handoffs),
       min(first_inbound_at), max(last_at)
FROM (
    SELECT service_point_id, {_HOUR.format("timestamp")} AS hour, conversation_id,
           count(*) FILTER (WHERE direction = 'IN') AS inbound, count(*) FILTER (WHERE sender_type = 'BOT') AS bot,
           count(*) FILTER (WHERE sender_type = 'AGENT') AS agent, 0 AS handoffs,
           min(timestamp) FILTER (WHERE direction = 'IN') AS first_inbound_at, max(timestamp) AS last_at
    FROM message WHERE kind = 'message'
    GROUP BY 1, 2, 3
    UNION ALL
    SELECT h.service_point_id, {_HOUR.format("h.created_at")}, h.conversation_id, 0, 0, 0, count(*), NULL, NULL
    FROM conversation_event h WHERE {_IS_HANDOFF.format("h")}
    GROUP BY 1, 2, 3
) AS facts
GROUP BY service_point_id, hour, conversation_id
"""
_BACKFILL_HANDOFFS = f"""
INSERT INTO report_handoff (event_id, service_point_id, conversation_id, at, first_response_at, ended_at, resolved)
SELECT h.id, h.service_point_id, h.conversation_id, h.created_at,
       (SELECT min(m.timestamp) FROM message m
        WHERE m.conversation_id = h.conversation_id AND m.sender_type = 'AGENT' AND m.kind = 'message'
          AND m.timestamp >= h.created_at - {_SLACK} AND (ending.at IS NULL OR m.timestamp < ending.at)),
       ending.at, coalesce(ending.kind = 'RESOLVED', false)
FROM conversation_event h
LEFT JOIN LATERAL (
    SELECT e.created_at AS at, e.kind FROM conversation_event e
    WHERE e.conversation_id = h.conversation_id AND e.created_at > h.created_at AND e.kind IN {_ENDS}
    ORDER BY e.created_at LIMIT 1
) ending ON true
WHERE {_IS_HANDOFF.format("h")}
"""


def upgrade() -> None:
    op.create_table(
        "report_activity",
        sa.Column("service_point_id", sa.Uuid(), nullable=False),
        sa.Column("hour", sa.DateTime(timezone=True), nullable=False),
        sa.Column("conversation_id", sa.Uuid(), nullable=False),
        sa.Column("inbound", sa.Integer(), server_default="0", nullable=False),
        sa.Column("bot", sa.Integer(), server_default="0", nullable=False),
        sa.Column("agent", sa.Integer(), server_default="0", nullable=False),
        sa.Column("handoffs", sa.Integer(), server_default="0", nullable=False),
        sa.Column("first_inbound_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["service_point_id"],
            ["service_point.id"],
            name=op.f("fk_report_activity_service_point_id_service_point"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversation.id"],
            name=op.f("fk_report_activity_conversation_id_conversation"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "service_point_id",
            "hour",
            "conversation_id",
            name=op.f("pk_report_activity"),
            postgresql_include=["inbound", "bot", "agent", "handoffs"],
        ),
    )
    op.create_index(op.f("ix_report_activity_conversation_id"), "report_activity", ["conversation_id"])
    op.create_table(
        "report_handoff",
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("service_point_id", sa.Uuid(), nullable=False),
        sa.Column("conversation_id", sa.Uuid(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("first_response_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved", sa.Boolean(), server_default="false", nullable=False),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["conversation_event.id"],
            name=op.f("fk_report_handoff_event_id_conversation_event"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["service_point_id"],
            ["service_point.id"],
            name=op.f("fk_report_handoff_service_point_id_service_point"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversation.id"],
            name=op.f("fk_report_handoff_conversation_id_conversation"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_report_handoff")),
    )
    op.create_index("ix_report_handoff_point_at", "report_handoff", ["service_point_id", "at"])
    op.create_index("ix_report_handoff_conversation_at", "report_handoff", ["conversation_id", "at"])
    op.execute(_COUNT_MESSAGE)
    op.execute(_TRACK_HANDOFF)
    op.execute(_BACKFILL_ACTIVITY)
    op.execute(_BACKFILL_HANDOFFS)
    op.execute(
        "CREATE TRIGGER report_count_message AFTER INSERT ON message FOR EACH ROW WHEN (NEW.kind = 'message') "
        "EXECUTE FUNCTION report_count_message()"
    )
    op.execute(
        "CREATE TRIGGER report_track_handoff AFTER INSERT ON conversation_event FOR EACH ROW "
        "EXECUTE FUNCTION report_track_handoff()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER report_track_handoff ON conversation_event")
    op.execute("DROP TRIGGER report_count_message ON message")
    op.execute("DROP FUNCTION report_track_handoff()")
    op.execute("DROP FUNCTION report_count_message()")
    op.drop_table("report_handoff")
    op.drop_table("report_activity")

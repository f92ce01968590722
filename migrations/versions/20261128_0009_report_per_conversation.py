"""report rollups link each conversation's hours: the previous hour with customer, bot, human and handoff activity

The 90-day summary of a busy point grouped ~118,000 `report_activity` rows into ~99,000 conversations at read time
(a hash aggregate, most of its time). Each row now also holds, per kind of activity, the latest earlier hour of the
same conversation that had it. A conversation's first row of a period is then the one whose previous hour lies
before the period, so the summary counts conversations (and the daily series each day's) in one pass over the
period's rows, with no grouping by conversation. Definitions are unchanged (docs/reports.md).

The links are written by triggers on `report_activity` itself, so the triggers of 0008 that feed it stay as they are:
a new row copies them from the row just before it (one index probe); a new row, or one that gains a kind of activity,
moves the links of the conversation's later rows (none, when messages arrive in order). Both lock the conversation's
row first, so concurrent writers of one conversation cannot leave a link behind. The history is linked by one
window query; the key's index carries the links too, so the summary stays one index-only range scan.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-28 18:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# link column -> when a row has that activity ({0}: the row)
_KINDS = {
    "prev_inbound_hour": "{0}.inbound > 0",
    "prev_bot_hour": "{0}.bot > 0",
    "prev_human_hour": "({0}.agent > 0 OR {0}.handoffs > 0)",  # a person involved: an agent's message or a handoff
    "prev_handoff_hour": "{0}.handoffs > 0",
}
_COUNTS = ["inbound", "bot", "agent", "handoffs"]


def _each_kind(template: str, separator: str, row: str) -> str:
    """`template` once per link column, joined: `{column}` is the column, `{has}` the condition on `row`."""
    return separator.join(template.format(column=column, has=has.format(row)) for column, has in _KINDS.items())


# Links change only when a conversation gets a new hour row or a row gets its first activity of a kind: rare next to
# the upserts of 0008. Those writes lock the conversation's row until commit (a row lock: no lock-table entry however
# many conversations one transaction writes; FOR NO KEY UPDATE leaves other transactions' foreign-key checks alone,
# and the pipeline's writers and the inbox's actions hold it already), and each statement after it sees the others'
# committed rows, so two transactions writing the same conversation's hours at once cannot both miss the other's row.
_LOCK = "PERFORM 1 FROM conversation WHERE id = NEW.conversation_id FOR NO KEY UPDATE;"

_MOVED = _each_kind(
    "{column} = CASE WHEN {has} AND ({column} IS NULL OR {column} < NEW.hour) THEN NEW.hour ELSE {column} END",
    ",\n        ",
    "NEW",
)
_BEHIND = _each_kind("({has} AND ({column} IS NULL OR {column} < NEW.hour))", "\n        OR ", "NEW")
_MOVE_LATER = f"""
    UPDATE report_activity SET
        {_MOVED}
    WHERE conversation_id = NEW.conversation_id AND hour > NEW.hour
      AND ({_BEHIND});"""

_COPIED = _each_kind(
    "{column} = CASE WHEN {has} THEN previous.hour ELSE previous.{column} END", ",\n            ", "previous"
)

# A new row takes its links from the row just before it (one index probe), then moves the later rows' links.
_LINK_INSERTED = f"""
CREATE FUNCTION report_activity_link_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    previous report_activity%ROWTYPE;
BEGIN
    {_LOCK}
    SELECT * INTO previous FROM report_activity
    WHERE conversation_id = NEW.conversation_id AND hour < NEW.hour ORDER BY hour DESC LIMIT 1;
    IF FOUND THEN
        UPDATE report_activity SET
            {_COPIED}
        WHERE service_point_id = NEW.service_point_id AND hour = NEW.hour AND conversation_id = NEW.conversation_id;
    END IF;
    {_MOVE_LATER}
    RETURN NULL;
END $$
"""

# A row that gets its first activity of a kind moves the later rows' links to it.
_LINK_GAINED = f"""
CREATE FUNCTION report_activity_link_gained() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    {_LOCK}
    {_MOVE_LATER}
    RETURN NULL;
END $$
"""

_GAINED = " OR ".join(f"(OLD.{count} = 0 AND NEW.{count} > 0)" for count in _COUNTS)

_BACKFILL = f"""
UPDATE report_activity r
SET {", ".join(f"{column} = linked.{column}" for column in _KINDS)}
FROM (
    SELECT service_point_id, hour, conversation_id,
           {_each_kind("max(hour) FILTER (WHERE {has}) OVER earlier AS {column}", ", ", "report_activity")}
    FROM report_activity
    WINDOW earlier AS (PARTITION BY conversation_id ORDER BY hour ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
) AS linked
WHERE (r.service_point_id, r.hour, r.conversation_id) = (linked.service_point_id, linked.hour, linked.conversation_id)
  AND ({" OR ".join(f"linked.{column} IS NOT NULL" for column in _KINDS)})
"""


def _primary_key(include: list[str]) -> None:
    op.drop_constraint("pk_report_activity", "report_activity", type_="primary")
    op.execute(
        "ALTER TABLE report_activity ADD CONSTRAINT pk_report_activity "
        f"PRIMARY KEY (service_point_id, hour, conversation_id) INCLUDE ({', '.join(include)})"
    )


def upgrade() -> None:
    for column in _KINDS:
        op.add_column("report_activity", sa.Column(column, sa.DateTime(timezone=True), nullable=True))
    # the links are found and moved along a conversation's hours
    op.drop_index(op.f("ix_report_activity_conversation_id"), table_name="report_activity")
    op.create_index("ix_report_activity_conversation_hour", "report_activity", ["conversation_id", "hour"])
    op.execute(_BACKFILL)
    _primary_key([*_COUNTS, *_KINDS])
    op.execute(_LINK_INSERTED)
    op.execute(_LINK_GAINED)
    op.execute(
        "CREATE TRIGGER report_activity_link_inserted AFTER INSERT ON report_activity FOR EACH ROW "
        "EXECUTE FUNCTION report_activity_link_inserted()"
    )
    op.execute(
        "CREATE TRIGGER report_activity_link_gained AFTER UPDATE ON report_activity FOR EACH ROW "
        f"WHEN ({_GAINED}) EXECUTE FUNCTION report_activity_link_gained()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER report_activity_link_gained ON report_activity")
    op.execute("DROP TRIGGER report_activity_link_inserted ON report_activity")
    op.execute("DROP FUNCTION report_activity_link_gained()")
    op.execute("DROP FUNCTION report_activity_link_inserted()")
    _primary_key(_COUNTS)
    op.drop_index("ix_report_activity_conversation_hour", table_name="report_activity")
    op.create_index(op.f("ix_report_activity_conversation_id"), "report_activity", ["conversation_id"])
    for column in reversed(_KINDS):
        op.drop_column("report_activity", column)

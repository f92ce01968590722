"""The report queries: plain SQL over the period's activity, handoffs and CSAT answers.

A period is a range of calendar days read in each point's own time zone (`service_point.timezone`), so "yesterday"
means the branch's yesterday wherever the server runs. Per point it becomes a half-open range of instants, which the
rollups' (point, time) keys answer directly. What a handoff is and when a first response counts is decided once, by
the triggers of migration 0008; what counts in a period, here; both are spelled out in docs/reports.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from sqlalchemy import Result, Row, TextClause, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from ventanilla.db.models import DEFAULT_TIMEZONE, Membership, ServicePoint, User
from ventanilla.reports.schemas import Csat, DailyReport, Percentiles, ReportDay, ReportSummary

DEFAULT_DAYS = 30
MAX_DAYS = 366  # a year, leap or not
REPORT_WORK_MEM = "64MB"


class PeriodError(ValueError):
    """A period the reports refuse; `field` is the query parameter to blame."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Period:
    first: date
    last: date

    @property
    def days(self) -> list[date]:
        return [self.first + timedelta(days=n) for n in range((self.last - self.first).days + 1)]


def resolve_period(first: date | None, last: date | None, timezone: str, today: datetime) -> Period:
    """The period asked for, with the defaults (the last 30 days up to today in `timezone`) filled in."""
    last = last or today.astimezone(ZoneInfo(timezone)).date()
    first = first or last - timedelta(days=DEFAULT_DAYS - 1)
    if first > last:
        raise PeriodError("from", "must be on or before `to`")
    if (last - first).days + 1 > MAX_DAYS:
        raise PeriodError("from", f"the period may cover at most {MAX_DAYS} days")
    return Period(first, last)


# --- the shared definitions ----------------------------------------------------------------------------------
# The facts come from two rollups that triggers keep in step with every message and event (migration 0008):
# `report_activity` (customer messages, bot and agent answers per conversation and UTC hour; never notes) and
# `report_handoff` (each handoff with its first agent reply and how its episode ended). Links between a
# conversation's hours (migration 0009) let the summary and the daily series count conversations without grouping
# rows by conversation. See docs/reports.md.

# Each point's period as instants: from the first day's midnight to the midnight after the last day, in its zone.
_POINT = """
point AS (
    SELECT id, name, timezone AS tz,
           CAST(:first_day AS date)::timestamp AT TIME ZONE timezone AS lo,
           (CAST(:last_day AS date) + 1)::timestamp AT TIME ZONE timezone AS hi
    FROM service_point WHERE id = ANY(CAST(:points AS uuid[]))
)"""

# Activity of the period per conversation and local day (hours start at whole UTC hours, as do the zones' days): for
# the CSV, which lists conversations anyway.
_ACTIVITY = """
activity AS (
    SELECT r.conversation_id, (r.hour AT TIME ZONE p.tz)::date AS day,
           sum(r.inbound) AS inbound, sum(r.bot) AS bot, sum(r.agent) AS agent, sum(r.handoffs) AS handoffs,
           min(r.first_inbound_at) AS first_inbound, max(r.last_at) AS last_at
    FROM point p
    JOIN report_activity r ON r.service_point_id = p.id AND r.hour >= p.lo AND r.hour < p.hi
    GROUP BY r.conversation_id, day
)"""

# Conversations are counted without grouping rows by conversation: each row links to the latest earlier hour of its
# conversation with customer, bot, human (agent message or handoff) and handoff activity (migration 0009). Within a
# stretch of time starting at `since` (the period's start, or a local day's), a conversation's first row
# with some activity is the one whose link for it points before `since`; it has the other activity too when that
# lies in the stretch before it (its own link, or itself) or later (found from the other activity's first row).
_HAS = {
    "inbound": "r.inbound > 0",
    "bot": "r.bot > 0",
    "human": "(r.agent > 0 OR r.handoffs > 0)",
    "handoff": "r.handoffs > 0",
}


def _first(kind: str, since: str) -> str:
    """The row is its conversation's first with `kind` activity from `since` on."""
    return f"{_HAS[kind]} AND (r.prev_{kind}_hour IS NULL OR r.prev_{kind}_hour < {since})"


def _conversations_with(kind: str, other: str, since: str) -> str:
    """How many conversations have both kinds of activity from `since` on: counted at the first row of whichever
    came first (`kind` on a tie)."""
    other_so_far = f"({_HAS[other]} OR r.prev_{other}_hour >= {since})"
    return (
        f"count(*) FILTER (WHERE {_first(kind, since)} AND {other_so_far})"
        f" + count(*) FILTER (WHERE {_first(other, since)} AND r.prev_{kind}_hour >= {since})"
    )


# Handoffs of the period: first response from the handoff to its first agent message (not a note) before the
# episode ended; resolution to its end, when that end was RESOLVED.
_TIMING = """
timing AS (
    SELECT h.conversation_id, h.at, {day}
           CASE WHEN h.first_response_at IS NOT NULL
                THEN greatest(0, extract(epoch FROM h.first_response_at - h.at)) END AS first_response,
           CASE WHEN h.resolved THEN extract(epoch FROM h.ended_at - h.at) END AS resolution
    FROM point p
    JOIN report_handoff h ON h.service_point_id = p.id AND h.at >= p.lo AND h.at < p.hi
)"""


def _timing(*, by_day: bool) -> str:
    """Local days cost a time zone conversion per row: only the daily series pays it."""
    return _TIMING.format(day="(h.at AT TIME ZONE p.tz)::date AS day," if by_day else "")


_CSAT = """
rating AS (
    SELECT c.conversation_id, c.rating, c.created_at AS at, (c.created_at AT TIME ZONE p.tz)::date AS day
    FROM point p
    JOIN csat_response c ON c.service_point_id = p.id AND c.created_at >= p.lo AND c.created_at < p.hi
)"""


def _percentiles(column: str, prefix: str = "") -> str:
    return ", ".join(
        f"round(percentile_cont({q}) WITHIN GROUP (ORDER BY {column})::numeric)::int AS {prefix}{name}"
        for q, name in ((0.5, "p50"), (0.9, "p90"))
    )


def _with(*parts: str) -> str:
    return "WITH" + ",".join(parts)


# Period figures: conversations count once however many days they were active in.
_SUMMARY = text(
    _with(_POINT, _timing(by_day=False), _CSAT)
    + f""",
counts AS (
    SELECT count(*) FILTER (WHERE {_first("inbound", "p.lo")}) AS conversations,
           coalesce(sum(r.inbound), 0)::bigint AS inbound_messages,
           coalesce(sum(r.bot), 0)::bigint AS bot_answers,
           count(*) FILTER (WHERE {_first("bot", "p.lo")}) AS with_bot,
           {_conversations_with("bot", "human", "p.lo")} AS with_bot_and_human
    FROM point p
    JOIN report_activity r ON r.service_point_id = p.id AND r.hour >= p.lo AND r.hour < p.hi
),
timings AS (
    SELECT count(*) AS handoffs,
           {_percentiles("first_response", "response_")},
           {_percentiles("resolution", "resolution_")}
    FROM timing
),
ratings AS (SELECT round(avg(rating), 2)::float AS average, count(*) AS responses FROM rating)
SELECT counts.*, timings.*, ratings.average AS csat_average, ratings.responses AS csat_responses
FROM counts, timings, ratings
"""
)

# Each local day of the period as instants, computed once per day (materialized) instead of once per row; each day's
# rows are counted with its first instant as `since` (an index-only range scan per point and day), then summed over
# the points.
_DAILY_ACTIVITY = text(
    _with(_POINT)
    + f""",
days AS MATERIALIZED (
    SELECT p.id AS point_id, local.day::date AS day, local.day AT TIME ZONE p.tz AS since,
           (local.day + interval '1 day') AT TIME ZONE p.tz AS until
    FROM point p
    CROSS JOIN generate_series(CAST(:first_day AS date)::timestamp, CAST(:last_day AS date)::timestamp,
                               interval '1 day') AS local (day)
)
SELECT days.day, sum(counts.conversations)::bigint AS conversations, sum(counts.handed_off)::bigint AS handed_off,
       sum(counts.with_bot)::bigint AS with_bot, sum(counts.with_bot_and_human)::bigint AS with_bot_and_human
FROM days
CROSS JOIN LATERAL (
    SELECT count(*) FILTER (WHERE {_first("inbound", "days.since")}) AS conversations,
           {_conversations_with("inbound", "handoff", "days.since")} AS handed_off,
           count(*) FILTER (WHERE {_first("bot", "days.since")}) AS with_bot,
           {_conversations_with("bot", "human", "days.since")} AS with_bot_and_human
    FROM report_activity r
    WHERE r.service_point_id = days.point_id AND r.hour >= days.since AND r.hour < days.until
) AS counts
GROUP BY days.day
"""
)

_DAILY_RESPONSES = text(
    _with(_POINT, _timing(by_day=True))
    + f"""
SELECT day, {_percentiles("first_response")} FROM timing GROUP BY day
"""
)

_DAILY_CSAT = text(
    _with(_POINT, _CSAT)
    + """
SELECT day, round(avg(rating), 2)::float AS average, count(*) AS responses FROM rating GROUP BY day
"""
)

# One row per conversation the customer wrote in during the period, with what happened to it then.
_CONVERSATIONS = text(
    _with(_POINT, _ACTIVITY, _timing(by_day=False), _CSAT)
    + """,
per_conversation AS (
    SELECT conversation_id, sum(inbound) AS inbound, sum(bot) AS bot, sum(agent) AS agent,
           sum(handoffs) AS handoffs, min(first_inbound) AS first_inbound, max(last_at) AS last_at
    FROM activity GROUP BY conversation_id
),
first_handoff AS (
    SELECT DISTINCT ON (conversation_id) conversation_id, first_response, resolution
    FROM timing ORDER BY conversation_id, at
),
last_rating AS (
    SELECT DISTINCT ON (conversation_id) conversation_id, rating FROM rating ORDER BY conversation_id, at DESC
),
agents AS (
    SELECT pc.conversation_id, string_agg(DISTINCT u.name, ', ') AS names
    FROM per_conversation pc
    JOIN conversation c ON c.id = pc.conversation_id
    JOIN point p ON p.id = c.service_point_id
    JOIN message m ON m.conversation_id = pc.conversation_id AND m.timestamp >= p.lo AND m.timestamp < p.hi
    JOIN user_account u ON u.id = m.sender_user_id
    WHERE pc.agent > 0 AND m.kind = 'message' AND m.sender_type = 'AGENT'
    GROUP BY pc.conversation_id
)
SELECT p.name AS point_name, p.tz, c.id, c.service_point_id, c.customer_phone, c.status, c.labels,
       assignee.name AS assignee, pc.first_inbound, pc.last_at, pc.inbound, pc.bot, pc.agent,
       pc.handoffs, fh.first_response, fh.resolution, lr.rating, ag.names AS agents
FROM per_conversation pc
JOIN conversation c ON c.id = pc.conversation_id
JOIN point p ON p.id = c.service_point_id
LEFT JOIN user_account assignee ON assignee.id = c.assigned_to_user_id
LEFT JOIN first_handoff fh ON fh.conversation_id = pc.conversation_id
LEFT JOIN last_rating lr ON lr.conversation_id = pc.conversation_id
LEFT JOIN agents ag ON ag.conversation_id = pc.conversation_id
WHERE pc.inbound > 0
ORDER BY p.name, pc.first_inbound, c.id
"""
)


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


class ReportService:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def visible_points(self, user: User, service_point_id: UUID | None) -> list[ServicePoint] | None:
        """The points a report covers: the one asked for, or all of the caller's. None: that point is not theirs
        (or does not exist), which callers answer like any other unknown point."""
        statement = select(ServicePoint).order_by(ServicePoint.name)
        if not user.is_admin:
            statement = statement.join(Membership).where(Membership.user_id == user.id)
        if service_point_id is not None:
            statement = statement.where(ServicePoint.id == service_point_id)
        points = list((await self.session.scalars(statement)).all())
        return None if service_point_id is not None and not points else points

    @staticmethod
    def timezone_of(points: Sequence[ServicePoint]) -> str:
        """The zone that says what "today" is: the point's, or the default one when several points differ."""
        zones = {point.timezone for point in points}
        return zones.pop() if len(zones) == 1 else DEFAULT_TIMEZONE

    async def _run(self, statement: TextClause, points: Sequence[ServicePoint], period: Period) -> Result[Any]:
        """One report query. A busy point's CSV groups and sorts some 100,000 conversations, and percentiles sort
        every handoff: with the default work_mem they spill to disk, so the transaction gets more (SET LOCAL ends
        with it)."""
        await self.session.execute(text(f"SET LOCAL work_mem = '{REPORT_WORK_MEM}'"))
        parameters = {"points": [point.id for point in points], "first_day": period.first, "last_day": period.last}
        return await self.session.execute(statement, parameters)

    async def summary(self, points: Sequence[ServicePoint], period: Period) -> ReportSummary:
        row = (await self._run(_SUMMARY, points, period)).one()
        return ReportSummary(
            period_from=period.first,
            period_to=period.last,
            service_point_ids=[point.id for point in points],
            conversations=row.conversations,
            inbound_messages=row.inbound_messages,
            bot_answers=row.bot_answers,
            handoffs=row.handoffs,
            bot_containment_rate=_rate(row.with_bot - row.with_bot_and_human, row.with_bot),
            first_response_seconds=Percentiles(p50=row.response_p50, p90=row.response_p90),
            resolution_seconds=Percentiles(p50=row.resolution_p50, p90=row.resolution_p90),
            csat=Csat(average=row.csat_average, responses=row.csat_responses),
        )

    async def daily(self, points: Sequence[ServicePoint], period: Period) -> DailyReport:
        activity = {row.day: row for row in await self._run(_DAILY_ACTIVITY, points, period)}
        responses = {row.day: row for row in await self._run(_DAILY_RESPONSES, points, period)}
        ratings = {row.day: row for row in await self._run(_DAILY_CSAT, points, period)}
        days = []
        for day in period.days:
            counts, response, rating = activity.get(day), responses.get(day), ratings.get(day)
            conversations = counts.conversations if counts else 0
            handed_off = counts.handed_off if counts else 0
            with_bot = counts.with_bot if counts else 0
            bot_only = with_bot - counts.with_bot_and_human if counts else 0
            days.append(
                ReportDay(
                    day=day,
                    conversations=conversations,
                    bot_only=conversations - handed_off,
                    handed_off=handed_off,
                    bot_containment_rate=_rate(bot_only, with_bot),
                    first_response_seconds=Percentiles(
                        p50=response.p50 if response else None, p90=response.p90 if response else None
                    ),
                    csat=Csat(average=rating.average if rating else None, responses=rating.responses if rating else 0),
                )
            )
        return DailyReport(
            period_from=period.first,
            period_to=period.last,
            service_point_ids=[point.id for point in points],
            days=days,
        )

    async def conversations(self, points: Sequence[ServicePoint], period: Period) -> Sequence[Row[Any]]:
        """The CSV's rows, oldest first within each point (see `reports.csv`)."""
        return (await self._run(_CONVERSATIONS, points, period)).all()

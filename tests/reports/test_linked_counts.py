"""The summary and the daily series count conversations through the links between a conversation's hours (migration
0009) instead of grouping its rows: on long-lived conversations written in any order, in several transactions, they
must give exactly what grouping the rollup rows by conversation gives, for every period; and the migration's
back-fill must write the links the triggers write."""

from __future__ import annotations

import asyncio
import importlib.util
import random
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from ventanilla.db.models import (
    Conversation,
    ConversationEvent,
    ConversationEventKind,
    ConversationStatus,
    DeliveryStatus,
    Direction,
    Message,
    MessageKind,
    SenderType,
    ServicePoint,
)
from ventanilla.reports.services import Period, ReportService

# Quito, and a zone whose days start at half past a UTC hour (a period then starts inside an hour row)
ZONES = ["America/Guayaquil", "Asia/Kolkata"]
FIRST_DAY = date(2026, 3, 10)
DAYS = 5
ACTS = ("customer", "customer", "bot", "bot", "agent", "note", "handoff")
LINKS = {
    "prev_inbound_hour": lambda row: row.inbound > 0,
    "prev_bot_hour": lambda row: row.bot > 0,
    "prev_human_hour": lambda row: row.agent > 0 or row.handoffs > 0,
    "prev_handoff_hour": lambda row: row.handoffs > 0,
}
MIGRATION = Path(__file__).parents[2] / "migrations/versions/20261128_0009_report_per_conversation.py"


@dataclass(frozen=True)
class Point:
    id: UUID
    zone: ZoneInfo
    conversations: list[UUID]


def _message(
    conversation: UUID,
    point: UUID,
    sender: SenderType,
    moment: datetime,
    name: str,
    kind: MessageKind = MessageKind.MESSAGE,
) -> Message:
    inbound = sender is SenderType.CUSTOMER
    return Message(
        conversation_id=conversation,
        service_point_id=point,
        direction=Direction.IN if inbound else Direction.OUT,
        sender_type=sender,
        content="texto",
        provider_message_id=name,
        timestamp=moment,
        delivery_status=None if inbound or kind is MessageKind.NOTE else DeliveryStatus.SENT,
        kind=kind,
        created_at=moment,
    )


def _rows_to_write(point: UUID, zone: ZoneInfo, conversations: list[UUID]) -> list[Message | ConversationEvent]:
    """A few acts per conversation on hours spread over the days around the period (local evenings fall on the next
    UTC day), in a fixed shuffled order: later hours are often written before earlier ones."""
    rng = random.Random(9)
    start = datetime.combine(FIRST_DAY - timedelta(days=1), datetime.min.time(), zone)
    rows: list[Message | ConversationEvent] = []
    for number, conversation in enumerate(conversations):
        for _ in range(rng.randint(1, 9)):
            moment = start + timedelta(hours=rng.randrange(24 * (DAYS + 2)), minutes=rng.randrange(60))
            act = rng.choice(ACTS)
            if act == "handoff":
                rows.append(
                    ConversationEvent(
                        conversation_id=conversation,
                        service_point_id=point,
                        kind=ConversationEventKind.HANDOFF_REQUESTED,
                        from_status=ConversationStatus.BOT,
                        to_status=ConversationStatus.HUMAN,
                        created_at=moment,
                    )
                )
                continue
            sender = {"customer": SenderType.CUSTOMER, "bot": SenderType.BOT}.get(act, SenderType.AGENT)
            kind = MessageKind.NOTE if act == "note" else MessageKind.MESSAGE
            rows.append(_message(conversation, point, sender, moment, f"L{number}-{len(rows)}", kind))
    rng.shuffle(rows)
    return rows


@pytest.fixture(params=ZONES)
async def point(request: pytest.FixtureRequest, session: AsyncSession) -> Point:
    zone = ZoneInfo(request.param)
    service_point = ServicePoint(name="Punto enlazado", phone_number="+593200000099", timezone=zone.key)
    session.add(service_point)
    await session.flush()
    conversations = [
        Conversation(
            service_point_id=service_point.id, customer_phone=f"+5939911{n:05d}", status=ConversationStatus.BOT
        )
        for n in range(40)
    ]
    session.add_all(conversations)
    await session.commit()
    ids = [conversation.id for conversation in conversations]
    rows = _rows_to_write(service_point.id, zone, ids)
    for batch in range(4):  # several transactions, each seeing the rows of the ones before
        session.add_all(rows[batch::4])
        await session.commit()
    return Point(service_point.id, zone, ids)


async def _activity(session: AsyncSession) -> list[Any]:
    return list((await session.execute(text("SELECT * FROM report_activity ORDER BY conversation_id, hour"))).all())


def _wrong_links(rows: list[Any]) -> list[tuple[UUID, datetime, str]]:
    """Rows whose link is not the latest earlier hour of their conversation with that activity."""
    wrong, latest = [], {}
    for row in rows:  # ordered by conversation, then hour
        if latest.get("conversation") != row.conversation_id:
            latest = {"conversation": row.conversation_id}
        for column in LINKS:
            if getattr(row, column) != latest.get(column):
                wrong.append((row.conversation_id, row.hour, column))
        latest.update({column: row.hour for column, has in LINKS.items() if has(row)})
    return wrong


def _instant(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, datetime.min.time(), zone).astimezone(UTC)


def _grouped(rows: list[Any], zone: ZoneInfo, first: date, last: date) -> dict[str, Any]:
    """The summary's counts and each day's as grouping the rows by conversation gives them (the definitions)."""
    lo, hi = _instant(first, zone), _instant(last + timedelta(days=1), zone)
    period: dict[UUID, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    days: dict[tuple[date, UUID], list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for row in rows:
        if lo <= row.hour < hi:
            counts = (row.inbound, row.bot, row.agent, row.handoffs)
            day = row.hour.astimezone(zone).date()
            for totals in (period[row.conversation_id], days[day, row.conversation_id]):
                totals[:] = [a + b for a, b in zip(totals, counts, strict=True)]

    def figures(conversations: list[list[int]]) -> tuple[int, int, int, int]:
        """(conversations, handed off, with a bot answer, bot only)"""
        return (
            sum(1 for inbound, _, _, _ in conversations if inbound),
            sum(1 for inbound, _, _, handoffs in conversations if inbound and handoffs),
            sum(1 for _, bot, _, _ in conversations if bot),
            sum(1 for _, bot, agent, handoffs in conversations if bot and not agent and not handoffs),
        )

    by_day: dict[date, list[list[int]]] = defaultdict(list)
    for (day, _), totals in days.items():
        by_day[day].append(totals)
    return {
        "summary": figures(list(period.values())),
        "inbound": sum(totals[0] for totals in period.values()),
        "bot": sum(totals[1] for totals in period.values()),
        "days": {day: figures(conversations) for day, conversations in by_day.items()},
    }


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


async def test_links_follow_each_conversations_hours_whatever_the_write_order(
    session: AsyncSession, point: Point
) -> None:
    rows = await _activity(session)
    assert len(rows) > 3 * len(point.conversations)  # long-lived: most conversations span several hours
    assert sum(1 for row in rows if row.prev_inbound_hour is not None) > len(point.conversations)
    assert _wrong_links(rows) == []


async def test_summary_and_days_equal_grouping_by_conversation_in_every_period(
    session: AsyncSession, point: Point
) -> None:
    rows = await _activity(session)
    reports = ReportService(session)
    points = [await session.get_one(ServicePoint, point.id)]
    days = [FIRST_DAY + timedelta(days=n) for n in range(-1, DAYS + 1)]
    checked = 0
    for first in days:
        for last in (day for day in days if day >= first):
            expected = _grouped(rows, point.zone, first, last)
            conversations, _, with_bot, bot_only = expected["summary"]
            summary = await reports.summary(points, Period(first, last))
            assert (summary.conversations, summary.inbound_messages, summary.bot_answers) == (
                conversations,
                expected["inbound"],
                expected["bot"],
            ), (first, last)
            assert summary.bot_containment_rate == _rate(bot_only, with_bot), (first, last)
            checked += 0 < bot_only < with_bot
            daily = await reports.daily(points, Period(first, last))
            for day in daily.days:
                conversations, handed_off, with_bot, bot_only = expected["days"].get(day.day, (0, 0, 0, 0))
                assert (day.conversations, day.handed_off, day.bot_only) == (
                    conversations,
                    handed_off,
                    conversations - handed_off,
                ), (first, last, day.day)
                assert day.bot_containment_rate == _rate(bot_only, with_bot), (first, last, day.day)
    assert checked > 10  # periods where containment is neither 0 nor 1: the pairing of kinds is exercised


async def test_the_migrations_back_fill_writes_the_links_the_triggers_write(
    session: AsyncSession, point: Point
) -> None:
    before = await _activity(session)
    await session.execute(
        text(
            "UPDATE report_activity SET prev_inbound_hour = NULL, prev_bot_hour = NULL, prev_human_hour = NULL, "
            "prev_handoff_hour = NULL"
        )
    )
    spec = importlib.util.spec_from_file_location("report_per_conversation", MIGRATION)
    assert spec and spec.loader
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    await session.execute(text(migration._BACKFILL))
    after = await _activity(session)
    assert after == before and _wrong_links(after) == []


async def test_two_transactions_writing_neighbouring_hours_at_once_leave_no_link_behind(
    engine: AsyncEngine, session: AsyncSession, point: Point
) -> None:
    """The customer's message of 09:59 and the agent's reply of 10:00 are written at once, each opening an hour of a
    conversation with no activity before: the one that commits second must see the other's row."""
    conversation = point.conversations[0]
    await session.execute(text("DELETE FROM message WHERE conversation_id = :c"), {"c": conversation})
    await session.execute(text("DELETE FROM report_activity WHERE conversation_id = :c"), {"c": conversation})
    await session.commit()
    morning = datetime(2026, 3, 20, 9, 59, tzinfo=UTC)
    async with AsyncSession(engine) as first, AsyncSession(engine) as second:
        first.add(_message(conversation, point.id, SenderType.CUSTOMER, morning, "T1"))
        await first.flush()

        async def reply() -> None:
            second.add(_message(conversation, point.id, SenderType.AGENT, morning + timedelta(minutes=1), "T2"))
            second.add(_message(conversation, point.id, SenderType.CUSTOMER, morning + timedelta(minutes=2), "T3"))
            await second.flush()
            await second.commit()

        replying = asyncio.create_task(reply())
        await asyncio.sleep(0.5)  # the reply's rows are written (or wait) while the first is still open
        await first.commit()
        await asyncio.wait_for(replying, 10)
    rows = [row for row in await _activity(session) if row.conversation_id == conversation]
    assert [(row.hour.hour, row.prev_inbound_hour) for row in rows] == [(9, None), (10, rows[0].hour)]
    assert _wrong_links(rows) == []

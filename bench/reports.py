"""Report latency: one point with 100,000 conversations over 90 days, asked for its summary, daily series and CSV.

    .venv/bin/python bench/reports.py [--conversations 100000] [--days 90] [--runs 20]
                                      [--database-url postgresql+asyncpg://.../scratch]

Loads the data with COPY (about 6 messages per conversation: two customer messages and two bot answers; a quarter
handed off by the bot with a private note, two agent replies, mostly resolved and often rated), starts
`ventanilla serve`, and measures over HTTP, `--runs` times each after a warm-up, the 90-day summary and daily
series of the point, the 30-day summary, and the 90-day CSV. Prints p50/p90/p99 of each. Target: the 90-day summary
under 200 ms. Without --database-url a fresh embedded PostgreSQL in a temporary directory is used; with it, give an
empty scratch database.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import random
import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
from harness import cpu_seconds, percentile, serving, signed_in, workspace
from sqlalchemy import text
from tests.helpers import wait_until_ready

MESSAGE_COLUMNS = [
    "id",
    "conversation_id",
    "service_point_id",
    "direction",
    "sender_type",
    "content",
    "provider_message_id",
    "timestamp",
    "delivery_status",
    "created_at",
    "updated_at",
    "handled_at",
    "attempts",
    "kind",
]
CONVERSATION_COLUMNS = [
    "id",
    "service_point_id",
    "customer_phone",
    "status",
    "last_message_at",
    "created_at",
    "updated_at",
]
EVENT_COLUMNS = ["id", "conversation_id", "service_point_id", "kind", "from_status", "to_status", "created_at"]


def _message(conversation: uuid.UUID, point: uuid.UUID, number: int, sender: str, at: datetime, kind: str) -> tuple:
    """A row of MESSAGE_COLUMNS."""
    inbound = sender == "CUSTOMER"
    status = "SENT" if not inbound and kind == "message" else None
    direction = "IN" if inbound else "OUT"
    handled = at if inbound else None
    return (
        uuid.uuid4(),
        conversation,
        point,
        direction,
        sender,
        "mensaje",
        f"R{number:09d}",
        at,
        status,
        at,
        at,
        handled,
        0,
        kind,
    )


def _rows(point: uuid.UUID, conversations: int, days: int, now: datetime):
    """Conversations spread evenly over the last `days` days, with their messages, events and ratings."""
    rng = random.Random(13)
    numbers = itertools.count()
    span = days * 86400
    conversation_rows, messages, events, ratings = [], [], [], []
    for index in range(conversations):
        conversation = uuid.uuid4()
        start = now - timedelta(seconds=span * (index + 0.5) / conversations)
        moment = start
        handed_off = index % 4 == 0
        resolved = handed_off and index % 5 != 0
        status = ("RESOLVED" if resolved else "HUMAN") if handed_off else "BOT"
        for _ in range(2):
            messages.append(_message(conversation, point, next(numbers), "CUSTOMER", moment, "message"))
            moment += timedelta(seconds=rng.randint(2, 8))
            messages.append(_message(conversation, point, next(numbers), "BOT", moment, "message"))
            moment += timedelta(seconds=rng.randint(20, 300))
        if handed_off:
            events.append((uuid.uuid4(), conversation, point, "HANDOFF_REQUESTED", "BOT", "HUMAN", moment))
            note_at = moment + timedelta(seconds=30)
            messages.append(_message(conversation, point, next(numbers), "AGENT", note_at, "note"))
            for _ in range(2):
                moment += timedelta(seconds=rng.randint(30, 1800))
                messages.append(_message(conversation, point, next(numbers), "AGENT", moment, "message"))
            if resolved:
                moment += timedelta(seconds=rng.randint(60, 3600))
                events.append((uuid.uuid4(), conversation, point, "RESOLVED", "HUMAN", "RESOLVED", moment))
                if index % 2 == 0:
                    rated_at = moment + timedelta(minutes=1)
                    ratings.append((uuid.uuid4(), point, conversation, rng.randint(1, 5), rated_at))
        phone = f"+59399{index:07d}"
        conversation_rows.append((conversation, point, phone, status, moment, start, start))
    return conversation_rows, messages, events, ratings


async def _load(dsn: str, conversations: int, days: int) -> str:
    connection = await asyncpg.connect(dsn)
    try:
        point, now = uuid.uuid4(), datetime.now(UTC)
        await connection.execute(
            "INSERT INTO service_point (id, name, whatsapp_status, created_at, updated_at) "
            "VALUES ($1, 'Bench', 'DISCONNECTED', $2, $2)",
            point,
            now,
        )
        conversation_rows, messages, events, ratings = _rows(point, conversations, days, now)
        await connection.copy_records_to_table(
            "conversation",
            records=conversation_rows,
            columns=CONVERSATION_COLUMNS,
        )
        await connection.copy_records_to_table("message", records=messages, columns=MESSAGE_COLUMNS)
        await connection.copy_records_to_table(
            "conversation_event",
            records=[(*row, row[-1]) for row in events],
            columns=[*EVENT_COLUMNS, "updated_at"],
        )
        await connection.copy_records_to_table(
            "csat_response",
            records=[(*row, row[-1]) for row in ratings],
            columns=["id", "service_point_id", "conversation_id", "rating", "created_at", "updated_at"],
        )
        await connection.execute("VACUUM ANALYZE")  # as autovacuum leaves a table that stopped changing
        print(f"  loaded {len(messages):,} messages, {len(events):,} events, {len(ratings):,} ratings")
        return str(point)
    finally:
        await connection.close()


async def _measure(base: str, point: str, days: int, runs: int) -> dict[str, list[float]]:
    today = datetime.now(UTC).date()
    long = {"servicePointId": point, "from": str(today - timedelta(days=days - 1)), "to": str(today)}
    month = {**long, "from": str(today - timedelta(days=29))}
    reads = (
        (f"summary {days} d", "/api/reports/summary", long),
        ("summary 30 d", "/api/reports/summary", month),
        (f"daily {days} d", "/api/reports/daily", long),
        (f"csv {days} d", "/api/reports/conversations.csv", long),
    )
    timings: dict[str, list[float]] = {name: [] for name, _, _ in reads}
    async with signed_in(base) as http:
        for name, url, params in reads:
            repeat = min(runs, 5) if url.endswith(".csv") else runs  # a big file: a few are enough
            for run in range(repeat + 2):  # two to warm up
                started = time.perf_counter()
                response = await http.get(url, params=params)
                elapsed = (time.perf_counter() - started) * 1000
                assert response.status_code == 200, response.text
                if run >= 2:
                    timings[name].append(elapsed)
            if url.endswith("summary"):
                print(f"  {name}: {response.json()}")
    return timings


async def _database_cpu(database_url: str, point: str, days: int, runs: int) -> list[float] | None:
    """CPU ms the database server spends on one 90-day summary (its backend's /proc counters; a local server only):
    what the summary costs whatever else the machine is doing."""
    from sqlalchemy import select
    from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

    from ventanilla.db.models import ServicePoint
    from ventanilla.reports.services import ReportService, resolve_period

    engine = create_async_engine(database_url)
    try:
        async with AsyncSession(engine) as session:
            backend = (await session.execute(text("SELECT pg_backend_pid()"))).scalar_one()
            if not Path(f"/proc/{backend}/stat").exists():
                return None
            points = list(
                (await session.scalars(select(ServicePoint).where(ServicePoint.id == uuid.UUID(point)))).all()
            )
            today = datetime.now(UTC).date()
            period = resolve_period(today - timedelta(days=days - 1), today, "UTC", datetime.now(UTC))
            started = time.perf_counter()
            await session.execute(text("SELECT count(*) FROM generate_series(1, 1000000)"))
            reference = (time.perf_counter() - started) * 1000
            print(f"  this database server counts 1,000,000 generated rows in {reference:.0f} ms (speed reference)")
            reports, spent = ReportService(session), []
            for run in range(runs + 2):
                before = cpu_seconds(backend)
                await reports.summary(points, period)
                if run >= 2:
                    spent.append((cpu_seconds(backend) - before) * 1000)
            return spent
    finally:
        await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--conversations", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--runs", type=int, default=20, help="timed requests of each report")
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL"))
    args = parser.parse_args()
    print(f"reports benchmark: {args.conversations:,} conversations over {args.days} days in one point")
    with workspace(args.database_url) as space:
        loading = time.monotonic()
        point = asyncio.run(_load(space.dsn, args.conversations, args.days))
        print(f"  loaded in {time.monotonic() - loading:.0f} s; {os.cpu_count()} CPUs")
        with serving(space) as (base, server):
            wait_until_ready(base, server)
            timings = asyncio.run(_measure(base, point, args.days, args.runs))
        cpu = asyncio.run(_database_cpu(space.database_url, point, args.days, args.runs))
    for name, values in timings.items():
        p50, p90, p99 = statistics.median(values), percentile(values, 0.9), percentile(values, 0.99)
        print(
            f"  {name:14s} p50 {p50:7.1f} ms   p90 {p90:7.1f} ms   p99 {p99:7.1f} ms   ({len(values)} runs, over HTTP)"
        )
    if cpu:
        print(
            f"  database CPU per {args.days}-day summary: p50 {statistics.median(cpu):.0f} ms, "
            f"p99 {percentile(cpu, 0.99):.0f} ms (load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)"
        )


if __name__ == "__main__":
    main()

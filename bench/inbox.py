"""Inbox latency at scale: one point with 100,000 conversations and 1,000,000 messages.

    .venv/bin/python bench/inbox.py [--conversations 100000] [--messages 1000000] [--requests 500]
                                    [--database-url postgresql+asyncpg://.../scratch]

Loads the data with COPY, starts `ventanilla serve`, and prints p50/p99 over HTTP of: the first page of
conversations, a deep page (following cursors), a filtered page (status=HUMAN), and the newest messages of a
random conversation. Target on a 2-core machine: p99 under 25 ms. Without --database-url a fresh embedded
PostgreSQL in a temporary directory is used; with it, give an empty scratch database.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
from harness import ADMIN, percentile, serving, workspace
from tests.helpers import wait_until_ready


async def _load(dsn: str, conversations: int, messages: int) -> tuple[str, list[uuid.UUID]]:
    connection = await asyncpg.connect(dsn)
    try:
        point = uuid.uuid4()
        now = datetime.now(UTC)
        await connection.execute(
            "INSERT INTO service_point (id, name, whatsapp_status, created_at, updated_at) "
            "VALUES ($1, 'Bench', 'DISCONNECTED', $2, $2)",
            point,
            now,
        )
        ids = [uuid.uuid4() for _ in range(conversations)]
        per = messages // conversations
        start = now - timedelta(days=60)
        conversation_rows, message_rows = [], []
        for index, conversation in enumerate(ids):
            first = start + timedelta(seconds=index * 50)
            last = first + timedelta(minutes=per)
            status = "HUMAN" if index % 10 == 0 else "BOT"
            phone = f"+59399{index:07d}"
            conversation_rows.append((conversation, point, phone, status, last, first, first))
            for n in range(per):
                at = first + timedelta(minutes=n + 1)
                inbound = n % 2 == 0
                message_rows.append(
                    (
                        uuid.uuid4(),
                        conversation,
                        point,
                        "IN" if inbound else "OUT",
                        "CUSTOMER" if inbound else "BOT",
                        f"mensaje {n} de la conversación {index}",
                        f"B{index:06d}-{n:03d}",
                        at,
                        None if inbound else "SENT",
                        at,
                        at,
                        at if inbound else None,
                        0,
                    )
                )
        await connection.copy_records_to_table(
            "conversation",
            records=conversation_rows,
            columns=[
                "id",
                "service_point_id",
                "customer_phone",
                "status",
                "last_message_at",
                "created_at",
                "updated_at",
            ],
        )
        await connection.copy_records_to_table(
            "message",
            records=message_rows,
            columns=[
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
            ],
        )
        await connection.execute("ANALYZE conversation; ANALYZE message")
        return str(point), ids
    finally:
        await connection.close()


async def _measure(base: str, point: str, ids: list[uuid.UUID], requests: int) -> dict[str, list[float]]:
    timings: dict[str, list[float]] = {"first page": [], "deep page": [], "status=HUMAN": [], "messages": []}
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        token = (await http.post("/api/auth/login", json=ADMIN)).json()["accessToken"]
        http.headers["Authorization"] = f"Bearer {token}"
        conversations = f"/api/service-points/{point}/conversations"
        cursor = None
        for _ in range(20):  # walk 20 pages down to get a deep cursor
            page = (
                await http.get(conversations, params={"limit": 50, **({"cursor": cursor} if cursor else {})})
            ).json()
            cursor = page["nextCursor"]
        for _ in range(20):  # warm up
            await http.get(conversations, params={"limit": 50})
        for _ in range(requests):
            for name, url, params in (
                ("first page", conversations, {"limit": 50}),
                ("deep page", conversations, {"limit": 50, "cursor": cursor}),
                ("status=HUMAN", conversations, {"limit": 50, "status": "HUMAN"}),
                ("messages", f"{conversations}/{random.choice(ids)}/messages", {"limit": 50}),
            ):
                started = time.perf_counter()
                response = await http.get(url, params=params)
                timings[name].append((time.perf_counter() - started) * 1000)
                assert response.status_code == 200, response.text
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--conversations", type=int, default=100_000)
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL"))
    args = parser.parse_args()
    with workspace(args.database_url) as space:
        loading = time.monotonic()
        point, ids = asyncio.run(_load(space.dsn, args.conversations, args.messages))
        loaded_in = time.monotonic() - loading
        with serving(space) as (base, server):
            wait_until_ready(base, server)
            timings = asyncio.run(_measure(base, point, ids, args.requests))
    print(
        f"inbox benchmark: {args.conversations:,} conversations, {args.messages:,} messages in one point "
        f"(loaded in {loaded_in:.0f} s), {args.requests} requests each, {os.cpu_count()} CPUs"
    )
    for name, values in timings.items():
        p99 = percentile(values, 0.99)
        print(f"  {name:14s} p50 {statistics.median(values):6.1f} ms   p99 {p99:6.1f} ms")


if __name__ == "__main__":
    main()

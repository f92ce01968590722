"""Nothing lost, nothing twice: what every fault test checks once traffic has settled.

Reads through its own short connection each time, so it works across outages, killed connections and restarts.
"""

from __future__ import annotations

from collections import Counter
from uuid import UUID

import asyncpg
from sqlalchemy.engine import make_url


def _dsn(database_url: str) -> str:
    return make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)


async def _fetch(database_url: str, query: str) -> list[asyncpg.Record]:
    connection = await asyncpg.connect(_dsn(database_url))
    try:
        return await connection.fetch(query)
    finally:
        await connection.close()


async def settled(database_url: str, stored: int = 0) -> bool:
    """At least `stored` customer messages in the database (the journal may still hold some), every one handled,
    and every reply out of the outbox. False while the database is away."""
    try:
        [row] = await _fetch(
            database_url,
            "SELECT count(*) FILTER (WHERE direction = 'IN') AS stored, "
            "count(*) FILTER (WHERE direction = 'IN' AND handled_at IS NULL) AS unhandled, "
            "count(*) FILTER (WHERE delivery_status = 'PENDING') AS pending FROM message",
        )
    except Exception:  # killed, refused, or a connection cut mid-way: asyncpg has several names for it
        return False
    return row["stored"] >= stored and row["unhandled"] == 0 and row["pending"] == 0


async def assert_exactly_once(database_url: str, delivered: set[str], phones: dict[UUID, list[dict]]) -> None:
    """Each delivered message stored once and answered by exactly one bot turn; each reply SENT and on the phone once.

    A bot turn answers every message waiting in its conversation and marks them handled at the moment its reply is
    written: the turns are the distinct handled times of a conversation, each with exactly one reply at that time.
    """
    inbound = await _fetch(
        database_url, "SELECT provider_message_id, conversation_id, handled_at FROM message WHERE direction = 'IN'"
    )
    assert sorted(row["provider_message_id"] for row in inbound) == sorted(delivered)  # each stored, and once
    turns = {(row["conversation_id"], row["handled_at"]) for row in inbound}
    assert None not in {handled for _, handled in turns}, "a stored message was never answered"
    replies = Counter(
        (row["conversation_id"], row["timestamp"])
        for row in await _fetch(
            database_url,
            "SELECT conversation_id, timestamp FROM message WHERE direction = 'OUT' AND sender_type = 'BOT'",
        )
    )
    assert set(replies) == turns and set(replies.values()) == {1}, (
        f"a turn got no reply, or more than one: {len(turns - set(replies))} turns without a reply, "
        f"{len(set(replies) - turns)} replies without a turn, {sum(n > 1 for n in replies.values())} repeated"
    )
    out = await _fetch(
        database_url,
        "SELECT service_point_id, provider_message_id, delivery_status FROM message WHERE direction = 'OUT'",
    )
    assert {row["delivery_status"] for row in out} == {"SENT"}
    for point, received in phones.items():
        in_db = {row["provider_message_id"] for row in out if row["service_point_id"] == point}
        on_phone = [message["messageId"] for message in received]
        assert len(on_phone) == len(set(on_phone)), "a reply reached the phone twice"
        assert set(on_phone) == in_db

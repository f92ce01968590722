"""Auto-resolve: HUMAN conversations idle past their point's hours become RESOLVED (and are asked for a rating)."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from tests.conftest import World
from tests.outage import Outage
from tests.whatsapp.conftest import eventually
from ventanilla.db.models import Conversation, ConversationStatus, DeliveryStatus, Message, SenderType, ServicePoint
from ventanilla.lifecycle.auto_resolve import AutoResolvePolicy, AutoResolver
from ventanilla.lifecycle.csat import QUESTION

Client = AsyncTestClient[Litestar]


async def _idle(
    session: AsyncSession,
    point: UUID,
    phone: str,
    hours: float,
    status: ConversationStatus = ConversationStatus.HUMAN,
    assignee: UUID | None = None,
) -> UUID:
    """A conversation whose last message was `hours` ago."""
    at = datetime.now(UTC) - timedelta(hours=hours)
    conversation = Conversation(
        service_point_id=point,
        customer_phone=phone,
        status=status,
        last_message_at=at,
        assigned_to_user_id=assignee,
        waiting_since=at if status is ConversationStatus.HUMAN and assignee is None else None,
    )
    session.add(conversation)
    await session.flush()
    return conversation.id


async def test_idle_conversations_are_resolved_after_their_points_hours(
    client: Client, world: World, session: AsyncSession
) -> None:
    await session.execute(
        update(ServicePoint).where(ServicePoint.id == world.point_a).values(auto_resolve_hours=2, csat_enabled=True)
    )
    agent = world.agent_a.user_id
    a_idle = [await _idle(session, world.point_a, f"+59398000000{n}", 3 + n, assignee=agent) for n in range(4)]
    a_waiting = await _idle(session, world.point_a, "+593980000010", 2.5)  # nobody took it: resolved all the same
    a_recent = await _idle(session, world.point_a, "+593980000011", 1.5, assignee=agent)
    a_bot = await _idle(session, world.point_a, "+593980000012", 30, status=ConversationStatus.BOT)
    b_short = await _idle(session, world.point_b, "+593980000013", 3)  # point B: the default 24 h
    b_long = await _idle(session, world.point_b, "+593980000014", 25)
    await session.commit()  # all at once: the worker is already running (batches of 2)
    resolved = {*a_idle, a_waiting, b_long}

    async def listed(point: UUID, status: str) -> set[str]:
        response = await client.get(
            f"/api/service-points/{point}/conversations?status={status}", headers=world.admin.headers
        )
        return {item["id"] for item in response.json()["items"]}

    async def all_resolved() -> bool:
        return (await listed(world.point_a, "RESOLVED")) | (await listed(world.point_b, "RESOLVED")) == {
            str(c) for c in resolved
        }

    await eventually(all_resolved, what="the idle conversations RESOLVED")
    await asyncio.sleep(0.2)  # a few more rounds change nothing
    assert await all_resolved()
    assert await listed(world.point_a, "HUMAN") == {str(a_recent)}
    assert await listed(world.point_a, "BOT") == {str(a_bot)}
    assert await listed(world.point_b, "HUMAN") == {str(b_short)}

    detail = (
        await client.get(f"/api/service-points/{world.point_a}/conversations/{a_idle[0]}", headers=world.admin.headers)
    ).json()
    assert detail["assignedToUserId"] == str(agent) and detail["waitingSince"] is None
    [event] = detail["events"]
    assert event["kind"] == "RESOLVED" and event["actorUserId"] is None
    assert (event["fromStatus"], event["toStatus"], event["reason"]) == ("HUMAN", "RESOLVED", "sin mensajes en 2 h")
    b_event = (
        await client.get(f"/api/service-points/{world.point_b}/conversations/{b_long}", headers=world.admin.headers)
    ).json()["events"][0]
    assert b_event["reason"] == "sin mensajes en 24 h"

    # the rating question waits in A's outbox (A is not linked); B does not ask
    questions = (
        await session.execute(
            select(Message.conversation_id, Message.sender_type, Message.delivery_status).where(
                Message.content == QUESTION
            )
        )
    ).all()
    assert sorted(questions) == sorted((c, SenderType.BOT, DeliveryStatus.PENDING) for c in [*a_idle, a_waiting])
    asked = dict(
        (
            await session.execute(
                select(Conversation.id, Conversation.csat_requested_at).where(Conversation.id.in_(resolved))
            )
        ).all()
    )
    assert {c for c, at in asked.items() if at is not None} == {*a_idle, a_waiting}


async def test_the_worker_survives_the_database_going_away(
    world: World, session: AsyncSession, engine: AsyncEngine, outage: Outage, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="ventanilla.lifecycle")
    idle = await _idle(session, world.point_a, "+593980000001", 25)
    await session.commit()
    queued: list[None] = []
    policy = AutoResolvePolicy(first_run_seconds=0.1, every_seconds=0.1)
    worker = AutoResolver(async_sessionmaker(engine), lambda: queued.append(None), policy)
    await outage.refuse()
    worker.start()
    try:
        await asyncio.sleep(0.4)  # rounds meet no database
        await outage.allow()
        await engine.dispose()  # the test's own connections were killed too

        async def resolved() -> bool:
            async with async_sessionmaker(engine)() as fresh:
                return await fresh.scalar(select(Conversation.status).where(Conversation.id == idle)) == "RESOLVED"

        await eventually(resolved, timeout=10, what="RESOLVED once the database is back")
    finally:
        await outage.allow()
        await worker.stop()
    messages = [r.getMessage() for r in caplog.records if r.name == "ventanilla.lifecycle.auto_resolve"]
    assert any("waits for the database" in m for m in messages), messages
    assert any("1 idle conversations resolved" in m for m in messages), messages
    assert queued == []  # this point does not ask for ratings: nothing for the delivery worker

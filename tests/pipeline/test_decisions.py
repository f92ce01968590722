"""Decisions written together fail alone: a conversation whose rows the database refuses takes no other with it."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from tests.conftest import World
from ventanilla.bot import BotDecision, BotRequest
from ventanilla.db.models import Conversation, Direction, Message, SenderType
from ventanilla.pipeline.decisions import Decisions


async def _asked(session: AsyncSession, point: UUID, phone: str) -> BotRequest:
    conversation = Conversation(service_point_id=point, customer_phone=phone)
    session.add(conversation)
    await session.flush()
    message = Message(
        conversation_id=conversation.id,
        service_point_id=point,
        direction=Direction.IN,
        sender_type=SenderType.CUSTOMER,
        content="hola",
        provider_message_id=f"D{phone[-4:]}",
        timestamp=datetime.now(UTC),
    )
    session.add(message)
    await session.commit()
    return BotRequest(point, conversation.id, (message.id,), "hola", ())


def _decision(reply: str) -> BotDecision:
    return BotDecision(reply=reply, handoff_reason=None, engine="offline", fallback_reason=None, tool_calls=())


async def test_a_refused_reply_fails_alone_and_the_batch_is_written(
    engine: AsyncEngine, world: World, session: AsyncSession
) -> None:
    good = [await _asked(session, point, f"+59399000{n:04d}") for n, point in enumerate([world.point_a] * 3)]
    other_branch = await _asked(session, world.point_b, "+593990009999")
    poison = await _asked(session, world.point_a, "+593990008888")
    decisions = Decisions(async_sessionmaker(engine, expire_on_commit=False))
    results = await asyncio.gather(
        *(decisions.apply(request, _decision("Hola")) for request in [*good, other_branch]),
        decisions.apply(poison, _decision("a\x00b")),  # a bug upstream: the bot promises storable text
        return_exceptions=True,
    )
    assert [type(r).__name__ for r in results[:-1]] == ["Applied"] * 4
    assert isinstance(results[-1], Exception)
    handled = dict(
        (
            await session.execute(
                select(Message.conversation_id, Message.handled_at).where(Message.direction == Direction.IN)
            )
        ).all()
    )
    assert all(handled[r.conversation_id] is not None for r in [*good, other_branch])
    assert handled[poison.conversation_id] is None  # left for recovery, whose turns are counted
    replies = (await session.scalars(select(Message.content).where(Message.sender_type == SenderType.BOT))).all()
    assert replies == ["Hola"] * 4

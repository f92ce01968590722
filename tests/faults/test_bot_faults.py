"""The bot's faults stay with their conversation: a poison reply, failing turns, a slow model, a flooding customer,
a spent daily budget. Each checks nothing is lost, nothing is sent twice, and the other branch is served at once."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from tests.conftest import World
from tests.fakes.openai_server import FakeOpenAI, ReceivedRequest, Step, completion
from tests.faults.conftest import FAULT_DELIVERY, FAULT_PIPELINE
from tests.flow import link, phone, received, say, wait_phone, with_model
from tests.whatsapp.conftest import FAST, eventually
from ventanilla.app import create_app
from ventanilla.bot.replies import HANDOFF, HOLD_ON
from ventanilla.config import Settings
from ventanilla.db.models import BotUsage, Conversation, ConversationStatus, Direction, Message, SenderType
from ventanilla.pipeline.flow import REASON_EXHAUSTED, REASON_FLOOD

Client = AsyncTestClient[Litestar]
OTHER = "+593997770000"


@pytest.fixture
def app(settings: Settings, model: FakeOpenAI) -> Litestar:
    return create_app(
        with_model(settings, model), session_policy=FAST, pipeline_policy=FAULT_PIPELINE, delivery_policy=FAULT_DELIVERY
    )


def _by_text(answers: dict[str, Step]) -> object:
    def rule(request: ReceivedRequest) -> Step | None:
        return next((step for key, step in answers.items() if key in request.asked), None)

    return rule


async def _unhandled(session: AsyncSession) -> int:
    """Customer messages no bot turn (nor a person's taking over) has handled yet."""
    return await session.scalar(
        select(func.count()).where(Message.direction == Direction.IN, Message.handled_at.is_(None))
    )


def _left_unanswered(conversation: Conversation, provider_id: str, attempts: int = 0) -> Message:
    """A customer message whose turns never finished (a crash, say), from a minute ago."""
    earlier = datetime.now(UTC) - timedelta(minutes=1)
    return Message(
        conversation_id=conversation.id,
        service_point_id=conversation.service_point_id,
        direction=Direction.IN,
        sender_type=SenderType.CUSTOMER,
        content="un turno que nunca terminó",
        provider_message_id=provider_id,
        timestamp=earlier,
        created_at=earlier,
        attempts=attempts,
    )


async def test_a_reply_the_database_would_refuse_is_cleaned_once_and_delays_nobody(
    client: Client, linked: World, model: FakeOpenAI, session: AsyncSession
) -> None:
    model.answer_by(_by_text({"veneno": completion("Hola\x00 mundo\ud800"), "normal": completion("Hola B")}))
    await say(client, linked, linked.point_a, "veneno")
    await say(client, linked, linked.point_b, "normal", sender=OTHER)
    assert await wait_phone(client, linked, linked.point_a, 1) == ["Hola mundo\ufffd"]
    assert await wait_phone(client, linked, linked.point_b, 1) == ["Hola B"]
    await asyncio.sleep(3 * FAULT_PIPELINE.sweep_seconds)  # sweeps come and go: nothing asks the model again
    assert len(model.requests) == 2
    assert await _unhandled(session) == 0


async def test_a_message_whose_turns_keep_failing_goes_to_a_person_without_the_model(
    settings: Settings, world: World, model: FakeOpenAI, session: AsyncSession
) -> None:
    """Three turns started and never finished (crashes, say): the next start answers without the model."""
    conversation = Conversation(service_point_id=world.point_a, customer_phone="+593991231234")
    session.add(conversation)
    await session.flush()
    session.add(_left_unanswered(conversation, "POISON1", attempts=FAULT_PIPELINE.max_attempts))
    await session.commit()
    app = create_app(with_model(settings, model), session_policy=FAST, pipeline_policy=FAULT_PIPELINE)
    async with AsyncTestClient(app) as client:
        await link(client, world, world.point_a)
        assert await wait_phone(client, world, world.point_a, 1) == [HANDOFF]
    await session.refresh(conversation)
    assert conversation.status == ConversationStatus.HUMAN and conversation.handoff_reason == REASON_EXHAUSTED
    assert model.requests == []


async def test_only_turns_that_come_back_through_recovery_are_counted(
    client: Client, linked: World, model: FakeOpenAI, session: AsyncSession
) -> None:
    """A first turn costs no write; a message found unanswered (its turn never finished) has its next turn counted."""
    model.answer_by(lambda request: completion("Hola"))
    await say(client, linked, linked.point_a, "hola")
    await wait_phone(client, linked, linked.point_a, 1)
    assert await session.scalar(select(Message.attempts).where(Message.direction == Direction.IN)) == 0
    conversation = await session.scalar(select(Conversation))
    assert conversation is not None
    session.add(_left_unanswered(conversation, "LEFT1"))
    await session.commit()
    await wait_phone(client, linked, linked.point_a, 2)  # the sweep finds it
    session.expire_all()
    assert await session.scalar(select(Message.attempts).where(Message.provider_message_id == "LEFT1")) == 1


async def test_a_slow_model_branch_leaves_slots_for_another_branch(
    client: Client, linked: World, model: FakeOpenAI
) -> None:
    """Point A's 18 conversations each keep the model busy for 2 s; 8 slots in all. Point B's customer is answered
    at once (the reserve), not after A's backlog (18 / 6 slots x 2 s = 6 s)."""
    model.answer_by(_by_text({"lento": completion("respuesta lenta", delay=2.0), "rápido": completion("Hola B")}))
    batch = [{"from": f"+5939955{i:05d}", "text": "lento"} for i in range(18)]
    response = await client.post(
        f"/api/service-points/{linked.point_a}/simulator/inbound/batch", json=batch, headers=linked.admin.headers
    )
    assert response.status_code == 202

    async def a_is_thinking() -> bool:
        return len(model.requests) >= FAULT_PIPELINE.concurrency - FAULT_PIPELINE.reserve

    await eventually(a_is_thinking, what="point A filling its slots")
    started = asyncio.get_running_loop().time()
    await say(client, linked, linked.point_b, "rápido", sender=OTHER)
    assert await wait_phone(client, linked, linked.point_b, 1) == ["Hola B"]
    assert asyncio.get_running_loop().time() - started < 2  # not after A's 6 s
    assert len(await received(client, linked, linked.point_a)) < 18  # A's backlog was still there

    async def a_answered() -> bool:
        return len(await received(client, linked, linked.point_a)) >= 18

    await eventually(a_answered, timeout=15, what="point A's backlog answered")  # A is answered too, once each
    assert len(await phone(client, linked, linked.point_a)) == 18


async def test_a_burst_of_messages_is_answered_in_one_turn(
    client: Client, linked: World, model: FakeOpenAI, session: AsyncSession
) -> None:
    model.answer_by(lambda request: completion("Recibido", delay=2.0))  # long enough for the three lines to arrive
    await say(client, linked, linked.point_a, "hola")

    async def thinking() -> bool:
        return len(model.requests) == 1

    await eventually(thinking, what="the first turn")
    for line in ("mi guía es", "ABC123456", "¿dónde está?"):
        await say(client, linked, linked.point_a, line)
    assert await wait_phone(client, linked, linked.point_a, 2) == ["Recibido", "Recibido"]
    await asyncio.sleep(3 * FAULT_PIPELINE.sweep_seconds)
    assert len(model.requests) == 2 and len(await phone(client, linked, linked.point_a)) == 2
    assert model.requests[1].asked == "mi guía es\nABC123456\n¿dónde está?"  # the three lines, in one turn
    stored = await session.scalar(select(func.count()).where(Message.direction == Direction.IN).select_from(Message))
    assert stored == 4


async def test_sixty_messages_in_one_burst_cost_one_model_call(
    client: Client, linked: World, model: FakeOpenAI, session: AsyncSession
) -> None:
    model.answer_by(lambda request: completion("Recibido"))
    burst = [{"from": "+593991110000", "text": f"línea {i}"} for i in range(60)]
    response = await client.post(
        f"/api/service-points/{linked.point_a}/simulator/inbound/batch", json=burst, headers=linked.admin.headers
    )
    assert response.status_code == 202
    assert await wait_phone(client, linked, linked.point_a, 1) == ["Recibido"]
    await asyncio.sleep(3 * FAULT_PIPELINE.sweep_seconds)
    assert len(model.requests) == 1 and model.requests[0].asked.count("\n") == 59  # all sixty, in order, one turn
    assert await phone(client, linked, linked.point_a) == ["Recibido"]
    assert await _unhandled(session) == 0


async def test_a_flooding_customer_gets_one_hold_then_a_person_and_others_are_served(
    client: Client, linked: World, model: FakeOpenAI, session: AsyncSession
) -> None:
    model.answer_by(lambda request: completion("Respuesta"))
    expected = ["Respuesta"] * FAULT_PIPELINE.customer_turns + [HOLD_ON, HANDOFF]
    for count, text in enumerate([f"mensaje {i}" for i in range(len(expected))], start=1):
        await say(client, linked, linked.point_a, text)
        await wait_phone(client, linked, linked.point_a, count)
    for text in ("¿hola?", "¿hay alguien?"):  # a person has it now: stored and shown, the bot stays silent
        await say(client, linked, linked.point_a, text)
    await say(client, linked, linked.point_b, "hola", sender=OTHER)
    assert await wait_phone(client, linked, linked.point_b, 1) == ["Respuesta"]
    assert await phone(client, linked, linked.point_a) == expected
    assert len(model.requests) == FAULT_PIPELINE.customer_turns + 1  # A's limited turns, and B's
    conversation = await session.scalar(select(Conversation).where(Conversation.service_point_id == linked.point_a))
    assert conversation is not None and conversation.status == ConversationStatus.HUMAN
    assert conversation.handoff_reason == REASON_FLOOD
    stored = await session.scalar(
        select(func.count()).where(Message.conversation_id == conversation.id, Message.direction == Direction.IN)
    )
    assert stored == len(expected) + 2
    metrics = (await client.get("/metrics", headers=linked.admin.headers)).text
    assert f'ventanilla_bot_limited_total{{limit="hold",service_point="{linked.point_a}"}} 1.0' in metrics


async def test_beyond_the_daily_cap_the_offline_engine_answers(
    settings: Settings, world: World, model: FakeOpenAI, session: AsyncSession
) -> None:
    model.answer_by(lambda request: completion("Del modelo"))
    app = create_app(
        with_model(settings, model, BOT_DAILY_MODEL_CALLS="2"),
        session_policy=FAST,
        pipeline_policy=FAULT_PIPELINE,
        delivery_policy=FAULT_DELIVERY,
    )
    async with AsyncTestClient(app) as client:
        await link(client, world, world.point_a)
        for count, sender in enumerate(["+593990000011", "+593990000012", "+593990000013"], start=1):
            await say(client, world, world.point_a, "ABC999999", sender=sender)
            replies = await wait_phone(client, world, world.point_a, count)
        metrics = (await client.get("/metrics", headers=world.admin.headers)).text
    assert replies[:2] == ["Del modelo", "Del modelo"] and "ABC999999" in replies[2]  # offline: from the database
    assert len(model.requests) == 2
    assert await session.scalar(select(BotUsage.model_calls).where(BotUsage.service_point_id == world.point_a)) == 2
    assert 'ventanilla_bot_fallbacks_total{reason="daily_cap"}' in metrics

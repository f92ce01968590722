"""The delivery worker against a scripted sender (the network edge): order, retries, failures, waiting points."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from datetime import UTC, datetime
from uuid import UUID

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from tests.whatsapp.conftest import eventually
from ventanilla.db.models import Conversation, ConversationStatus, DeliveryStatus, Message, SenderType, ServicePoint
from ventanilla.delivery.worker import DeliveryPolicy, DeliveryWorker
from ventanilla.inbox.writer import ConversationWriter
from ventanilla.metrics import Metrics
from ventanilla.whatsapp.transport import TransportError

FAST = DeliveryPolicy(max_attempts=3, retry_base_seconds=0.02, retry_max_seconds=0.05, poll_seconds=0.02)


class ScriptedSender:
    """Plays the sockets: which points are up, and what each send does (per text: a list of outcomes)."""

    def __init__(self) -> None:
        self.up: set[UUID] = set()
        self.script: dict[str, list[Exception | None]] = defaultdict(list)
        self.delivered: list[tuple[UUID, str, str, str]] = []
        self.attempts: dict[str, int] = defaultdict(int)

    def is_connected(self, point_id: UUID) -> bool:
        return point_id in self.up

    async def send_text(self, point_id: UUID, to_phone: str, text: str, message_id: str) -> str:
        self.attempts[text] += 1
        await asyncio.sleep(0)
        outcome = self.script[text].pop(0) if self.script[text] else None
        if outcome is not None:
            raise outcome
        self.delivered.append((point_id, to_phone, text, message_id))
        return message_id


@pytest.fixture
async def world(engine: AsyncEngine):
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    async with sessions() as session, session.begin():
        point = ServicePoint(name="Envíos")
        session.add(point)
    sender = ScriptedSender()
    published: list[dict] = []
    worker = DeliveryWorker(sessions, sender, lambda p, e: published.append(e), Metrics(), FAST)
    worker.start()
    yield sessions, point.id, sender, worker, published
    await worker.stop()


async def _queue(sessions: async_sessionmaker[AsyncSession], point: UUID, phone: str, *texts: str) -> list[UUID]:
    async with sessions() as session, session.begin():
        conversation = await session.scalar(
            select(Conversation).where(Conversation.service_point_id == point, Conversation.customer_phone == phone)
        )
        if conversation is None:
            conversation = Conversation(
                service_point_id=point,
                customer_phone=phone,
                status=ConversationStatus.HUMAN,
                last_message_at=datetime.now(UTC),
            )
            session.add(conversation)
            await session.flush()
        writer = ConversationWriter(session)
        messages = [writer.queue_outgoing(conversation, text, SenderType.AGENT) for text in texts]
        await session.flush()
        return [m.id for m in messages]


async def _status(sessions: async_sessionmaker[AsyncSession], ids: list[UUID]) -> list[tuple[str, int, str | None]]:
    async with sessions() as session:
        rows = {m.id: m for m in (await session.scalars(select(Message).where(Message.id.in_(ids)))).all()}
    return [(rows[i].delivery_status.value, rows[i].attempts, rows[i].delivery_error) for i in ids]


async def test_waits_for_the_point_then_sends_in_order(world) -> None:
    sessions, point, sender, worker, _ = world
    ids = await _queue(sessions, point, "+593991111111", "uno", "dos", "tres")
    worker.notify()
    await asyncio.sleep(0.2)
    assert sender.delivered == [] and sender.attempts == {}  # unlinked: waiting is not an attempt
    assert [s for s, _, _ in await _status(sessions, ids)] == ["PENDING"] * 3
    sender.up.add(point)
    await eventually(lambda: _done(sender, 3), what="three sent")
    assert [text for _, _, text, _ in sender.delivered] == ["uno", "dos", "tres"]
    assert await _status(sessions, ids) == [("SENT", 1, None)] * 3


async def _done(sender: ScriptedSender, count: int) -> bool:
    return len(sender.delivered) >= count


async def test_transient_failures_are_retried_and_keep_the_order(world) -> None:
    sessions, point, sender, worker, _ = world
    sender.up.add(point)
    sender.script["primero"] = [TransportError("timeout"), TransportError("timeout")]
    ids = await _queue(sessions, point, "+593991111111", "primero", "segundo")
    worker.notify()
    await eventually(lambda: _done(sender, 2), what="both sent")
    assert [text for _, _, text, _ in sender.delivered] == ["primero", "segundo"]  # never overtaken
    assert await _status(sessions, ids) == [("SENT", 3, None), ("SENT", 1, None)]


async def test_gives_up_after_the_last_attempt_and_retry_sends_it(world) -> None:
    sessions, point, sender, worker, published = world
    sender.up.add(point)
    sender.script["nunca"] = [TransportError("websocket not connected")] * 3
    sender.script["número inválido"] = [TransportError("not on WhatsApp", permanent=True)]
    [never] = await _queue(sessions, point, "+593991111111", "nunca")
    [invalid] = await _queue(sessions, point, "+593992222222", "número inválido")
    worker.notify()

    async def both_failed() -> bool:
        return [s for s, _, _ in await _status(sessions, [never, invalid])] == ["FAILED", "FAILED"]

    await eventually(both_failed, what="FAILED")
    assert await _status(sessions, [never, invalid]) == [
        ("FAILED", 3, "websocket not connected"),
        ("FAILED", 1, "not on WhatsApp"),  # permanent: no second attempt
    ]
    assert {e["deliveryStatus"] for e in published} == {"FAILED"}
    async with sessions() as session, session.begin():  # what POST .../retry does
        message = await session.get(Message, never)
        assert message is not None
        message.delivery_status, message.attempts = DeliveryStatus.PENDING, 0
        message.next_attempt_at = datetime.now(UTC)
    worker.notify()
    await eventually(lambda: _done(sender, 1), what="sent after retry")
    assert await _status(sessions, [never]) == [("SENT", 1, None)]


async def test_one_conversation_waiting_does_not_hold_others(world) -> None:
    sessions, point, sender, worker, _ = world
    sender.up.add(point)
    sender.script["lento"] = [TransportError("timeout")] * 2
    await _queue(sessions, point, "+593991111111", "lento", "después del lento")
    await _queue(sessions, point, "+593992222222", "otro cliente")
    worker.notify()
    await eventually(lambda: _done(sender, 3), what="all sent")
    order = [text for _, _, text, _ in sender.delivered]
    assert order.index("otro cliente") < order.index("lento") < order.index("después del lento")


async def test_stop_lets_the_round_in_flight_finish(world) -> None:
    sessions, point, sender, worker, _ = world
    sender.up.add(point)
    ids = await _queue(sessions, point, "+593991111111", *[f"m{i}" for i in range(1)])
    original = sender.send_text

    async def slow(*args: object) -> str:
        await asyncio.sleep(0.3)
        return await original(*args)  # type: ignore[arg-type]

    sender.send_text = slow  # type: ignore[method-assign]
    worker.notify()
    await asyncio.sleep(0.1)
    await worker.stop()  # while the send is in flight
    assert await _status(sessions, ids) == [("SENT", 1, None)]  # sent and recorded, not lost in between

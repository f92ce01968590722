"""The delivery worker against real PostgreSQL and a scripted sender at the network edge."""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter, defaultdict
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from ventanilla.db.models import Conversation, ConversationStatus, DeliveryStatus, Message, SenderType, ServicePoint
from ventanilla.delivery.worker import DeliveryPolicy, DeliveryWorker
from ventanilla.inbox.writer import ConversationWriter, outgoing_values
from ventanilla.live.events import PUBLISHER_KEY, LiveEvent, MessageStatusChanged
from ventanilla.metrics import Metrics

FAST = DeliveryPolicy(
    max_attempts=3, retry_base_seconds=0.02, retry_max_seconds=0.05, poll_seconds=0.02, drain_seconds=1.0
)
HANG = object()  # in a script: this attempt never returns; a float: it takes that many seconds, then succeeds


class ScriptedSender:
    """Plays the sockets: which points are up, and what each send does (per text: a list of outcomes)."""

    def __init__(self) -> None:
        self.up: set[UUID] = set()
        self.script: dict[str, list[object]] = defaultdict(list)
        self.delivered: list[tuple[UUID, str, str, str]] = []  # point, to, text, provider id
        self.attempts: Counter[str] = Counter()
        self.attempts_by_point: Counter[UUID] = Counter()
        self.hanging: set[str] = set()
        self.in_flight: Counter[tuple[UUID, str]] = Counter()
        self.overlaps = 0  # sends that started while another of the same conversation was in flight

    def connected_points(self) -> set[UUID]:
        return set(self.up)

    async def send_text(self, point_id: UUID, to_phone: str, text: str, message_id: str) -> str:
        self.attempts[text] += 1
        self.attempts_by_point[point_id] += 1
        conversation = (point_id, to_phone)
        self.overlaps += self.in_flight[conversation] > 0
        self.in_flight[conversation] += 1
        try:
            await asyncio.sleep(0.001)
            outcome = self.script[text].pop(0) if self.script[text] else None
            if outcome is HANG:
                self.hanging.add(text)
                try:
                    await asyncio.Event().wait()
                finally:
                    self.hanging.discard(text)
            if isinstance(outcome, float):
                await asyncio.sleep(outcome)
            if isinstance(outcome, Exception):
                raise outcome
            self.delivered.append((point_id, to_phone, text, message_id))
            return message_id
        finally:
            self.in_flight[conversation] -= 1

    def texts(self, point: UUID | None = None) -> list[str]:
        return [text for p, _, text, _ in self.delivered if point is None or p == point]


class RecordingMetrics(Metrics):
    def __init__(self) -> None:
        self.outcomes: list[tuple[UUID, str]] = []

    def delivery(self, point_id: UUID, outcome: str) -> None:
        self.outcomes.append((point_id, outcome))


class Outbox:
    """Points, conversations and queued replies in the test database, and the workers that deliver them."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions
        self.sender = ScriptedSender()
        self.published: list[MessageStatusChanged] = []
        self.metrics = RecordingMetrics()
        self.workers: list[DeliveryWorker] = []
        self._phones = itertools.count(1)

    def publish(self, event: LiveEvent) -> None:
        """Where the workers' sessions publish what they committed (see `outbox` below)."""
        assert isinstance(event, MessageStatusChanged)
        self.published.append(event)

    def start(self, policy: DeliveryPolicy = FAST, **changes: object) -> DeliveryWorker:
        worker = DeliveryWorker(self.sessions, self.sender, self.metrics, replace(policy, **changes))
        worker.start()
        self.workers.append(worker)
        return worker

    async def point(self, name: str) -> UUID:
        async with self.sessions() as session, session.begin():
            point = ServicePoint(name=name)
            session.add(point)
        return point.id

    async def queue(self, point: UUID, phone: str, *texts: str) -> list[UUID]:
        """Replies queued as the app queues them (the inbox writer), due now."""
        async with self.sessions() as session, session.begin():
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
            messages = [writer.queue_outgoing(conversation, text, SenderType.AGENT)[0] for text in texts]
            await session.flush()
            return [m.id for m in messages]

    async def flood(
        self,
        point: UUID,
        conversations: int,
        per_conversation: int,
        *,
        prefix: str,
        ago: timedelta = timedelta(minutes=5),
        low_ids_from: int | None = None,
    ) -> list[list[UUID]]:
        """Many replies at once, oldest first, due since `ago`: `{prefix}{conversation}-{n}`.

        `low_ids_from` gives the conversations ids that sort before any random one: the case of the review, where a
        backlog's conversations came first in a query ordered by conversation id.
        """
        start = datetime.now(UTC) - ago
        conversation_rows, message_rows, ids = [], [], []
        for c in range(conversations):
            cid = UUID(int=low_ids_from + c) if low_ids_from is not None else uuid4()
            conversation_rows.append(
                {
                    "id": cid,
                    "service_point_id": point,
                    "customer_phone": f"+59398{next(self._phones):07d}",
                    "status": ConversationStatus.HUMAN,
                    "last_message_at": start,
                    "created_at": start,
                    "updated_at": start,
                }
            )
            ids.append([])
            for n in range(per_conversation):
                at = start + timedelta(microseconds=n * conversations + c)  # round by round, like a burst
                values = outgoing_values(cid, point, f"{prefix}{c}-{n}", SenderType.BOT, at)
                message_rows.append(values)
                ids[-1].append(values["id"])
        async with self.sessions() as session, session.begin():
            await session.execute(insert(Conversation), conversation_rows)
            for chunk in range(0, len(message_rows), 1000):
                await session.execute(insert(Message), message_rows[chunk : chunk + 1000])
        return ids

    async def phone_of(self, message_id: UUID) -> str:
        async with self.sessions() as session:
            phone = await session.scalar(
                select(Conversation.customer_phone).join(Message).where(Message.id == message_id)
            )
        assert phone is not None
        return phone

    async def status(self, ids: list[UUID]) -> list[tuple[str, int, str | None]]:
        async with self.sessions() as session:
            rows = {m.id: m for m in (await session.scalars(select(Message).where(Message.id.in_(ids)))).all()}
        return [(rows[i].delivery_status.value, rows[i].attempts, rows[i].delivery_error) for i in ids]

    async def count(self, point: UUID, status: DeliveryStatus, attempted: bool | None = None) -> int:
        query = select(func.count()).where(Message.service_point_id == point, Message.delivery_status == status)
        if attempted is not None:
            query = query.where(Message.attempts > 0 if attempted else Message.attempts == 0)
        async with self.sessions() as session:
            return await session.scalar(query) or 0

    async def sent(self, ids: list[UUID]) -> bool:
        return all(status == "SENT" for status, _, _ in await self.status(ids))


@pytest.fixture
async def outbox(engine: AsyncEngine) -> AsyncIterator[Outbox]:
    info: dict[str, object] = {}
    harness = Outbox(async_sessionmaker(engine, expire_on_commit=False, info=info))
    info[PUBLISHER_KEY] = harness  # committed status changes are published to the harness, as to the app's channels
    yield harness
    for worker in harness.workers:
        await worker.stop()

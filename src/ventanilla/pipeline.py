"""One inbound customer message, from the socket to the reply in the outbox.

1. Store first, idempotent on the provider id. WhatsApp acknowledges a message before Python sees it, so the first
   thing done with it is a commit; a redelivery (even two copies at the same instant) finds the row and stops.
2. A HUMAN conversation gets no bot reply (agents hear about the message live); the message is handled.
3. A BOT conversation goes to the bot, in its conversation's lane: one message at a time, in arrival order, while
   other conversations and points run concurrently. No database connection is held while the model thinks.
4. The decision lands in one transaction: the reply (PENDING in the outbox), the handoff, the tool-call audit, and
   the message marked handled. The delivery worker sends the reply through the same point's socket.

An inbound message that is stored but not yet handled (crash, database hiccup) is picked up again: at start-up and
by a periodic sweep, so every stored message of a BOT conversation is answered.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID

from sqlalchemy import bindparam, func, select, true, tuple_, update
from sqlalchemy.dialects.postgresql import insert

from ventanilla.batching import MicroBatcher
from ventanilla.bot import Bot, BotDecision, BotRequest, Turn
from ventanilla.db.models import (
    Conversation,
    ConversationEvent,
    ConversationStatus,
    Direction,
    Message,
    SenderType,
    ToolCall,
)
from ventanilla.db.session import SessionFactory
from ventanilla.inbox.writer import handoff_event_values, outgoing_values
from ventanilla.live.publisher import Publish
from ventanilla.metrics import Metrics
from ventanilla.privacy import mask_phone
from ventanilla.whatsapp.transport import InboundText

logger = logging.getLogger(__name__)
HISTORY_TURNS = 12


@dataclass(frozen=True, slots=True)
class StoredInbound:
    message_id: UUID
    conversation_id: UUID
    conversation_status: ConversationStatus


@dataclass(frozen=True)
class PipelinePolicy:
    concurrency: int = 256  # conversations with the bot at once (bounded by the model, not by the pool)
    sweep_seconds: float = 30.0  # how often stored-but-unhandled messages are looked for
    stale_seconds: float = 30.0  # how old such a message must be before the sweep takes it again
    drain_seconds: float = 10.0  # graceful shutdown: how long bot work in flight may finish


class InboundPipeline:
    def __init__(
        self,
        sessions: SessionFactory,
        publish: Publish,
        bot: Bot,
        queued: Callable[[], None],
        metrics: Metrics,
        policy: PipelinePolicy | None = None,
    ) -> None:
        self.sessions = sessions
        self.publish = publish
        self.bot = bot
        self.queued = queued  # tells the delivery worker a reply is waiting
        self.policy = policy or PipelinePolicy()
        self.metrics = metrics
        self._slots = asyncio.Semaphore(self.policy.concurrency)
        self._intake: MicroBatcher[tuple[UUID, InboundText], StoredInbound | None] = MicroBatcher(self._store_arrivals)
        self._requests: MicroBatcher[UUID, BotRequest | None] = MicroBatcher(self._load_requests)
        self._decisions: MicroBatcher[tuple[BotRequest, BotDecision], UUID | None] = MicroBatcher(self._apply_decisions)
        self._lanes = _Lanes(self._answer)
        self._sweeper: asyncio.Task[None] | None = None

    # --- lifecycle -----------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Resume what a previous run stored but did not handle, then keep sweeping for stragglers."""
        await self._resume(older_than=None)
        self._sweeper = asyncio.create_task(self._sweep(), name="pipeline-sweeper")

    async def stop(self) -> None:
        """Stop answering (messages are still stored); let bot work in flight finish within the bound."""
        if self._sweeper is not None:
            self._sweeper.cancel()
        await self._lanes.drain(self.policy.drain_seconds)

    # --- the path of a message -----------------------------------------------------------------------------

    async def receive(self, service_point_id: UUID, inbound: InboundText) -> StoredInbound | None:
        """Store the message; hand it to the bot when its conversation is the bot's. None for a redelivery."""
        stored = await self._intake.submit((service_point_id, inbound))
        self.metrics.inbound(service_point_id, redelivery=stored is None)
        if stored is None:
            logger.info("point %s: redelivery of %s ignored", service_point_id, inbound.provider_message_id)
            return None
        logger.debug("point %s: stored message from %s", service_point_id, mask_phone(inbound.customer_phone))
        self._published_message(service_point_id, stored.conversation_id, stored.message_id, SenderType.CUSTOMER)
        if stored.conversation_status is ConversationStatus.BOT:  # (lanes refuse it once stopping)
            self._lanes.submit(stored.conversation_id, stored.message_id)
        return stored

    async def _answer(self, conversation_id: UUID, message_id: UUID) -> None:
        async with self._slots:
            request = await self._requests.submit(message_id)
            if request is None:
                return
            started = time.perf_counter()
            decision = await self.bot.decide(request)
            thinking = time.perf_counter() - started
            reply_id = await self._decisions.submit((request, decision))
        if reply_id is None:
            return
        self.metrics.decision(request.service_point_id, decision, thinking)
        self.queued()
        self._published_message(request.service_point_id, conversation_id, reply_id, SenderType.BOT)
        if decision.handoff_reason:
            self.publish(
                request.service_point_id,
                {
                    "type": "handoff.requested",
                    "conversationId": str(conversation_id),
                    "reason": decision.handoff_reason,
                },
            )

    # --- the three writes, each grouped across concurrent messages ----------------------------------------

    async def _store_arrivals(self, arrivals: list[tuple[UUID, InboundText]]) -> list[StoredInbound | None]:
        """One transaction for every message that arrived meanwhile: upsert their conversations, insert them."""
        now = datetime.now(UTC)
        latest: dict[tuple[UUID, str], datetime] = {}
        for point_id, inbound in arrivals:
            key = (point_id, inbound.customer_phone)
            latest[key] = max(latest.get(key, min(inbound.timestamp, now)), min(inbound.timestamp, now))
        conversations = Conversation.__table__
        messages = Message.__table__
        async with self.sessions() as session, session.begin():
            connection = await session.connection()
            upsert = insert(conversations)
            upsert = upsert.on_conflict_do_update(
                constraint="uq_conversation_point_customer",
                set_={
                    "last_message_at": func.greatest(conversations.c.last_message_at, upsert.excluded.last_message_at)
                },
            ).returning(
                conversations.c.id,
                conversations.c.service_point_id,
                conversations.c.customer_phone,
                conversations.c.status,
            )
            owners = {
                (row.service_point_id, row.customer_phone): row
                for row in await connection.execute(
                    upsert,
                    [
                        {
                            "id": uuid.uuid4(),
                            "service_point_id": point_id,
                            "customer_phone": phone,
                            "status": ConversationStatus.BOT,
                            "last_message_at": at,
                            "created_at": now,
                            "updated_at": now,
                        }
                        for (point_id, phone), at in sorted(latest.items())  # one lock order: no deadlocks
                    ],
                )
            }
            rows = []
            for point_id, inbound in arrivals:
                owner = owners[(point_id, inbound.customer_phone)]
                rows.append(
                    {
                        "id": uuid.uuid4(),
                        "conversation_id": owner.id,
                        "service_point_id": point_id,
                        "direction": Direction.IN,
                        "sender_type": SenderType.CUSTOMER,
                        "content": inbound.text,
                        "provider_message_id": inbound.provider_message_id,
                        "timestamp": min(inbound.timestamp, now),
                        "handled_at": now if owner.status == ConversationStatus.HUMAN else None,
                        "attempts": 0,
                        "created_at": now,
                        "updated_at": now,
                    }
                )
            inserted = (
                insert(messages)
                .on_conflict_do_nothing(constraint="uq_message_point_provider_id")
                .returning(messages.c.id, messages.c.service_point_id, messages.c.provider_message_id)
            )
            stored = {
                (row.service_point_id, row.provider_message_id): row.id
                for row in await connection.execute(inserted, rows)
            }
        results: list[StoredInbound | None] = []
        for (point_id, inbound), row in zip(arrivals, rows, strict=True):
            message_id = stored.pop((point_id, inbound.provider_message_id), None)  # a twin in the batch gets None
            owner = owners[(point_id, inbound.customer_phone)]
            results.append(
                None
                if message_id != row["id"]
                else StoredInbound(message_id, owner.id, ConversationStatus(owner.status))
            )
        return results

    async def _load_requests(self, message_ids: list[UUID]) -> list[BotRequest | None]:
        """What the bot needs for each message, read together; None when there is nothing to answer any more."""
        async with self.sessions() as session, session.begin():
            connection = await session.connection()
            found = {
                row.id: row
                for row in await connection.execute(
                    select(
                        Message.id,
                        Message.conversation_id,
                        Message.service_point_id,
                        Message.content,
                        Message.handled_at,
                        Conversation.status,
                    )
                    .join(Conversation, Conversation.id == Message.conversation_id)
                    .where(Message.id.in_(message_ids))
                )
            }
            human = [i for i, row in found.items() if row.handled_at is None and row.status == ConversationStatus.HUMAN]
            if human:  # the conversation went to a person meanwhile: nothing for the bot to do
                await connection.execute(
                    update(Message).where(Message.id.in_(human)).values(handled_at=datetime.now(UTC))
                )
            wanted = [i for i, row in found.items() if row.handled_at is None and row.status == ConversationStatus.BOT]
            history: dict[UUID, list[Turn]] = {i: [] for i in wanted}
            if wanted:
                asked = select(Message.id, Message.conversation_id, Message.timestamp).where(Message.id.in_(wanted))
                asked = asked.subquery()
                earlier = (
                    select(Message.sender_type, Message.content)
                    .where(
                        Message.conversation_id == asked.c.conversation_id,
                        tuple_(Message.timestamp, Message.id) < tuple_(asked.c.timestamp, asked.c.id),
                    )
                    .order_by(Message.timestamp.desc(), Message.id.desc())
                    .limit(HISTORY_TURNS)
                    .lateral()
                )
                for row in await connection.execute(select(asked.c.id, earlier).join(earlier, true())):
                    history[row.id].append(Turn(row.sender_type, row.content))
        return [
            BotRequest(
                service_point_id=found[i].service_point_id,
                conversation_id=found[i].conversation_id,
                message_id=i,
                text=found[i].content,
                history=list(reversed(history[i])),
            )
            if i in history
            else None
            for i in message_ids
        ]

    async def _apply_decisions(self, decided: list[tuple[BotRequest, BotDecision]]) -> list[UUID | None]:
        """Replies, handoffs, audit and 'handled', for many conversations in one transaction.

        A message already handled (a duplicate run) gets nothing; a conversation an agent took meanwhile gets the
        audit but no bot reply: the agent answers. Each conversation has one message in flight at most (its lane).
        """
        now = datetime.now(UTC)
        async with self.sessions() as session, session.begin():
            connection = await session.connection()
            statuses = dict(
                (
                    await connection.execute(
                        select(Conversation.id, Conversation.status)
                        .where(Conversation.id.in_({r.conversation_id for r, _ in decided}))
                        .order_by(Conversation.id)
                        .with_for_update()
                    )
                ).all()
            )
            newly_handled = set(
                (
                    await connection.execute(
                        update(Message)
                        .where(Message.id.in_([r.message_id for r, _ in decided]), Message.handled_at.is_(None))
                        .values(handled_at=now)
                        .returning(Message.id)
                    )
                ).scalars()
            )
            audit, replies, handoffs, events, results = [], [], [], [], []
            for request, decision in decided:
                if request.message_id not in newly_handled:
                    results.append(None)
                    continue
                audit.extend(
                    {
                        "id": uuid.uuid4(),
                        "conversation_id": request.conversation_id,
                        "service_point_id": request.service_point_id,
                        "message_id": request.message_id,
                        "engine": call.engine,
                        "tool": call.tool,
                        "arguments": call.arguments,
                        "outcome": call.outcome,
                        "result": call.result,
                        "latency_ms": call.latency_ms,
                        "created_at": now,
                        "updated_at": now,
                    }
                    for call in decision.tool_calls
                )
                status = statuses.get(request.conversation_id)
                if status != ConversationStatus.BOT:
                    results.append(None)
                    continue
                reply = outgoing_values(
                    request.conversation_id, request.service_point_id, decision.reply, SenderType.BOT, now
                )
                replies.append(reply)
                results.append(reply["id"])
                if decision.handoff_reason:
                    handoffs.append({"cid": request.conversation_id, "why": decision.handoff_reason})
                    events.append(
                        handoff_event_values(
                            request.conversation_id,
                            request.service_point_id,
                            ConversationStatus.BOT,
                            decision.handoff_reason,
                            now,
                        )
                    )
            if audit:
                await connection.execute(insert(ToolCall.__table__), audit)
            if replies:
                await connection.execute(insert(Message.__table__), replies)
                await connection.execute(
                    update(Conversation)
                    .where(Conversation.id.in_([r["conversation_id"] for r in replies]))
                    .values(last_message_at=func.greatest(Conversation.last_message_at, now), updated_at=now)
                )
            if handoffs:
                await connection.execute(
                    update(Conversation.__table__)
                    .where(Conversation.__table__.c.id == bindparam("cid"))
                    .values(status=ConversationStatus.HUMAN, handoff_reason=bindparam("why"), waiting_since=now),
                    handoffs,
                )
                await connection.execute(insert(ConversationEvent.__table__), events)
        return results

    # --- recovery ------------------------------------------------------------------------------------------

    async def _resume(self, older_than: timedelta | None) -> int:
        """Queue every stored, unhandled inbound message (oldest first) that is not already queued."""
        statement = (
            select(Message.conversation_id, Message.id)
            .where(Message.direction == Direction.IN, Message.handled_at.is_(None))
            .order_by(Message.timestamp, Message.id)
        )
        if older_than is not None:
            statement = statement.where(Message.created_at < datetime.now(UTC) - older_than)
        async with self.sessions() as session:
            rows = (await session.execute(statement)).all()
        resumed = sum(self._lanes.submit(conversation_id, message_id) for conversation_id, message_id in rows)
        if resumed:
            logger.info("resumed %d stored messages that were not answered yet", resumed)
        return resumed

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(self.policy.sweep_seconds)
            try:
                await self._resume(older_than=timedelta(seconds=self.policy.stale_seconds))
            except Exception:
                logger.exception("sweep for unanswered messages failed")

    def _published_message(self, point_id: UUID, conversation_id: UUID, message_id: UUID, sender: SenderType) -> None:
        self.publish(
            point_id,
            {
                "type": "message.new",
                "conversationId": str(conversation_id),
                "messageId": str(message_id),
                "direction": (Direction.IN if sender is SenderType.CUSTOMER else Direction.OUT).value,
                "senderType": sender.value,
            },
        )


class _Lanes:
    """One FIFO lane per conversation: its messages run one at a time, in order; lanes run concurrently."""

    def __init__(self, work: Callable[[UUID, UUID], Awaitable[None]]) -> None:
        self.work = work
        self._queues: dict[UUID, deque[UUID]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False

    def submit(self, conversation_id: UUID, message_id: UUID) -> bool:
        """Queue the message; False when it is already waiting in its lane (or the lanes are closed)."""
        if self._closed:
            return False
        queue = self._queues.get(conversation_id)
        if queue is not None:
            if message_id in queue:
                return False
            queue.append(message_id)
            return True
        self._queues[conversation_id] = deque([message_id])
        task = asyncio.create_task(self._drain(conversation_id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return True

    async def _drain(self, conversation_id: UUID) -> None:
        queue = self._queues[conversation_id]
        try:
            while queue and not self._closed:
                try:
                    await self.work(conversation_id, queue[0])
                except Exception:  # the message stays unhandled; the sweep takes it again later
                    logger.exception("conversation %s: answering a message failed", conversation_id)
                queue.popleft()
        finally:
            del self._queues[conversation_id]

    async def drain(self, seconds: float) -> None:
        """Take nothing new; let the message in hand of each lane finish within `seconds`."""
        self._closed = True
        if not self._tasks:
            return
        _, pending = await asyncio.wait(set(self._tasks), timeout=seconds)
        for task in pending:
            task.cancel()
        if pending:
            logger.warning(
                "%d conversations were still with the bot at shutdown; they resume at next start", len(pending)
            )

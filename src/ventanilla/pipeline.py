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
from typing import Any
from uuid import UUID

from sqlalchemy import func, select, tuple_
from sqlalchemy.dialects.postgresql import insert

from ventanilla.bot import Bot, BotDecision, BotRequest, Turn
from ventanilla.db.models import Conversation, ConversationStatus, Direction, Message, SenderType, ToolCall
from ventanilla.db.session import SessionFactory
from ventanilla.inbox.writer import ConversationWriter
from ventanilla.metrics import Metrics
from ventanilla.privacy import mask_phone
from ventanilla.whatsapp.transport import InboundText

logger = logging.getLogger(__name__)
Publish = Callable[[UUID, dict[str, Any]], None]
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
        self._lanes = _Lanes(self._answer)
        self._sweeper: asyncio.Task[None] | None = None
        self._closing = False

    # --- lifecycle -----------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Resume what a previous run stored but did not handle, then keep sweeping for stragglers."""
        await self._resume(older_than=None)
        self._sweeper = asyncio.create_task(self._sweep(), name="pipeline-sweeper")

    async def stop(self) -> None:
        """Stop answering (messages are still stored); let bot work in flight finish within the bound."""
        self._closing = True
        if self._sweeper is not None:
            self._sweeper.cancel()
        await self._lanes.drain(self.policy.drain_seconds)

    # --- the path of a message -----------------------------------------------------------------------------

    async def receive(self, service_point_id: UUID, inbound: InboundText) -> StoredInbound | None:
        """Store the message; hand it to the bot when its conversation is the bot's. None for a redelivery."""
        stored = await self._store(service_point_id, inbound)
        self.metrics.inbound(service_point_id, redelivery=stored is None)
        if stored is None:
            logger.info("point %s: redelivery of %s ignored", service_point_id, inbound.provider_message_id)
            return None
        logger.debug("point %s: stored message from %s", service_point_id, mask_phone(inbound.customer_phone))
        self._published_message(service_point_id, stored.conversation_id, stored.message_id, SenderType.CUSTOMER)
        if stored.conversation_status is ConversationStatus.BOT and not self._closing:
            self._lanes.submit(stored.conversation_id, stored.message_id)
        return stored

    async def _store(self, service_point_id: UUID, inbound: InboundText) -> StoredInbound | None:
        now = datetime.now(UTC)
        received_at = min(inbound.timestamp, now)
        async with self.sessions() as session, session.begin():
            conversation = (
                await session.execute(
                    insert(Conversation)
                    .values(
                        id=uuid.uuid4(),
                        service_point_id=service_point_id,
                        customer_phone=inbound.customer_phone,
                        status=ConversationStatus.BOT,
                        last_message_at=received_at,
                        created_at=now,
                        updated_at=now,
                    )
                    .on_conflict_do_update(
                        constraint="uq_conversation_point_customer",
                        set_={"last_message_at": func.greatest(Conversation.last_message_at, received_at)},
                    )
                    .returning(Conversation.id, Conversation.status)
                )
            ).one()
            human = conversation.status is ConversationStatus.HUMAN
            message_id = (
                await session.execute(
                    insert(Message)
                    .values(
                        id=uuid.uuid4(),
                        conversation_id=conversation.id,
                        service_point_id=service_point_id,
                        direction=Direction.IN,
                        sender_type=SenderType.CUSTOMER,
                        content=inbound.text,
                        provider_message_id=inbound.provider_message_id,
                        timestamp=received_at,
                        handled_at=now if human else None,
                        created_at=now,
                        updated_at=now,
                    )
                    .on_conflict_do_nothing(constraint="uq_message_point_provider_id")
                    .returning(Message.id)
                )
            ).scalar_one_or_none()
        if message_id is None:
            return None
        return StoredInbound(message_id, conversation.id, conversation.status)

    async def _answer(self, conversation_id: UUID, message_id: UUID) -> None:
        async with self._slots:
            request = await self._request(message_id)
            if request is None:
                return
            started = time.perf_counter()
            decision = await self.bot.decide(request)
            thinking = time.perf_counter() - started
            reply_id = await self._apply(request, decision)
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

    async def _request(self, message_id: UUID) -> BotRequest | None:
        """What the bot needs, read in one short session; None when there is nothing to answer any more."""
        async with self.sessions() as session:
            row = (
                await session.execute(
                    select(Message, Conversation.status)
                    .join(Conversation, Conversation.id == Message.conversation_id)
                    .where(Message.id == message_id)
                )
            ).one_or_none()
            if row is None or row.Message.handled_at is not None:
                return None
            message: Message = row.Message
            if row.status is ConversationStatus.HUMAN:
                await ConversationWriter(session).mark_handled([message.id])
                await session.commit()
                return None
            earlier = (
                await session.execute(
                    select(Message.sender_type, Message.content)
                    .where(
                        Message.conversation_id == message.conversation_id,
                        tuple_(Message.timestamp, Message.id) < tuple_(message.timestamp, message.id),
                    )
                    .order_by(Message.timestamp.desc(), Message.id.desc())
                    .limit(HISTORY_TURNS)
                )
            ).all()
        return BotRequest(
            service_point_id=message.service_point_id,
            conversation_id=message.conversation_id,
            message_id=message.id,
            text=message.content,
            history=[Turn(sender, text) for sender, text in reversed(earlier)],
        )

    async def _apply(self, request: BotRequest, decision: BotDecision) -> UUID | None:
        """Reply, handoff, audit and 'handled' in one transaction; None when an agent took over meanwhile."""
        now = datetime.now(UTC)
        async with self.sessions() as session, session.begin():
            conversation = await session.get(Conversation, request.conversation_id, with_for_update=True)
            handled = await session.scalar(
                select(Message.handled_at).where(Message.id == request.message_id).with_for_update()
            )
            if conversation is None or handled is not None:
                return None
            writer = ConversationWriter(session)
            session.add_all(
                ToolCall(
                    conversation_id=conversation.id,
                    service_point_id=conversation.service_point_id,
                    message_id=request.message_id,
                    engine=call.engine,
                    tool=call.tool,
                    arguments=call.arguments,
                    outcome=call.outcome,
                    result=call.result,
                    latency_ms=call.latency_ms,
                )
                for call in decision.tool_calls
            )
            await writer.mark_handled([request.message_id], now)
            if conversation.status is ConversationStatus.HUMAN:
                return None  # an agent took the conversation while the bot was thinking: the agent answers
            reply = writer.queue_outgoing(conversation, decision.reply, SenderType.BOT, now=now)
            if decision.handoff_reason:
                writer.hand_off(conversation, decision.handoff_reason, now)
            await session.flush()
            return reply.id

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

"""The delivery worker: sends PENDING messages through their own point's socket, once, in order per conversation.

Each round takes the oldest pending message of every conversation (so a conversation's replies never overtake each
other), sends those whose point is connected and whose time has come, and records the outcome: SENT with the
provider id, a later retry with capped exponential backoff, or FAILED with the reason after the last attempt.
Messages of a point that is unlinked or reconnecting simply wait: they are not attempts.

Every message carries its provider id before the first attempt. The simulator (like whatsmeow) honours it, so a
resend after a crash cannot show the customer a second copy; neonize 0.5 picks its own id, so there a crash between
"sent" and "recorded" (a few milliseconds) may resend once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol
from uuid import UUID

from sqlalchemy import bindparam, select, update
from sqlalchemy.dialects.postgresql import distinct_on

from ventanilla.db.models import Conversation, DeliveryStatus, Message
from ventanilla.db.session import SessionFactory
from ventanilla.live.publisher import Publish
from ventanilla.metrics import Metrics
from ventanilla.whatsapp.transport import TransportError

logger = logging.getLogger(__name__)


class Sender(Protocol):
    def is_connected(self, point_id: UUID) -> bool: ...

    async def send_text(self, point_id: UUID, to_phone: str, text: str, message_id: str) -> str: ...


@dataclass(frozen=True)
class DeliveryPolicy:
    max_attempts: int = 6
    retry_base_seconds: float = 2.0
    retry_max_seconds: float = 300.0
    poll_seconds: float = 0.5  # how often waiting messages (retries, reconnected points) are looked at
    batch: int = 1000  # conversations per round
    concurrency: int = 64  # sends in flight at once
    drain_seconds: float = 10.0  # graceful shutdown: how long in-flight sends may finish


@dataclass(frozen=True, slots=True)
class _Due:
    id: UUID
    point_id: UUID
    conversation_id: UUID
    to: str
    text: str
    provider_id: str
    attempts: int


class DeliveryWorker:
    def __init__(
        self,
        sessions: SessionFactory,
        sender: Sender,
        publish: Publish,
        metrics: Metrics,
        policy: DeliveryPolicy | None = None,
    ) -> None:
        self.sessions = sessions
        self.sender = sender
        self.publish = publish
        self.policy = policy or DeliveryPolicy()
        self.metrics = metrics
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._slots = asyncio.Semaphore(self.policy.concurrency)

    def notify(self) -> None:
        """Something was queued: start a round now instead of at the next poll."""
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="delivery-worker")

    async def stop(self) -> None:
        """Stop taking work; the round in flight gets `drain_seconds` to finish sending and record the outcome."""
        if self._task is None:
            return
        self._stopping = True
        self._wake.set()
        try:
            await asyncio.wait_for(asyncio.shield(self._task), self.policy.drain_seconds)
        except TimeoutError:
            logger.warning("delivery round still running after %.0f s; abandoning it", self.policy.drain_seconds)
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while not self._stopping:
            try:
                sent_any = await self.deliver_round()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("delivery round failed; retrying shortly")
                sent_any = False
            if sent_any:
                continue  # the next message of those conversations may be due right away
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.policy.poll_seconds)

    async def deliver_round(self) -> bool:
        """One pass; True when at least one message was attempted."""
        due = [d for d in await self._heads() if self.sender.is_connected(d.point_id)]
        if not due:
            return False
        results = await asyncio.gather(*(self._attempt(d) for d in due))
        await self._record(results)
        return True

    async def _heads(self) -> list[_Due]:
        """The oldest pending message of each conversation, when its time has come."""
        async with self.sessions() as session:
            heads = (
                select(Message.id, Message.next_attempt_at)
                .where(Message.delivery_status == DeliveryStatus.PENDING)
                .ext(distinct_on(Message.conversation_id))
                .order_by(Message.conversation_id, Message.created_at, Message.id)
                .limit(self.policy.batch)
                .subquery()
            )
            rows = await session.execute(
                select(
                    Message.id,
                    Message.service_point_id,
                    Message.conversation_id,
                    Conversation.customer_phone,
                    Message.content,
                    Message.provider_message_id,
                    Message.attempts,
                )
                .join(heads, heads.c.id == Message.id)
                .join(Conversation, Conversation.id == Message.conversation_id)
                .where(heads.c.next_attempt_at <= datetime.now(UTC))
                .order_by(Message.created_at)
            )
            return [_Due(*row) for row in rows]

    async def _attempt(self, due: _Due) -> tuple[_Due, str | None, TransportError | None]:
        async with self._slots:
            try:
                provider_id = await self.sender.send_text(due.point_id, due.to, due.text, due.provider_id)
            except TransportError as exc:
                return due, None, exc
            except Exception as exc:  # the transport may raise anything; it is a failed attempt, never a crash
                logger.warning("message %s: unexpected send error %s", due.id, type(exc).__name__, exc_info=True)
                return due, None, TransportError(type(exc).__name__)
            return due, provider_id, None

    async def _record(self, results: list[tuple[_Due, str | None, TransportError | None]]) -> None:
        now = datetime.now(UTC)
        sent, retry, failed = [], [], []
        for due, provider_id, error in results:
            attempts = due.attempts + 1
            if error is None:
                sent.append({"mid": due.id, "pid": provider_id, "n": attempts, "now": now})
            elif error.permanent or attempts >= self.policy.max_attempts:
                failed.append({"mid": due.id, "n": attempts, "why": str(error)[:500], "now": now})
            else:
                wait = min(self.policy.retry_max_seconds, self.policy.retry_base_seconds * 2 ** (attempts - 1))
                retry.append(
                    {"mid": due.id, "n": attempts, "why": str(error)[:500], "at": now + timedelta(seconds=wait)}
                )
        async with self.sessions() as session, session.begin():
            connection = await session.connection()
            if sent:
                await connection.execute(
                    _update().values(
                        delivery_status=DeliveryStatus.SENT,
                        provider_message_id=bindparam("pid"),
                        attempts=bindparam("n"),
                        sent_at=bindparam("now"),
                        delivery_error=None,
                        next_attempt_at=None,
                        updated_at=bindparam("now"),
                    ),
                    sent,
                )
            if retry:
                await connection.execute(
                    _update().values(
                        attempts=bindparam("n"),
                        delivery_error=bindparam("why"),
                        next_attempt_at=bindparam("at"),
                    ),
                    retry,
                )
            if failed:
                await connection.execute(
                    _update().values(
                        delivery_status=DeliveryStatus.FAILED,
                        attempts=bindparam("n"),
                        delivery_error=bindparam("why"),
                        next_attempt_at=None,
                        updated_at=bindparam("now"),
                    ),
                    failed,
                )
        outcomes = {row["mid"]: "sent" for row in sent} | {row["mid"]: "retry" for row in retry}
        outcomes |= {row["mid"]: "failed" for row in failed}
        for due, _, _ in results:
            outcome = outcomes[due.id]
            self.metrics.delivery(due.point_id, outcome)
            if outcome != "retry":
                self.publish(
                    due.point_id,
                    {
                        "type": "message.status",
                        "conversationId": str(due.conversation_id),
                        "messageId": str(due.id),
                        "deliveryStatus": "SENT" if outcome == "sent" else "FAILED",
                    },
                )


def _update() -> Any:
    """UPDATE message ... WHERE id = :mid AND still PENDING (a message is recorded once, whatever happens)."""
    return (
        update(Message)
        .where(Message.id == bindparam("mid"), Message.delivery_status == DeliveryStatus.PENDING)
        .execution_options(synchronize_session=False)
    )

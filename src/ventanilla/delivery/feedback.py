"""Feedback from the customer's phone on messages already stored: receipts, reactions, and late failures.

Receipts: the customer's phone says our messages reached it (DELIVERED) or were opened (READ).

A receipt only moves a message forward: SENT -> DELIVERED -> READ, never back (a late DELIVERED after READ changes
nothing). It may also come before the send was recorded (PENDING) or after a send was given up as FAILED: either
way the phone has the message, so it counts, the send is dated if it was not, and a failure reason is cleared (the
delivery worker only ever picks PENDING messages, so nothing is sent twice). Only this point's outgoing messages
are touched, by the provider ids its socket returned. Receipts arriving together are written in one transaction;
each message that moved is published live once it is committed.

A late failure (the Cloud API accepted a send, then says it could not deliver it) marks a SENT message FAILED with
WhatsApp's reason, which the agent reads and may retry; it never undoes a DELIVERED or READ.

A reaction puts its emoji on the message it reacts to (an empty one takes it off); it is not a message, and wakes
no bot. A reaction to a message this point does not have is dropped.

Feedback that arrives while the database is away is kept in memory (up to `MAX_WAITING`) and written once it is
back, in the background: the socket's next events (customers' messages) never wait behind it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from uuid import UUID

from sqlalchemy import Row, text
from sqlalchemy.ext.asyncio import AsyncSession

from ventanilla.batching import MicroBatcher
from ventanilla.db.errors import describe, is_refused_content, is_unavailable
from ventanilla.db.models import DeliveryStatus
from ventanilla.db.session import SessionFactory
from ventanilla.live.events import MessageStatusChanged, MessageUpdated, after_commit
from ventanilla.metrics import Metrics
from ventanilla.text import storable
from ventanilla.whatsapp.transport import DeliveryFailed, Reaction, Receipt

logger = logging.getLogger(__name__)
MAX_WAITING = 100_000  # receipts and reactions kept while the database is away; beyond that the oldest ticks are lost
RETRY_SECONDS = 1.0
# What each receipt may move forward from.
_FROM = {
    DeliveryStatus.DELIVERED: [DeliveryStatus.PENDING, DeliveryStatus.SENT, DeliveryStatus.FAILED],
    DeliveryStatus.READ: [DeliveryStatus.PENDING, DeliveryStatus.SENT, DeliveryStatus.FAILED, DeliveryStatus.DELIVERED],
}
_FORWARD = text(
    """
    UPDATE message SET delivery_status = :status, sent_at = coalesce(sent_at, :now), delivery_error = NULL,
        updated_at = :now
    FROM unnest(CAST(:points AS uuid[]), CAST(:ids AS text[])) AS receipt (point_id, provider_id)
    WHERE message.service_point_id = receipt.point_id AND message.provider_message_id = receipt.provider_id
        AND message.direction = 'OUT' AND message.delivery_status = ANY(CAST(:before AS text[]))
    RETURNING message.id, message.service_point_id, message.conversation_id
    """
)
_REACT = text(
    """
    UPDATE message SET reaction = nullif(reaction_.emoji, ''), updated_at = :now
    FROM unnest(CAST(:points AS uuid[]), CAST(:ids AS text[]), CAST(:emojis AS text[]))
        AS reaction_ (point_id, provider_id, emoji)
    WHERE message.service_point_id = reaction_.point_id AND message.provider_message_id = reaction_.provider_id
    RETURNING message.id, message.service_point_id, message.conversation_id
    """
)
_FAIL = text(
    """
    UPDATE message SET delivery_status = 'FAILED', delivery_error = failure.reason, next_attempt_at = NULL,
        updated_at = :now
    FROM unnest(CAST(:points AS uuid[]), CAST(:ids AS text[]), CAST(:reasons AS text[]))
        AS failure (point_id, provider_id, reason)
    WHERE message.service_point_id = failure.point_id AND message.provider_message_id = failure.provider_id
        AND message.direction = 'OUT' AND message.delivery_status IN ('PENDING', 'SENT')
    RETURNING message.id, message.service_point_id, message.conversation_id
    """
)
MAX_EMOJI_CHARS = 32
MAX_REASON_CHARS = 500


@dataclass(frozen=True, slots=True)
class _Acknowledged:
    point_id: UUID
    event: Receipt | Reaction | DeliveryFailed


class Feedback:
    def __init__(self, sessions: SessionFactory, metrics: Metrics) -> None:
        self.sessions = sessions
        self.metrics = metrics
        self._writes: MicroBatcher[_Acknowledged, None] = MicroBatcher(self._write, isolate=is_refused_content)
        self._waiting: list[_Acknowledged] = []  # arrived while the database was away
        self._retrying: asyncio.Task[None] | None = None

    async def apply(self, point_id: UUID, event: Receipt | Reaction | DeliveryFailed) -> None:
        if isinstance(event, Reaction):
            event = replace(event, emoji=storable(event.emoji)[:MAX_EMOJI_CHARS])
        elif isinstance(event, DeliveryFailed):
            event = replace(event, reason=storable(event.reason)[:MAX_REASON_CHARS])
        acknowledged = _Acknowledged(point_id, event)
        try:
            await self._writes.submit(acknowledged)
        except Exception as exc:
            if not is_unavailable(exc):
                raise
            self._keep([acknowledged], exc)

    async def stop(self) -> None:
        """At shutdown: what still waits is lost (ticks only; the messages themselves are safe)."""
        if self._retrying is not None:
            self._retrying.cancel()
            await asyncio.gather(self._retrying, return_exceptions=True)
        if self._waiting:
            logger.warning(
                "%d receipts or reactions not recorded at shutdown (the database was away)", len(self._waiting)
            )

    def _keep(self, acknowledged: list[_Acknowledged], error: BaseException) -> None:
        self._waiting.extend(acknowledged)
        if len(self._waiting) > MAX_WAITING:
            del self._waiting[: len(self._waiting) - MAX_WAITING]
        if self._retrying is None or self._retrying.done():
            logger.warning("receipts and reactions wait for the database (%s)", describe(error))
            self._retrying = asyncio.create_task(self._retry(), name="receipts-retry")

    async def _retry(self) -> None:
        while self._waiting:
            await asyncio.sleep(RETRY_SECONDS)
            batch, self._waiting = self._waiting, []
            try:
                await self._write(batch)
            except Exception as exc:
                if not is_unavailable(exc):
                    logger.exception("%d receipts or reactions could not be recorded", len(batch))
                    continue
                self._waiting[:0] = batch  # oldest first, before what arrived meanwhile

    async def _write(self, acknowledged: list[_Acknowledged]) -> list[None]:
        now = datetime.now(UTC)
        moved: list[tuple[UUID, DeliveryStatus]] = []
        async with self.sessions() as session, session.begin():
            connection = await session.connection()
            for status in (DeliveryStatus.DELIVERED, DeliveryStatus.READ):  # a batch holding both ends at READ
                pairs = [
                    (item.point_id, provider_id)
                    for item in acknowledged
                    if isinstance(item.event, Receipt) and item.event.read == (status is DeliveryStatus.READ)
                    for provider_id in item.event.provider_message_ids
                ]
                if not pairs:
                    continue
                rows = await connection.execute(
                    _FORWARD,
                    {
                        "status": status.value,
                        "now": now,
                        "points": [point for point, _ in pairs],
                        "ids": [provider_id for _, provider_id in pairs],
                        "before": [value.value for value in _FROM[status]],
                    },
                )
                moved += _announce_moved(session, rows, status)
            failures = [item for item in acknowledged if isinstance(item.event, DeliveryFailed)]
            if failures:
                rows = await connection.execute(
                    _FAIL,
                    {
                        "now": now,
                        "points": [item.point_id for item in failures],
                        "ids": [item.event.provider_message_id for item in failures],
                        "reasons": [item.event.reason for item in failures],
                    },
                )
                moved += _announce_moved(session, rows, DeliveryStatus.FAILED)
            reactions = [item for item in acknowledged if isinstance(item.event, Reaction)]
            if reactions:
                rows = await connection.execute(
                    _REACT,
                    {
                        "now": now,
                        "points": [item.point_id for item in reactions],
                        "ids": [item.event.target_message_id for item in reactions],
                        "emojis": [item.event.emoji for item in reactions],
                    },
                )
                for message_id, point_id, conversation_id in rows:
                    after_commit(
                        session,
                        MessageUpdated(
                            service_point_id=point_id, conversation_id=conversation_id, message_id=message_id
                        ),
                    )
        for point_id, status in moved:
            self.metrics.receipt(point_id, status.value)
        return [None] * len(acknowledged)


def _announce_moved(
    session: AsyncSession, rows: Iterable[Row], status: DeliveryStatus
) -> list[tuple[UUID, DeliveryStatus]]:
    """Publish each message that moved (once committed); the (point, status) pairs for the metrics."""
    moved = []
    for message_id, point_id, conversation_id in rows:
        moved.append((point_id, status))
        after_commit(
            session,
            MessageStatusChanged(
                service_point_id=point_id,
                conversation_id=conversation_id,
                message_id=message_id,
                delivery_status=status,
            ),
        )
    return moved

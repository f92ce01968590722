"""The delivery worker: sends PENDING messages through their own point's socket, once, in order per conversation.

Fairness. Only points whose socket is connected here are read, and each on its own: for every such point the worker
walks that point's pending messages oldest first (the partial index `ix_message_outbox_pending`, a page at a time)
and takes the oldest pending message of each conversation whose time has come (so replies never overtake each
other), until the point has `in_flight_per_point` sends in flight. An unlinked point's backlog is never read; a
flooded point fills its own slots and no one else's.

No lock-step rounds. Each send is its own task, bounded by `send_timeout_seconds`: a send that has not returned by
then is a failed attempt, retried later under the same provider id. A finished send queues its outcome and wakes
the loop, which records every finished send in one transaction and refills the free slots. A slow or hung point
therefore holds only its own slots, never another point's next message. A conversation stays busy from its send
until the outcome is recorded: at most one message in flight per conversation.

Outcomes are recorded `WHERE still PENDING` (once, whatever happens): SENT with the provider id, a retry with capped
exponential backoff, or FAILED with the reason after the last attempt, or at once for a permanent refusal. Waiting
for the point to be connected is not an attempt, but a reply due for more than `max_wait_hours` is never sent
late and blindly: it is not picked, and a periodic step (first at start, whatever the point's state) marks it
FAILED with a reason the agent reads. Retrying it from the inbox makes it due now, hence fresh again.

Every message carries its provider id before the first attempt. The simulator (like whatsmeow) honours it, so a
resend after a crash or a timed-out send cannot show the customer a second copy; neonize 0.5 picks its own id, so
there a crash between "sent" and "recorded" (a few milliseconds) may resend once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter, defaultdict
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol
from uuid import UUID

from sqlalchemy import DateTime, Uuid, bindparam, literal_column, select, text, true, update
from sqlalchemy.ext.asyncio import AsyncSession

from ventanilla.db.arrays import among
from ventanilla.db.errors import describe, is_unavailable
from ventanilla.db.models import Conversation, DeliveryStatus, Media, Message, MessageType, ServicePoint
from ventanilla.db.session import SessionFactory
from ventanilla.draining import drain
from ventanilla.live.events import MessageStatusChanged, after_commit
from ventanilla.media.storage import MediaStorage
from ventanilla.metrics import Metrics
from ventanilla.whatsapp.transport import OutgoingMedia, TemplateSend, TransportError

logger = logging.getLogger(__name__)

# The pending messages of each listed point after its cursor, oldest first. 'PENDING' is a literal, not a parameter,
# so that even a generic prepared plan matches the partial index `ix_message_outbox_pending`.
_PAGE = text(
    """
    SELECT cursor.point_id, m.id, m.conversation_id, m.created_at, m.next_attempt_at
    FROM unnest(CAST(:points AS uuid[]), CAST(:after_at AS timestamptz[]), CAST(:after_id AS uuid[]))
        AS cursor (point_id, after_at, after_id)
    CROSS JOIN LATERAL (
        SELECT id, conversation_id, created_at, next_attempt_at FROM message
        WHERE service_point_id = cursor.point_id AND delivery_status = 'PENDING'
            AND (created_at, id) > (cursor.after_at, cursor.after_id)
        ORDER BY created_at, id
        LIMIT :size
    ) AS m
    """
).columns(
    point_id=Uuid(),
    id=Uuid(),
    conversation_id=Uuid(),
    created_at=DateTime(timezone=True),
    next_attempt_at=DateTime(timezone=True),
)
_START = (datetime.min.replace(tzinfo=UTC), UUID(int=0))  # a cursor before every message
_FIRST_PAGE, _LAST_PAGE = 64, 2048  # rows per point; pages double while busy or waiting conversations fill them
_MAX_SCAN = 10_000  # rows per point and pass: beyond that, later conversations wait for the front to drain
_EXPIRE_CHUNK = 1000  # expired per transaction (and per burst of events)
_PENDING = literal_column("'PENDING'")  # see _PAGE
_SENDABLE = frozenset({MessageType.IMAGE, MessageType.DOCUMENT, MessageType.AUDIO, MessageType.VIDEO})


class Sender(Protocol):
    def connected_points(self) -> Collection[UUID]: ...

    async def send_text(self, point_id: UUID, to_phone: str, text: str, message_id: str) -> str: ...

    async def send_media(
        self, point_id: UUID, to_phone: str, media: OutgoingMedia, caption: str, message_id: str
    ) -> str: ...

    async def send_template(self, point_id: UUID, to_phone: str, template: TemplateSend) -> str: ...


@dataclass(frozen=True)
class DeliveryPolicy:
    max_attempts: int = 6
    retry_base_seconds: float = 2.0
    retry_max_seconds: float = 300.0
    poll_seconds: float = 0.5  # how often waiting messages (retries, reconnected points) are looked at
    in_flight_per_point: int = 64  # sends at once per point, each of a different conversation
    send_timeout_seconds: float = 30.0  # a send that has not returned by then is a failed attempt
    max_wait_hours: float = 24.0  # a reply due for longer (its point unlinked) becomes FAILED instead of leaving late
    expire_every_seconds: float = 60.0  # how often replies past `max_wait_hours` are marked FAILED
    drain_seconds: float = 10.0  # graceful shutdown: how long in-flight sends may finish


@dataclass(frozen=True, slots=True)
class _Due:
    id: UUID
    point_id: UUID
    conversation_id: UUID
    to: str
    text: str  # the text, or the caption of a file
    provider_id: str
    attempts: int
    type: MessageType = MessageType.TEXT
    sha256: str | None = None  # the file an agent attached (under MEDIA_DIR)
    mime_type: str | None = None
    file_name: str | None = None
    details: dict[str, Any] | None = None  # a template's name and parameters (Cloud API), among others


_Outcome = tuple[_Due, str | None, TransportError | None]  # the message, its provider id when sent, or the error


class DeliveryWorker:
    def __init__(
        self,
        sessions: SessionFactory,
        sender: Sender,
        metrics: Metrics,
        policy: DeliveryPolicy | None = None,
        files: MediaStorage | None = None,
    ) -> None:
        self.sessions = sessions
        self.sender = sender
        self.files = files  # where attached files are read from; None: this worker sends text only
        self.policy = policy or DeliveryPolicy()
        self.metrics = metrics
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._busy: dict[UUID, _Due] = {}  # conversation id -> its message in flight or not yet recorded
        self._finished: list[_Outcome] = []  # sends that ended, waiting to be recorded
        self._sends: set[asyncio.Task[None]] = set()

    def notify(self) -> None:
        """Something was queued: look now instead of at the next poll."""
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="delivery-worker")

    async def stop(self) -> None:
        """Stop taking work; sends in flight get `drain_seconds` to finish, then their outcomes are recorded."""
        if self._task is None:
            return
        self._stopping = True
        self._wake.set()
        # once stopping, the loop starts no send; abandoned sends stay PENDING, with the same provider id
        abandoned = await drain(self._task, self._sends, self.policy.drain_seconds)
        if abandoned:
            logger.warning("delivery busy after %.0f s; abandoned %d tasks", self.policy.drain_seconds, abandoned)
        try:
            await self._record_finished()
        except Exception:
            logger.exception("could not record the last sends; they are sent again (same provider id) at next start")

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        expire_at = loop.time()
        while not self._stopping:
            self._wake.clear()  # a send ending or a message queued from here on wakes the wait below
            try:
                if loop.time() >= expire_at:
                    expire_at = loop.time() + self.policy.expire_every_seconds
                    await self.expire_stale()
                await self._record_finished()
                await self._fill()
            except Exception as exc:
                if is_unavailable(exc):
                    logger.warning("delivery waits for the database (%s)", describe(exc))
                else:
                    logger.exception("delivery step failed; retrying shortly")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.policy.poll_seconds)

    async def _fill(self) -> None:
        """Start sends on every connected point with free slots."""
        in_flight = Counter(due.point_id for due in self._busy.values())
        room = {
            point: self.policy.in_flight_per_point - in_flight[point]
            for point in self.sender.connected_points()
            if in_flight[point] < self.policy.in_flight_per_point
        }
        if not room:
            return
        for due in await self._heads(room):
            if self._stopping:
                return
            self._busy[due.conversation_id] = due
            task = asyncio.create_task(self._send(due), name=f"delivery-{due.id}")
            self._sends.add(task)
            task.add_done_callback(self._sends.discard)

    async def _heads(self, room: dict[UUID, int]) -> list[_Due]:
        """Up to `room[point]` messages of each point, with what sending them needs."""
        async with self.sessions() as session:
            chosen = await self._pick(session, room)
            if not chosen:
                return []
            rows = await session.execute(
                select(
                    Message.id,
                    Message.service_point_id,
                    Message.conversation_id,
                    Conversation.customer_phone,
                    Message.content,
                    Message.provider_message_id,
                    Message.attempts,
                    Message.type,
                    Media.sha256,
                    Media.mime_type,
                    Media.file_name,
                    Message.details,
                )
                .join(Conversation, Conversation.id == Message.conversation_id)
                .outerjoin(Media, Media.message_id == Message.id)
                .where(among(Message.id, chosen), Message.delivery_status == DeliveryStatus.PENDING)
            )
            return [_Due(*row) for row in rows]

    async def _pick(self, session: AsyncSession, room: dict[UUID, int]) -> list[UUID]:
        """Walk each point's pending messages oldest first; take the first of each idle conversation if it is due."""
        now = datetime.now(UTC)
        stale = now - timedelta(hours=self.policy.max_wait_hours)
        seen = set(self._busy)  # a conversation's first pending message decides for the whole conversation
        chosen: list[UUID] = []
        cursors = dict.fromkeys(room, _START)
        scanned: Counter[UUID] = Counter()
        size = _FIRST_PAGE
        while cursors:
            params = {
                "points": list(cursors),
                "after_at": [at for at, _ in cursors.values()],
                "after_id": [mid for _, mid in cursors.values()],
                "size": size,
            }
            pages: defaultdict[UUID, list[Any]] = defaultdict(list)
            for row in await session.execute(_PAGE, params):
                pages[row.point_id].append(row)
            for point in list(cursors):
                page = pages[point]
                for row in page:
                    if row.conversation_id in seen:
                        continue
                    seen.add(row.conversation_id)
                    if row.next_attempt_at is not None and stale <= row.next_attempt_at <= now:
                        chosen.append(row.id)
                        room[point] -= 1
                        if not room[point]:
                            break
                scanned[point] += len(page)
                if not room[point] or len(page) < size or scanned[point] >= _MAX_SCAN:
                    del cursors[point]
                else:
                    cursors[point] = (page[-1].created_at, page[-1].id)
            size = min(2 * size, _LAST_PAGE)
        return chosen

    async def _send(self, due: _Due) -> None:
        error: TransportError | None = None
        provider_id = None
        try:
            async with asyncio.timeout(self.policy.send_timeout_seconds):
                if (template := TemplateSend.from_details(due.details)) is not None:
                    provider_id = await self.sender.send_template(due.point_id, due.to, template)
                elif due.type is MessageType.TEXT:
                    provider_id = await self.sender.send_text(due.point_id, due.to, due.text, due.provider_id)
                else:
                    media = await self._attachment(due)
                    provider_id = await self.sender.send_media(due.point_id, due.to, media, due.text, due.provider_id)
        except TimeoutError:
            error = TransportError(f"WhatsApp no confirmó el envío en {_number(self.policy.send_timeout_seconds)} s")
        except TransportError as exc:
            error = exc
        except Exception as exc:  # the transport may raise anything; it is a failed attempt, never a crash
            logger.warning("message %s: unexpected send error %s", due.id, type(exc).__name__, exc_info=True)
            error = TransportError(type(exc).__name__)
        self._finished.append((due, provider_id, error))
        self._wake.set()

    async def _attachment(self, due: _Due) -> OutgoingMedia:
        """The file to send, read from MEDIA_DIR; gone (retention, a lost disk) is a permanent failure."""
        if self.files is None or due.sha256 is None or due.mime_type is None or due.type not in _SENDABLE:
            raise TransportError("el mensaje no tiene un archivo que se pueda enviar", permanent=True)
        try:
            data = await asyncio.to_thread(self.files.read, due.sha256)
        except FileNotFoundError:
            raise TransportError("el archivo ya no está disponible", permanent=True) from None
        return OutgoingMedia(due.type.value, data, due.mime_type, due.file_name)  # type: ignore[arg-type]

    async def _record_finished(self) -> None:
        """Record the sends that ended, in one transaction; their conversations are free again afterwards."""
        results = list(self._finished)
        if not results:
            return
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
        outcomes = {row["mid"]: "sent" for row in sent} | {row["mid"]: "retry" for row in retry}
        outcomes |= {row["mid"]: "failed" for row in failed}
        async with self.sessions() as session, session.begin():
            after_commit(
                session,
                *(
                    _status_changed(due.point_id, due.conversation_id, due.id, _STATUS_OF[outcomes[due.id]])
                    for due, _, _ in results
                    if outcomes[due.id] != "retry"
                ),
            )
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
        del self._finished[: len(results)]  # sends that ended meanwhile stay for the next step
        for due, _, _ in results:
            self._busy.pop(due.conversation_id, None)
            self.metrics.delivery(due.point_id, outcomes[due.id])

    async def expire_stale(self) -> int:
        """Mark FAILED the replies due for more than `max_wait_hours`, whatever their point's state; how many."""
        hours = self.policy.max_wait_hours
        reason = f"No se envió: el punto estuvo desvinculado más de {_number(hours)} h. Reintenta si aún corresponde."
        total = 0
        while True:
            now = datetime.now(UTC)
            cutoff = now - timedelta(hours=hours)
            # Point by point, and bounded on created_at (never later than next_attempt_at), so that the partial index
            # answers even a generic plan: a scan of the whole table otherwise, every minute, usually for nothing.
            stale = select(Message.id).where(
                Message.service_point_id == ServicePoint.id,
                Message.delivery_status == _PENDING,
                Message.created_at < cutoff,
                Message.next_attempt_at < cutoff,
            )
            in_flight = [due.id for due in self._busy.values()]
            if in_flight:
                stale = stale.where(Message.id.not_in(in_flight))
            per_point = stale.limit(_EXPIRE_CHUNK).lateral()
            chunk = select(per_point.c.id).select_from(ServicePoint).join(per_point, true()).limit(_EXPIRE_CHUNK)
            async with self.sessions() as session, session.begin():
                rows = (
                    await session.execute(
                        update(Message)
                        .where(
                            Message.id.in_(chunk.scalar_subquery()),
                            Message.delivery_status == _PENDING,
                            Message.next_attempt_at < cutoff,
                        )
                        .values(
                            delivery_status=DeliveryStatus.FAILED,
                            delivery_error=reason,
                            next_attempt_at=None,
                            updated_at=now,
                        )
                        .returning(Message.id, Message.service_point_id, Message.conversation_id)
                        .execution_options(synchronize_session=False)
                    )
                ).all()
                after_commit(
                    session,
                    *(
                        _status_changed(point_id, conversation_id, message_id, DeliveryStatus.FAILED)
                        for message_id, point_id, conversation_id in rows
                    ),
                )
            for _, point_id, _ in rows:
                self.metrics.delivery(point_id, "expired")
            for point_id, count in Counter(point_id for _, point_id, _ in rows).items():
                logger.warning("point %s: %d replies waited over %g h to be sent; now FAILED", point_id, count, hours)
            total += len(rows)
            if len(rows) < _EXPIRE_CHUNK:
                return total


_STATUS_OF = {"sent": DeliveryStatus.SENT, "failed": DeliveryStatus.FAILED}


def _status_changed(
    point_id: UUID, conversation_id: UUID, message_id: UUID, status: DeliveryStatus
) -> MessageStatusChanged:
    return MessageStatusChanged(
        service_point_id=point_id, conversation_id=conversation_id, message_id=message_id, delivery_status=status
    )


def _number(value: float) -> str:
    """24 -> "24", 1.5 -> "1,5": numbers as the agents write them."""
    return f"{value:g}".replace(".", ",")


def _update() -> Any:
    """UPDATE message ... WHERE id = :mid AND still PENDING (a message is recorded once, whatever happens)."""
    return (
        update(Message)
        .where(Message.id == bindparam("mid"), Message.delivery_status == DeliveryStatus.PENDING)
        .execution_options(synchronize_session=False)
    )

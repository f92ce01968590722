"""The session manager: one WhatsApp socket per service point, and the state machine around it.

Every decision lives here, for both transports: resume linked points at start-up, show and expire QR codes
(WhatsApp gives no expiry event, so the timers are ours), reconnect after transient drops with capped exponential
backoff and jitter, and never reconnect after a logout, a replaced session or a ban. Each point has its own lock
and its own tasks; whatever goes wrong for one point is caught, logged and written to that point's `lastError`,
and never reaches another point.

With several replicas, this manager runs the sockets of the points whose lease this replica holds (see
`cluster/leases.py`): it is told when a point becomes ours (`acquired`: resume it if it is linked) and when it is
not ours any more (`lost`: close the socket and write nothing). Every status it writes is fenced by the lease's
epoch, and it sends only while the lease is valid.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from sqlalchemy import exists, select, update

from ventanilla.cluster.leases import PointLeases
from ventanilla.db.models import PointLease, ServicePoint, WhatsappStatus
from ventanilla.db.session import SessionFactory
from ventanilla.live.events import QrShown, WhatsappStatusChanged, after_commit
from ventanilla.live.publisher import Publish
from ventanilla.whatsapp import messages
from ventanilla.whatsapp.credentials import CredentialStore
from ventanilla.whatsapp.transport import (
    ChatEvent,
    Connected,
    Disconnected,
    LoggedOut,
    MediaRef,
    Misconfigured,
    OutgoingMedia,
    QrCode,
    Replaced,
    SessionEvent,
    Socket,
    TemplateSend,
    TemplateSender,
    TemporarilyBanned,
    Transport,
    TransportError,
    Unrecoverable,
)

logger = logging.getLogger(__name__)

InboundHandler = Callable[[UUID, ChatEvent], Awaitable[object]]  # what the chats bring


@dataclass(frozen=True)
class SessionPolicy:
    """Timings. The defaults follow WhatsApp Web; tests shorten them."""

    qr_first_seconds: float = 60.0  # the first code lives about 60 s
    qr_next_seconds: float = 20.0  # each later code about 20 s
    qr_give_up_seconds: float = 180.0  # then stop: no endless QR loop
    reconnect_base_seconds: float = 1.0
    reconnect_max_seconds: float = 60.0
    pairing_wait_seconds: float = 15.0  # how long a pairing-code request waits for the socket to be ready
    close_timeout_seconds: float = 10.0


@dataclass(frozen=True)
class PendingQr:
    code: str
    expires_at: datetime


def backoff_delay(policy: SessionPolicy, attempt: int, jitter: Callable[[], float] = random.random) -> float:
    """Capped exponential backoff with jitter: base * 2^attempt, at most the cap, then 50-100 % of that."""
    delay = min(policy.reconnect_max_seconds, policy.reconnect_base_seconds * 2 ** min(attempt, 32))
    return delay * (0.5 + jitter() / 2)


class NotConnectedError(Exception):
    """The point has no connected socket right now."""


class AlreadyConnectedError(Exception):
    """The point is linked and connected; there is nothing to scan or pair."""


@dataclass
class _Point:
    """In-memory state of one point's session. Guarded by `lock`; `generation` discards stale socket events."""

    id: UUID
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    socket: Socket | None = None
    generation: int = 0
    status: WhatsappStatus = WhatsappStatus.DISCONNECTED
    qr: PendingQr | None = None
    qr_count: int = 0
    qr_ready: asyncio.Event = field(default_factory=asyncio.Event)
    attempt: int = 0
    give_up: asyncio.Task[None] | None = None
    reconnect: asyncio.Task[None] | None = None


class SessionManager:
    def __init__(
        self,
        transport: Transport,
        credentials: CredentialStore,
        sessions: SessionFactory,
        on_inbound: InboundHandler,
        live: Publish,
        leases: PointLeases,
        policy: SessionPolicy | None = None,
    ) -> None:
        self.transport = transport
        self.credentials = credentials
        self.sessions = sessions
        self.on_inbound = on_inbound
        self.live = live
        self.leases = leases
        self.policy = policy or SessionPolicy()
        self._points: dict[UUID, _Point] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._stopping = False

    # --- lifecycle -----------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Take the points the leases give us from now on (`acquired`, `lost`)."""
        self.leases.bind(self)

    def acquired(self, point_id: UUID, epoch: int) -> None:
        """The point is ours now: resume it if it is linked, else make sure it reads DISCONNECTED."""
        self._spawn(self._take(point_id))

    async def lost(self, point_id: UUID) -> None:
        """Another replica owns the point now: close our socket, write nothing (the new owner does)."""
        point = self._points.pop(point_id, None)
        if point is not None:
            async with point.lock:
                await self._close_socket(point)

    async def _take(self, point_id: UUID) -> None:
        if await self.transport.is_linked(point_id, self.credentials.root / str(point_id)):
            await self.connect(point_id)
            return
        point = self._point(point_id)
        async with point.lock:
            if point.socket is None:
                await self._set(point, WhatsappStatus.DISCONNECTED, only_if_not=WhatsappStatus.DISCONNECTED)

    async def stop(self) -> None:
        """Close every socket (in parallel, bounded), keep every credential."""
        self._stopping = True
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*(self._close_socket(p) for p in self._points.values()), return_exceptions=True)
        await self.transport.shutdown()

    def _size_executor(self) -> None:
        """neonize keeps one worker thread per connected client: make room for every point plus normal work."""
        needed = len(self._points) + 32
        loop = asyncio.get_running_loop()
        capacity = getattr(getattr(loop, "_default_executor", None), "_max_workers", 0)
        if capacity < needed:  # doubled, so 200 points starting together replace it a handful of times, not 200
            loop.set_default_executor(
                ThreadPoolExecutor(max_workers=max(needed, 2 * capacity), thread_name_prefix="whatsapp")
            )

    # --- operations (HTTP API) -----------------------------------------------------------------------------

    async def connect(self, point_id: UUID) -> None:
        """Start the socket; a QR appears if the point is not linked. No-op when already connecting or connected."""
        point = self._point(point_id)
        async with point.lock:
            if point.socket is not None:
                return
            await self._open(point, clear_error=True)

    async def restart(self, point_id: UUID) -> None:
        point = self._point(point_id)
        async with point.lock:
            await self._close_socket(point)
            await self._open(point, clear_error=True)

    async def logout(self, point_id: UUID) -> None:
        """Unlink at WhatsApp (best effort) and delete the point's credentials."""
        point = self._point(point_id)
        async with point.lock:
            socket = point.socket
            if socket is not None:
                try:
                    await asyncio.wait_for(socket.logout(), self.policy.close_timeout_seconds)
                except Exception:
                    logger.warning("point %s: logout at WhatsApp failed; forgetting the session anyway", point_id)
            await self._close_socket(point)
            await self._forget_credentials(point_id)
            await self._set(point, WhatsappStatus.DISCONNECTED, last_error=None)

    async def forget(self, point_id: UUID) -> None:
        """The point was deleted: close its socket and delete its credentials, and nothing else."""
        point = self._points.pop(point_id, None)
        if point is not None:
            async with point.lock:
                await self._close_socket(point)
        await self._forget_credentials(point_id)

    async def pairing_code(self, point_id: UUID, phone_number: str) -> str:
        """A code to type on the phone instead of scanning; starts the socket when needed."""
        point = self._point(point_id)
        async with point.lock:
            if point.status is WhatsappStatus.CONNECTED:
                raise AlreadyConnectedError
            if point.socket is None:
                await self._open(point, clear_error=True)
        try:
            await asyncio.wait_for(point.qr_ready.wait(), self.policy.pairing_wait_seconds)
        except TimeoutError:
            raise TransportError("WhatsApp did not get ready for linking in time") from None
        async with point.lock:
            if point.socket is None:
                raise TransportError("the connection to WhatsApp was lost")
            return await point.socket.request_pairing_code(phone_number)

    def pending_qr(self, point_id: UUID) -> PendingQr | None:
        point = self._points.get(point_id)
        if point is None or point.qr is None or point.qr.expires_at <= datetime.now(UTC):
            return None
        return point.qr

    def is_connected(self, point_id: UUID) -> bool:
        point = self._points.get(point_id)
        return point is not None and point.status is WhatsappStatus.CONNECTED and self.leases.holds(point_id)

    def connected_points(self) -> list[UUID]:
        """The points whose socket is up here under a valid lease: the only outboxes the delivery worker reads."""
        return [
            point.id
            for point in self._points.values()
            if point.status is WhatsappStatus.CONNECTED and self.leases.holds(point.id)
        ]

    async def send_text(self, point_id: UUID, to_phone: str, text: str, message_id: str) -> str:
        """Send through this point's own socket only; NotConnectedError when it is not up."""
        return await self._socket(point_id).send_text(to_phone, text, message_id)

    async def send_media(
        self, point_id: UUID, to_phone: str, media: OutgoingMedia, caption: str, message_id: str
    ) -> str:
        """Send a file through this point's own socket only; NotConnectedError when it is not up."""
        return await self._socket(point_id).send_media(to_phone, media, caption, message_id)

    async def send_template(self, point_id: UUID, to_phone: str, template: TemplateSend) -> str:
        """Send an approved template through this point's socket (a Cloud API point's only)."""
        socket = self._socket(point_id)
        if not isinstance(socket, TemplateSender):
            raise TransportError(messages.NO_TEMPLATES, permanent=True)
        return await socket.send_template(to_phone, template.name, template.language, template.parameters)

    async def download(self, point_id: UUID, media: MediaRef, max_bytes: int) -> bytes:
        """Fetch a file a customer sent to this point, through its own socket; NotConnectedError when it is not up."""
        return await self._socket(point_id).download(media, max_bytes)

    def _socket(self, point_id: UUID) -> Socket:
        point = self._points.get(point_id)
        if point is None or point.socket is None or point.status is not WhatsappStatus.CONNECTED:
            raise NotConnectedError
        if not self.leases.holds(point_id):  # paused past our lease: another replica may own the point now
            raise NotConnectedError
        return point.socket

    # --- socket events -------------------------------------------------------------------------------------

    def _sink(self, point: _Point, generation: int) -> Callable[[SessionEvent], Awaitable[None]]:
        async def receive(event: SessionEvent) -> None:
            try:
                if isinstance(event, ChatEvent):  # the customer's side: not the session's state
                    await self.on_inbound(point.id, event)
                    return
                async with point.lock:
                    if generation != point.generation or point.socket is None:
                        return  # an event of a socket we already closed
                    await self._handle(point, event)
            except Exception:  # the transport must never see it: neonize would drop it silently anyway
                logger.exception("point %s: handling %s failed", point.id, type(event).__name__)

        return receive

    async def _handle(self, point: _Point, event: SessionEvent) -> None:
        if isinstance(event, QrCode):
            await self._on_qr(point, event)
        elif isinstance(event, Connected):
            await self._on_connected(point, event)
        elif isinstance(event, Disconnected):
            await self._on_drop(point, event.reason)
        elif isinstance(event, LoggedOut):
            await self._close_socket(point)
            await self._forget_credentials(point.id)
            await self._set(point, WhatsappStatus.DISCONNECTED, last_error=messages.LOGGED_OUT)
        elif isinstance(event, Replaced):
            await self._close_socket(point)
            await self._set(point, WhatsappStatus.DISCONNECTED, last_error=messages.REPLACED)
        elif isinstance(event, TemporarilyBanned):
            await self._close_socket(point)
            await self._set(point, WhatsappStatus.DISCONNECTED, last_error=messages.banned(event.until))
        elif isinstance(event, Unrecoverable):
            await self._close_socket(point)
            await self._set(point, WhatsappStatus.DISCONNECTED, last_error=messages.refused(event.reason))
        elif isinstance(event, Misconfigured):
            await self._close_socket(point)
            await self._set(point, WhatsappStatus.DISCONNECTED, last_error=event.message)

    async def _on_qr(self, point: _Point, event: QrCode) -> None:
        now = datetime.now(UTC)
        lifetime = self.policy.qr_first_seconds if point.qr_count == 0 else self.policy.qr_next_seconds
        point.qr = PendingQr(code=event.code, expires_at=now + timedelta(seconds=lifetime))
        point.qr_count += 1
        point.qr_ready.set()
        if point.give_up is None:
            point.give_up = self._spawn(self._give_up_later(point, point.generation))
        # readable from any replica before it is announced (the owner's page reads it from memory at once)
        await self._share_qr(point, point.qr)
        self.live.publish(QrShown(service_point_id=point.id, expires_at=point.qr.expires_at))
        await self._set(point, WhatsappStatus.CONNECTING, last_qr_at=now)

    async def _on_connected(self, point: _Point, event: Connected) -> None:
        owner = await self._other_owner_of(point.id, event.phone_number)
        if owner is not None:
            # Customers writing to that number would reach two branches at once: refuse the second link.
            socket = point.socket
            if socket is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(socket.logout(), self.policy.close_timeout_seconds)
            await self._close_socket(point)
            await self._forget_credentials(point.id)
            await self._set(point, WhatsappStatus.DISCONNECTED, last_error=messages.NUMBER_TAKEN)
            return
        self._cancel(point.give_up)
        point.give_up = None
        point.qr = None
        point.qr_ready.clear()
        point.attempt = 0
        self.credentials.secure(point.id)
        fields: dict[str, Any] = {"last_connected_at": datetime.now(UTC)}
        if event.phone_number:
            fields["phone_number"] = event.phone_number
        await self._set(point, WhatsappStatus.CONNECTED, last_error=None, **fields)

    async def _other_owner_of(self, point_id: UUID, phone_number: str | None) -> str | None:
        """The name of another point already using this WhatsApp number, if any."""
        if phone_number is None:
            return None
        async with self.sessions() as session:
            return await session.scalar(
                select(ServicePoint.name).where(ServicePoint.phone_number == phone_number, ServicePoint.id != point_id)
            )

    async def _on_drop(self, point: _Point, reason: str) -> None:
        linked = await self.transport.is_linked(point.id, self.credentials.root / str(point.id))
        await self._close_socket(point)
        if not linked:
            # Never linked: retrying would only show QR after QR. Say so and wait for a person.
            await self._set(point, WhatsappStatus.DISCONNECTED, last_error=messages.UNLINKED_DROP)
            return
        delay = backoff_delay(self.policy, point.attempt)
        point.attempt += 1
        logger.info("point %s: connection lost (%s); reconnect %d in %.1f s", point.id, reason, point.attempt, delay)
        await self._set(point, WhatsappStatus.CONNECTING, last_error=messages.reconnecting(delay))
        point.reconnect = self._spawn(self._reconnect_later(point, point.generation, delay))

    async def _reconnect_later(self, point: _Point, generation: int, delay: float) -> None:
        await asyncio.sleep(delay)
        async with point.lock:
            if point.generation == generation and point.socket is None and not self._stopping:
                await self._open(point, clear_error=False)

    async def _give_up_later(self, point: _Point, generation: int) -> None:
        await asyncio.sleep(self.policy.qr_give_up_seconds)
        async with point.lock:
            if point.generation == generation and point.status is not WhatsappStatus.CONNECTED:
                point.give_up = None  # this very task: do not cancel it while it finishes
                await self._close_socket(point)
                await self._set(point, WhatsappStatus.DISCONNECTED, last_error=messages.QR_EXPIRED)

    # --- internals -----------------------------------------------------------------------------------------

    def _point(self, point_id: UUID) -> _Point:
        point = self._points.get(point_id)
        if point is None:
            point = self._points[point_id] = _Point(point_id)
        return point

    async def _open(self, point: _Point, *, clear_error: bool) -> None:
        """Open a fresh socket (caller holds the lock). A connect that fails at once is a network drop."""
        self._size_executor()
        point.generation += 1
        point.qr, point.qr_count = None, 0
        point.qr_ready.clear()
        store = self.credentials.directory(point.id)
        socket = self.transport.open(point.id, store, self._sink(point, point.generation))
        point.socket = socket
        extra: dict[str, Any] = {"last_error": None} if clear_error else {}
        await self._set(point, WhatsappStatus.CONNECTING, **extra)
        try:
            await socket.connect()
        except Exception as exc:  # any failure to start is treated like a dropped connection
            logger.warning("point %s: connect failed: %s", point.id, type(exc).__name__)
            await self._on_drop(point, str(exc) or type(exc).__name__)

    async def _close_socket(self, point: _Point) -> None:
        """Close the current socket (if any) and stop its timers; later events of it are ignored."""
        self._cancel(point.give_up)
        self._cancel(point.reconnect)
        point.give_up = point.reconnect = None
        point.qr = None
        point.qr_ready.clear()
        point.generation += 1
        socket, point.socket = point.socket, None
        if socket is not None:
            try:
                await asyncio.wait_for(socket.close(), self.policy.close_timeout_seconds)
            except Exception:
                logger.warning("point %s: socket did not close cleanly", point.id, exc_info=True)

    async def _forget_credentials(self, point_id: UUID) -> None:
        self.credentials.delete(point_id)
        await self.transport.forget(point_id, self.credentials.root / str(point_id))

    def _ours(self, point_id: UUID) -> Any:
        """The condition that fences a write: the point's lease is still ours, under the epoch we claimed."""
        return exists().where(
            PointLease.service_point_id == point_id,
            PointLease.replica_id == self.leases.replica_id,
            PointLease.epoch == self.leases.epoch(point_id),
        )

    async def _share_qr(self, point: _Point, qr: PendingQr | None) -> None:
        async with self.sessions() as session, session.begin():
            await session.execute(
                update(PointLease)
                .where(PointLease.service_point_id == point.id, self._ours(point.id))
                .values(qr_code=qr.code if qr else None, qr_expires_at=qr.expires_at if qr else None)
            )

    async def _set(
        self, point: _Point, status: WhatsappStatus, only_if_not: WhatsappStatus | None = None, **fields: Any
    ) -> None:
        """Persist the status (and any other columns) of the point while it is ours, then tell live subscribers."""
        point.status = status
        if self.leases.epoch(point.id) is None:
            return  # not ours (any more): the owner writes
        values = {"whatsapp_status": status, **fields}
        condition = [ServicePoint.id == point.id, self._ours(point.id)]
        if only_if_not is not None:
            condition.append(ServicePoint.whatsapp_status != only_if_not)
        async with self.sessions() as session, session.begin():
            row = (
                await session.execute(
                    update(ServicePoint)
                    .where(*condition)
                    .values(**values)
                    .returning(ServicePoint.phone_number, ServicePoint.last_qr_at, ServicePoint.last_error)
                )
            ).one_or_none()
            if row is not None:  # (None: the point was deleted meanwhile)
                after_commit(
                    session,
                    WhatsappStatusChanged(
                        service_point_id=point.id,
                        status=status,
                        phone_number=row.phone_number,
                        last_qr_at=row.last_qr_at,
                        qr_available=self.pending_qr(point.id) is not None,
                        last_error=row.last_error,
                    ),
                )

    def _spawn(self, coroutine: Awaitable[Any]) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("session task failed", exc_info=task.exception())

    @staticmethod
    def _cancel(task: asyncio.Task[Any] | None) -> None:
        if task is not None and task is not asyncio.current_task() and not task.done():
            task.cancel()

"""An in-process phone network that stands in for WhatsApp's servers (WHATSAPP_TRANSPORT=simulator).

It replaces only the socket: the session manager, its state machine and the HTTP API run exactly as with neonize.
Phones "scan" QR codes, drop connections, log out and write messages through the simulator endpoints.

What WhatsApp keeps on its servers lives in PostgreSQL, so every replica sees the same network and a point's phone
outlives the replica whose socket served it: the phone linked to each point (`simulator_phone`), what each point
sent to the customers' phones (`simulator_sent`, what tests and demos count as received) and the media server
(`simulator_media`). The phone side of a socket (deliver, acknowledge, drop) runs in memory: the network keeps
handing customers' messages over while our database is away.

Like WhatsApp, a phone serves one connection of a linked device: a newer socket replaces the older one, whose sends
are refused from then on (a paused old owner never reaches a customer). Like whatsmeow, it honours caller-chosen
message ids: a resend with the same id does not show the customer a second copy.

Files travel as on WhatsApp: the sender uploads them to the media server and the message carries only a handle
(the file's SHA-256); the receiving socket downloads them later, and a file the server no longer has is gone for good.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import secrets
import string
from collections import OrderedDict
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal
from uuid import UUID, uuid4

from sqlalchemy import case, delete, exists, func, select, text, update
from sqlalchemy.dialects.postgresql import insert

from ventanilla.batching import MicroBatcher
from ventanilla.db.models import ServicePoint, SimulatorMedia, SimulatorPhone, SimulatorSent
from ventanilla.db.session import SessionFactory
from ventanilla.whatsapp.transport import (
    Connected,
    Disconnected,
    EventSink,
    InboundMessage,
    LoggedOut,
    MediaRef,
    OutgoingMedia,
    QrCode,
    Reaction,
    Receipt,
    Replaced,
    SessionEvent,
    TransportError,
)

_SHA256_HEX = frozenset("0123456789abcdef")
RECENT_SENDS = 10_000  # (point, id) pairs of the last sends kept in memory: receipts for them need no database


class SimulatorError(Exception):
    """The simulated phone cannot do that now (no QR pending, socket not connected)."""


class Phones:
    """The phone linked to each point, and which socket of the point it serves now (`simulator_phone`)."""

    def __init__(self, sessions: SessionFactory) -> None:
        self.sessions = sessions

    async def link(self, service_point_id: UUID, phone_number: str, socket_id: UUID) -> None:
        """The phone scanned the QR of socket `socket_id`: linked, served by that socket."""
        values = {"phone_number": phone_number, "socket_id": socket_id, "linked_at": datetime.now(UTC)}
        statement = insert(SimulatorPhone).values(service_point_id=service_point_id, **values)
        async with self.sessions() as session, session.begin():
            await session.execute(statement.on_conflict_do_update(index_elements=["service_point_id"], set_=values))

    async def take_over(self, service_point_id: UUID, socket_id: UUID) -> str | None:
        """A socket connects: the linked phone serves it from now on (older sockets are replaced). The phone's
        number, or None when the point has no linked phone."""
        async with self.sessions() as session, session.begin():
            return await session.scalar(
                update(SimulatorPhone)
                .where(SimulatorPhone.service_point_id == service_point_id)
                .values(socket_id=socket_id)
                .returning(SimulatorPhone.phone_number)
            )

    async def is_linked(self, service_point_id: UUID) -> bool:
        linked = exists().where(SimulatorPhone.service_point_id == service_point_id)
        async with self.sessions() as session:
            return bool(await session.scalar(select(linked)))

    async def forget(self, service_point_id: UUID) -> None:
        """Unlink the phone, after any send in flight (it holds the phone's row). Unless the point itself is being
        deleted: its deletion takes the link with it (cascade), and its request forgets the point's session before
        committing, so waiting for that row would wait forever. Only a deletion locks a point's row FOR UPDATE,
        which FOR KEY SHARE SKIP LOCKED passes over."""
        point_stays = (
            select(ServicePoint.id)
            .where(ServicePoint.id == service_point_id)
            .with_for_update(read=True, key_share=True, skip_locked=True)
        )
        async with self.sessions() as session, session.begin():
            await session.execute(delete(SimulatorPhone).where(SimulatorPhone.service_point_id.in_(point_stays)))


class MediaServer:
    """WhatsApp's media server, simulated (`simulator_media`): a file uploaded once is kept under its SHA-256, and
    the handle a message carries is that digest. Deleting a row is how a test makes a download "expired"."""

    def __init__(self, sessions: SessionFactory) -> None:
        self.sessions = sessions

    async def upload(self, data: bytes) -> str:
        """Keep `data` (once) and return its digest."""
        digest = (await asyncio.to_thread(hashlib.sha256, data)).hexdigest()  # up to MEDIA_MAX_BYTES: off the loop
        async with self.sessions() as session, session.begin():
            await session.execute(insert(SimulatorMedia).values(sha256=digest, data=data).on_conflict_do_nothing())
        return digest

    async def fetch(self, handle: bytes, max_bytes: int) -> bytes:
        """The file a handle names; TransportError(permanent=True) when it never will be (unknown, gone, too large).
        One statement, and the bytes of a file over `max_bytes` are never read (octet_length reads the size only)."""
        digest = handle.decode("ascii", "replace")
        if len(digest) != 64 or not _SHA256_HEX.issuperset(digest):
            raise TransportError("not a media handle of this network", permanent=True)
        size = func.octet_length(SimulatorMedia.data)
        async with self.sessions() as session:
            found = (
                await session.execute(
                    select(size, case((size <= max_bytes, SimulatorMedia.data))).where(SimulatorMedia.sha256 == digest)
                )
            ).one_or_none()
        if found is None:
            raise TransportError("the media server no longer has this file (expired)", permanent=True)
        file_size, data = found
        if data is None:
            raise TransportError(f"the file has {file_size} bytes, more than {max_bytes}", permanent=True)
        return data


@dataclass(frozen=True, slots=True)
class SentMedia:
    mime_type: str
    file_name: str | None
    size: int
    sha256: str  # the bytes are on the media server under this name


@dataclass(frozen=True, slots=True)
class SentMessage:
    """What a customer's phone received. `text` is the caption of a file; `from_phone`: written on the linked phone
    itself."""

    to: str
    text: str
    message_id: str
    sent_at: datetime
    media: SentMedia | None = None
    from_phone: bool = False


Recorded = Literal["sent", "resent", "replaced"]  # shown now; already shown under that id; refused (replaced socket)
# Many sends in one statement: each row is kept only while its phone serves the sending socket (locked FOR SHARE
# against a connect that replaces it), and once per (point, message id).
_APPEND = text(
    """
    WITH sending AS (
        SELECT * FROM unnest(
            CAST(:points AS uuid[]), CAST(:sockets AS uuid[]), CAST(:ids AS text[]), CAST(:tos AS text[]),
            CAST(:texts AS text[]), CAST(:ats AS timestamptz[]), CAST(:from_phone AS boolean[]),
            CAST(:media AS text[])
        ) WITH ORDINALITY AS s (point, socket, message_id, to_phone, text, sent_at, from_phone, media, n)
    ), served AS (
        SELECT s.n FROM sending AS s
        JOIN simulator_phone AS p ON p.service_point_id = s.point AND p.socket_id = s.socket
        FOR SHARE OF p
    ), shown AS (
        INSERT INTO simulator_sent (service_point_id, message_id, to_phone, text, sent_at, from_phone, media)
        SELECT s.point, s.message_id, s.to_phone, s.text, s.sent_at, s.from_phone, CAST(s.media AS jsonb)
        FROM sending AS s JOIN served USING (n) ORDER BY s.n
        ON CONFLICT ON CONSTRAINT uq_simulator_sent_point_message DO NOTHING
        RETURNING service_point_id, message_id
    )
    SELECT s.n, served.n IS NOT NULL AS served, shown.message_id IS NOT NULL AS shown
    FROM sending AS s LEFT JOIN served USING (n)
    LEFT JOIN shown ON shown.service_point_id = s.point AND shown.message_id = s.message_id
    """
)


class SentRecord:
    """What reached the customers' phones (`simulator_sent`): once per point and message id, in order of arrival.

    The ids this process sent last are remembered in memory too (`RECENT_SENDS`), so a phone acknowledges a recent
    message while the database is away, as the phone side must.
    """

    def __init__(self, sessions: SessionFactory) -> None:
        self.sessions = sessions
        self._recent: OrderedDict[tuple[UUID, str], None] = OrderedDict()
        self._batcher: MicroBatcher[tuple[UUID, UUID, SentMessage], Recorded] = MicroBatcher(self._write)

    async def append(self, service_point_id: UUID, socket_id: UUID, message: SentMessage) -> Recorded:
        """Record `message`, sent by socket `socket_id`, only while the point's phone serves that socket.

        Sends arriving together are recorded in one statement (group commit: each caller still returns only once
        its own row is committed, so a kill -9 right after a send finds it recorded). The phones' rows are locked
        FOR SHARE, so a connect replacing a socket either waits until these sends are in, or has replaced it
        already and its sends are refused. A repeated id inserts nothing.
        """
        recorded = await self._batcher.submit((service_point_id, socket_id, message))
        if recorded != "replaced":
            self._remember(service_point_id, message.message_id)
        return recorded

    async def _write(self, batch: list[tuple[UUID, UUID, SentMessage]]) -> list[Recorded]:
        params = {
            "points": [point for point, _, _ in batch],
            "sockets": [socket for _, socket, _ in batch],
            "ids": [m.message_id for _, _, m in batch],
            "tos": [m.to for _, _, m in batch],
            "texts": [m.text for _, _, m in batch],
            "ats": [m.sent_at for _, _, m in batch],
            "from_phone": [m.from_phone for _, _, m in batch],
            "media": [json.dumps(asdict(m.media)) if m.media else None for _, _, m in batch],
        }
        async with self.sessions() as session, session.begin():
            rows = (await session.execute(_APPEND, params)).all()
        outcome: dict[int, Recorded] = {
            row.n: ("replaced" if not row.served else "sent" if row.shown else "resent") for row in rows
        }
        return [outcome[n] for n in range(1, len(batch) + 1)]

    def _remember(self, service_point_id: UUID, message_id: str) -> None:
        key = (service_point_id, message_id)
        self._recent[key] = None
        self._recent.move_to_end(key)
        if len(self._recent) > RECENT_SENDS:
            self._recent.popitem(last=False)

    async def read(self, service_point_id: UUID) -> list[SentMessage]:
        async with self.sessions() as session:
            rows = await session.scalars(
                select(SimulatorSent)
                .where(SimulatorSent.service_point_id == service_point_id)
                .order_by(SimulatorSent.seq)
            )
            return [
                SentMessage(
                    to=row.to_phone,
                    text=row.text,
                    message_id=row.message_id,
                    sent_at=row.sent_at,
                    media=SentMedia(**row.media) if row.media else None,
                    from_phone=row.from_phone,
                )
                for row in rows
            ]

    async def has(self, service_point_id: UUID, message_id: str) -> bool:
        """Did this point send `message_id` (the phone can only acknowledge what it received)? A recent send of
        this process is known without the database."""
        if (service_point_id, message_id) in self._recent:
            return True
        sent = exists().where(
            SimulatorSent.service_point_id == service_point_id, SimulatorSent.message_id == message_id
        )
        async with self.sessions() as session:
            return bool(await session.scalar(select(sent)))


class SimulatorSocket:
    """One point's simulated socket. The phone side (scan, drop, deliver) is driven by the simulator endpoints."""

    def __init__(self, network: SimulatorTransport, service_point_id: UUID, store: Path, events: EventSink) -> None:
        self.network = network
        self.service_point_id = service_point_id
        self.store = store
        self.events = events
        self.socket_id = uuid4()  # how the phone tells this connection from a newer one
        self.connected = False
        self.closed = False
        self.replaced = False  # a newer socket of the point took the phone: every send is refused
        self.pending_qr: str | None = None
        self._rotation: asyncio.Task[None] | None = None

    # --- the Socket protocol (called by the session manager) ---

    async def connect(self) -> None:
        self.network.sockets[self.service_point_id] = self
        phone = await self.network.phones.take_over(self.service_point_id, self.socket_id)
        if phone is not None:
            self._emit_later(Connected(phone_number=phone))
            self.connected = True
        else:
            self._rotation = asyncio.create_task(self._rotate_qr_codes())

    async def close(self) -> None:
        self.closed = True
        self.connected = False
        self.pending_qr = None
        if self._rotation is not None:
            self._rotation.cancel()
        if self.network.sockets.get(self.service_point_id) is self:
            del self.network.sockets[self.service_point_id]

    async def logout(self) -> None:
        await self.close()

    async def request_pairing_code(self, phone_number: str) -> str:
        if self.connected or self.pending_qr is None:
            raise TransportError("pairing codes are only available while the point is waiting to be linked")
        alphabet = string.ascii_uppercase + string.digits
        code = "".join(secrets.choice(alphabet) for _ in range(8))
        return f"{code[:4]}-{code[4:]}"

    async def send_text(self, to_phone: str, text: str, message_id: str) -> str:
        self._require_open()
        await self._record(SentMessage(to_phone, text, message_id, datetime.now(UTC)))
        return message_id

    async def send_media(self, to_phone: str, media: OutgoingMedia, caption: str, message_id: str) -> str:
        """Upload, then send: the phone gets the caption and the file, which stays on the media server."""
        self._require_open()
        if await self.network.record.has(self.service_point_id, message_id):
            return message_id  # a resend: neither uploaded nor shown again
        digest = await self.network.media.upload(media.data)
        self._require_open()  # the upload took a while: the socket may have dropped meanwhile
        sent = SentMedia(media.mime_type, media.file_name, len(media.data), digest)
        await self._record(SentMessage(to_phone, caption, message_id, datetime.now(UTC), sent))
        return message_id

    async def download(self, media: MediaRef, max_bytes: int) -> bytes:
        self._require_open()
        return await self.network.media.fetch(media.handle, max_bytes)

    def _require_open(self) -> None:
        """For the service's calls: a TransportError, as a real socket raises (the caller may try again later)."""
        if self.replaced:
            raise TransportError("replaced: a newer connection of this point serves its phone")
        if not self.connected or self.closed:
            raise TransportError("websocket not connected")

    async def _record(self, message: SentMessage) -> None:
        """Hand `message` to the customer's phone, unless a newer socket took the phone (then tell the manager,
        once, as WhatsApp does with a replaced session, and refuse)."""
        if await self.network.record.append(self.service_point_id, self.socket_id, message) == "replaced":
            if not self.replaced:
                self.replaced = True
                self._emit_later(Replaced())
            raise TransportError("replaced: a newer connection of this point serves its phone")

    # --- the phone side (called by the simulator endpoints) ---

    async def scan(self, phone_number: str) -> None:
        """The phone links this socket (the one database write of the phone side)."""
        if self.pending_qr is None:
            raise SimulatorError("no QR code is waiting to be scanned")
        await self.network.phones.link(self.service_point_id, phone_number, self.socket_id)
        if self.closed:
            raise SimulatorError("the socket closed while the phone was linking")
        self.pending_qr = None
        if self._rotation is not None:
            self._rotation.cancel()
        self.connected = True
        await self.events(Connected(phone_number=phone_number))

    async def drop(self, logged_out: bool) -> None:
        if not self.connected:
            raise SimulatorError("the point is not connected")
        self.connected = False
        if logged_out:
            await self.events(LoggedOut(reason="el teléfono cerró la sesión"))
        else:
            await self.events(Disconnected(reason="network"))

    async def deliver(self, message: InboundMessage | Reaction) -> None:
        """A customer's message (or reaction) reaches the socket; its files are on the media server already."""
        self.require_connected()
        await self.events(message)

    async def write_from_phone(self, to_phone: str, text: str, message_id: str) -> None:
        """The branch's staff write on the linked phone itself: the customer receives it (the record says so), and
        the socket sees it as a message of the chat that this service did not send. TransportError when a newer
        socket serves the phone."""
        self.require_connected()
        now = datetime.now(UTC)
        await self._record(SentMessage(to_phone, text, message_id, now, from_phone=True))
        await self.events(
            InboundMessage(
                provider_message_id=message_id, customer_phone=to_phone, text=text, timestamp=now, from_phone=True
            )
        )

    def require_connected(self) -> None:
        """For the phone side (the simulator endpoints): a SimulatorError, answered 409."""
        if not self.connected:
            raise SimulatorError("the point is not connected")

    async def acknowledge(self, receipt: Receipt) -> None:
        """The customer's phone reports it received (or read) messages this socket sent."""
        self.require_connected()
        await self.events(receipt)

    async def _rotate_qr_codes(self) -> None:
        """Like WhatsApp: a first code for a while (60 s), then a new one every so often (20 s), until linked."""
        first, later = self.network.qr_seconds
        wait = first
        while not self.closed:
            self.pending_qr = f"2@{secrets.token_urlsafe(24)},{secrets.token_urlsafe(32)},{self.service_point_id}"
            await self.events(QrCode(code=self.pending_qr))
            await asyncio.sleep(wait)
            wait = later

    def _emit_later(self, event: SessionEvent) -> None:
        """Emit from a task of its own: the caller may hold what the manager's handler takes (the point's lock)."""
        task = asyncio.create_task(self.events(event))
        self.network.background.add(task)
        task.add_done_callback(self.network.background.discard)


class SimulatorTransport:
    name = "simulator"

    def __init__(self, sessions: SessionFactory, qr_seconds: tuple[float, float] = (60.0, 20.0)) -> None:
        self.qr_seconds = qr_seconds
        self.phones = Phones(sessions)
        self.record = SentRecord(sessions)
        self.media = MediaServer(sessions)
        self.sockets: dict[UUID, SimulatorSocket] = {}
        self.background: set[asyncio.Task[None]] = set()

    async def is_linked(self, service_point_id: UUID, store: Path) -> bool:
        """A phone is linked to the point (its credentials are the network's, not in `store`)."""
        return await self.phones.is_linked(service_point_id)

    async def forget(self, service_point_id: UUID, store: Path) -> None:
        """The link is gone (logout, logged out, number taken, point deleted): the next connect shows a QR."""
        await self.phones.forget(service_point_id)

    def open(self, service_point_id: UUID, store: Path, events: EventSink) -> SimulatorSocket:
        return SimulatorSocket(self, service_point_id, store, events)

    def socket(self, service_point_id: UUID) -> SimulatorSocket:
        socket = self.sockets.get(service_point_id)
        if socket is None or socket.closed:
            raise SimulatorError("the point has no open socket; connect it first")
        return socket

    async def shutdown(self) -> None:
        for socket in list(self.sockets.values()):
            await socket.close()

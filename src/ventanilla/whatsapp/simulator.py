"""An in-process phone network that stands in for WhatsApp's servers (WHATSAPP_TRANSPORT=simulator).

It replaces only the socket: the session manager, its state machine and the HTTP API run exactly as with neonize.
Phones "scan" QR codes, drop connections, log out and write messages through the simulator endpoints; what each
point's socket sent is appended to `$VENTANILLA_DATA_DIR/simulator/sent-<point>.jsonl`, so tests and demos can
count what customers really received, across restarts. Like whatsmeow, it honours caller-chosen message ids: a
resend with the same id does not show the customer a second copy.

Files travel as on WhatsApp: the sender uploads them to a media server (`MediaServer`, WhatsApp's CDN here) and the
message carries only a handle; the receiving socket downloads them later, and a file the server no longer has is
gone for good.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import secrets
import sqlite3
import string
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO
from uuid import UUID

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
    TransportError,
)

logger = logging.getLogger(__name__)
SESSION_FILE = "simulator-session.json"
INDEX_CACHE_KIB = 2048  # SQLite's page cache for the index of sent ids; the rest stays on disk
_INDEX_ID = "INSERT OR IGNORE INTO sent (point, id) VALUES (?, ?)"
_SHA256_HEX = frozenset("0123456789abcdef")


class SimulatorError(Exception):
    """The simulated phone cannot do that now (no QR pending, socket not connected)."""


class MediaServer:
    """WhatsApp's media server, simulated: a file uploaded once is kept under its SHA-256 (0600), and the handle a
    message carries is that digest. Deleting a file is how a test makes a download "expired"."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def upload(self, data: bytes) -> str:
        """Keep `data` (once) and return its digest. Blocking: run in a thread."""
        digest = hashlib.sha256(data).hexdigest()
        target = self.directory / digest
        if target.exists():
            return digest
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        temporary = self.directory / f".{digest}.{secrets.token_hex(4)}.tmp"
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(data)
            os.replace(temporary, target)  # never a half file under its real name
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
        return digest

    def fetch(self, handle: bytes, max_bytes: int) -> bytes:
        """The file a handle names; TransportError(permanent=True) when it never will be (unknown, gone, too large).
        Blocking: run in a thread."""
        digest = handle.decode("ascii", "replace")
        if len(digest) != 64 or not _SHA256_HEX.issuperset(digest):
            raise TransportError("not a media handle of this network", permanent=True)
        path = self.directory / digest
        try:
            size = path.stat().st_size
            if size > max_bytes:
                raise TransportError(f"the file has {size} bytes, more than {max_bytes}", permanent=True)
            return path.read_bytes()
        except FileNotFoundError:
            raise TransportError("the media server no longer has this file (expired)", permanent=True) from None


@dataclass(frozen=True, slots=True)
class SentMedia:
    mime_type: str
    file_name: str | None
    size: int
    sha256: str  # the bytes are on the media server under this name


@dataclass(frozen=True, slots=True)
class SentMessage:
    """One line of the record. `text` is the caption of a file; `from_phone`: written on the linked phone itself."""

    to: str
    text: str
    message_id: str
    sent_at: str
    media: SentMedia | None = None
    from_phone: bool = False

    def to_json(self) -> str:
        line: dict[str, Any] = asdict(self)
        if line["media"] is None:  # text sent by this service: the line as it always was
            del line["media"]
        if not line["from_phone"]:
            del line["from_phone"]
        return json.dumps(line, ensure_ascii=False)

    @classmethod
    def from_json(cls, line: str) -> SentMessage:
        """Also reads lines written before files and phone-sent messages were recorded."""
        fields = json.loads(line)
        media = fields.pop("media", None)
        return cls(**fields, media=SentMedia(**media) if media else None)


class SentRecord:
    """What reached the phones, one JSONL file per point; a message id is recorded once.

    Each line is written (and flushed to the operating system) before `send_text` returns, so even a kill -9
    right after a send leaves it in the record. The ids each point has sent are indexed in a private temporary SQLite
    database (deleted with the process), filled from a point's file at its first send of this run: exact however
    many messages were ever sent, while the process keeps only SQLite's small page cache in memory.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._index: sqlite3.Connection | None = None
        self._indexed: set[UUID] = set()  # points whose file is in the index
        self._files: dict[UUID, TextIO] = {}

    def _path(self, service_point_id: UUID) -> Path:
        return self.directory / f"sent-{service_point_id}.jsonl"

    def read(self, service_point_id: UUID) -> list[SentMessage]:
        path = self._path(service_point_id)
        if not path.exists():
            return []
        with path.open() as handle:
            return [SentMessage.from_json(line) for line in handle if line.strip()]

    def append(self, service_point_id: UUID, message: SentMessage) -> bool:
        """Record `message`; False when its id was already delivered (the phone shows it once)."""
        index = self._ids(service_point_id)
        key = (service_point_id.bytes, message.message_id)
        if index.execute(_INDEX_ID, key).rowcount == 0:
            return False
        try:
            handle = self._files.get(service_point_id)
            if handle is None:
                self.directory.mkdir(parents=True, exist_ok=True)
                handle = self._files[service_point_id] = self._path(service_point_id).open("a")
            handle.write(message.to_json() + "\n")
            handle.flush()
        except BaseException:
            index.execute("DELETE FROM sent WHERE point = ? AND id = ?", key)  # not delivered: may be sent again
            raise
        return True

    def has(self, service_point_id: UUID, message_id: str) -> bool:
        """Did this point's socket send `message_id` (the phone can only acknowledge what it received)?"""
        found = self._ids(service_point_id).execute(
            "SELECT 1 FROM sent WHERE point = ? AND id = ?", (service_point_id.bytes, message_id)
        )
        return found.fetchone() is not None

    def _ids(self, service_point_id: UUID) -> sqlite3.Connection:
        """The index, with this point's earlier sends in it (read from its file once per run)."""
        if self._index is None:
            # "": a private database in a temporary file, removed when closed (or when the process dies)
            self._index = sqlite3.connect("", isolation_level=None, check_same_thread=False)
            self._index.execute(f"PRAGMA cache_size = -{INDEX_CACHE_KIB}")
            self._index.execute("PRAGMA synchronous = OFF")  # rebuilt from the files at every start: never synced
            self._index.execute("CREATE TABLE sent (point BLOB, id TEXT, PRIMARY KEY (point, id)) WITHOUT ROWID")
        if service_point_id not in self._indexed:
            path = self._path(service_point_id)
            if path.exists():
                point = service_point_id.bytes
                with path.open() as lines:
                    self._index.execute("BEGIN")
                    try:
                        self._index.executemany(
                            _INDEX_ID, ((point, json.loads(line)["message_id"]) for line in lines if line.strip())
                        )
                    except BaseException:
                        self._index.execute("ROLLBACK")
                        raise
                    self._index.execute("COMMIT")
            self._indexed.add(service_point_id)
        return self._index

    def close(self) -> None:
        for handle in self._files.values():
            handle.close()
        self._files.clear()
        if self._index is not None:
            self._index.close()
            self._index = None
            self._indexed.clear()


class SimulatorSocket:
    """One point's simulated socket. The phone side (scan, drop, deliver) is driven by the simulator endpoints."""

    def __init__(self, network: SimulatorTransport, service_point_id: UUID, store: Path, events: EventSink) -> None:
        self.network = network
        self.service_point_id = service_point_id
        self.store = store
        self.events = events
        self.connected = False
        self.closed = False
        self.pending_qr: str | None = None
        self._rotation: asyncio.Task[None] | None = None

    # --- the Socket protocol (called by the session manager) ---

    async def connect(self) -> None:
        self.network.sockets[self.service_point_id] = self
        session = self.store / SESSION_FILE
        if session.exists():
            phone = json.loads(session.read_text())["phone"]
            asyncio.get_running_loop().call_soon(self._emit_later, Connected(phone_number=phone))
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
        sent_at = datetime.now(UTC).isoformat()
        self.network.record.append(self.service_point_id, SentMessage(to_phone, text, message_id, sent_at))
        return message_id

    async def send_media(self, to_phone: str, media: OutgoingMedia, caption: str, message_id: str) -> str:
        """Upload, then send: the phone gets the caption and the file, which stays on the media server."""
        self._require_open()
        if self.network.record.has(self.service_point_id, message_id):
            return message_id  # a resend: neither uploaded nor shown again
        digest = await asyncio.to_thread(self.network.media.upload, media.data)
        self._require_open()  # the upload took a while: the socket may have dropped meanwhile
        sent = SentMedia(media.mime_type, media.file_name, len(media.data), digest)
        sent_at = datetime.now(UTC).isoformat()
        self.network.record.append(self.service_point_id, SentMessage(to_phone, caption, message_id, sent_at, sent))
        return message_id

    async def download(self, media: MediaRef, max_bytes: int) -> bytes:
        self._require_open()
        return await asyncio.to_thread(self.network.media.fetch, media.handle, max_bytes)

    def _require_open(self) -> None:
        """For the service's calls: a TransportError, as a real socket raises (the caller may try again later)."""
        if not self.connected or self.closed:
            raise TransportError("websocket not connected")

    # --- the phone side (called by the simulator endpoints) ---

    async def scan(self, phone_number: str) -> None:
        if self.pending_qr is None:
            raise SimulatorError("no QR code is waiting to be scanned")
        self.store.mkdir(mode=0o700, parents=True, exist_ok=True)
        (self.store / SESSION_FILE).write_text(json.dumps({"phone": phone_number}))
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
        the socket sees it as a message of the chat that this service did not send."""
        self.require_connected()
        now = datetime.now(UTC)
        sent = SentMessage(to_phone, text, message_id, now.isoformat(), from_phone=True)
        self.network.record.append(self.service_point_id, sent)
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

    def _emit_later(self, event: Connected) -> None:
        task = asyncio.create_task(self.events(event))
        self.network.background.add(task)
        task.add_done_callback(self.network.background.discard)


class SimulatorTransport:
    name = "simulator"
    honours_message_ids = True

    def __init__(self, data_dir: Path, qr_seconds: tuple[float, float] = (60.0, 20.0)) -> None:
        self.qr_seconds = qr_seconds
        self.record = SentRecord(data_dir / "simulator")
        self.media = MediaServer(data_dir / "simulator" / "media")
        self.sockets: dict[UUID, SimulatorSocket] = {}
        self.background: set[asyncio.Task[None]] = set()

    def is_linked(self, store: Path) -> bool:
        return (store / SESSION_FILE).exists()

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
        self.record.close()

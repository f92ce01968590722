"""The real WhatsApp transport: whatsmeow (Go) through neonize. The only module that imports neonize.

One socket is one `NewAClient`. Its `connect()` runs a blocking Go call in a worker thread for the life of the
connection, and Go hands every event to the event loop with `run_coroutine_threadsafe`, which swallows exceptions.
So the handlers registered here only queue what arrives; one task per socket translates the queue in order and calls
the sink, catching everything. `translate` and the helpers above it are pure: they turn neonize's protobuf events
into the normalized events of `transport.py`.

Things neonize does not do for us: it remembers the first event loop of the process only (we set the current one on
every connect), its Go side dereferences nil when a client it no longer knows is used (so calls and Stop never
overlap), and whatsmeow logs customers' numbers verbatim (they are re-logged here, masked).
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import secrets
import sqlite3
from collections.abc import Awaitable, Callable
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from uuid import UUID

from google.protobuf.message import Message as Protobuf
from neonize.aioze import events as neonize_events
from neonize.aioze.client import ClientFactory, NewAClient
from neonize.aioze.events import (
    ClientOutdatedEv,
    ConnectedEv,
    ConnectFailureEv,
    DisconnectedEv,
    KeepAliveTimeoutEv,
    LoggedOutEv,
    MessageEv,
    PairStatusEv,
    ReceiptEv,
    StreamErrorEv,
    StreamReplacedEv,
    TemporaryBanEv,
)
from neonize.exc import PairPhoneError, SendMessageError
from neonize.proto import Neonize_pb2 as wa
from neonize.proto.waE2E.WAWebProtobufsE2E_pb2 import Message as WaMessage
from neonize.proto.waE2E.WAWebProtobufsE2E_pb2 import ProtocolMessage
from neonize.utils.jid import build_jid

from ventanilla.privacy import mask_numbers, mask_phone
from ventanilla.schemas import E164_PATTERN
from ventanilla.whatsapp.transport import (
    Connected,
    Disconnected,
    EventSink,
    InboundMessage,
    LoggedOut,
    QrCode,
    Receipt,
    Replaced,
    SessionEvent,
    TemporarilyBanned,
    TransportError,
    Unrecoverable,
)

logger = logging.getLogger(__name__)

SESSION_DB = "session.db"
PHONE_SERVER = "s.whatsapp.net"
LID_SERVER = "lid"
UNSUPPORTED = "[mensaje no compatible]"
EDITED_PREFIX = "(editado) "
STOP_GRACE_SECONDS = 3.0  # each wait of close(): for a logout, for calls in flight, for the Go call to return

_EVENTS = (
    ConnectedEv,
    PairStatusEv,
    DisconnectedEv,
    KeepAliveTimeoutEv,
    StreamErrorEv,
    LoggedOutEv,
    StreamReplacedEv,
    TemporaryBanEv,
    ConnectFailureEv,
    ClientOutdatedEv,
    MessageEv,
    ReceiptEv,
)
_RECEIPT_READ = {"DELIVERED": False, "READ": True, "PLAYED": True}  # receipt type -> read
_PLACEHOLDERS = (
    ("imageMessage", "[imagen]"),
    ("audioMessage", "[audio]"),
    ("videoMessage", "[video]"),
    ("ptvMessage", "[video]"),
    ("documentMessage", "[documento]"),
    ("stickerMessage", "[sticker]"),
    ("locationMessage", "[ubicación]"),
    ("liveLocationMessage", "[ubicación]"),
    ("contactMessage", "[contacto]"),
    ("contactsArrayMessage", "[contacto]"),
)
_TEXT_FIELDS = frozenset({"conversation", "extendedTextMessage"})
# Fields that travel along with content and are not content themselves.
_ENVELOPE_FIELDS = frozenset(
    {"messageContextInfo", "senderKeyDistributionMessage", "fastRatchetKeySenderKeyDistributionMessage"}
)
# What WhatsApp sends about other messages (receipts of a sort), never something a customer wrote.
_NOT_FOR_THE_INBOX = frozenset(
    {
        "protocolMessage",
        "reactionMessage",
        "encReactionMessage",
        "pollUpdateMessage",
        "keepInChatMessage",
        "pinInChatMessage",
        "encEventResponseMessage",
        "encCommentMessage",
    }
)
_LOGGED_OUT = frozenset({wa.LOGGED_OUT, wa.MAIN_DEVICE_GONE, wa.UNKNOWN_LOGOUT})
_REFUSED = frozenset({wa.CLIENT_OUTDATED, wa.BAD_USER_AGENT})
_PERMANENT_SEND_ERRORS = ("recipient", "invalid jid", "not on whatsapp")
_PERMANENT_PAIR_ERRORS = ("too short", "international")
_E164 = re.compile(E164_PATTERN)

T = TypeVar("T")


# --- pure helpers ------------------------------------------------------------------------------------------------


def _phone(jid: wa.JID) -> str | None:
    """The E.164 number of a phone JID (digits@s.whatsapp.net); None for LIDs, groups and everything else."""
    if jid.Server == PHONE_SERVER and jid.User.isdigit():
        return f"+{jid.User}"
    return None


def _jid_user(phone: str) -> str:
    if not _E164.match(phone):
        raise TransportError("the number is not in E.164 form (+593991234567)", permanent=True)
    return phone[1:]


def sender_phone(source: wa.MessageSource) -> str | None:
    """The sender's phone: the Sender when it is a phone JID, else the SenderAlt WhatsApp sends with a LID."""
    return _phone(source.Sender) or _phone(source.SenderAlt)


def _ignore_reason(event: MessageEv) -> str | None:
    """Why a message is not a customer writing to the point, or None when it is one."""
    source = event.Info.MessageSource
    server = source.Chat.Server
    if source.IsFromMe:
        return "the point's own message"
    if source.IsGroup or server == "g.us":
        return "a group message"
    if server == "broadcast" or source.BroadcastListOwner.User:
        return "a status or broadcast list message"
    if server == "newsletter":
        return "a channel message"
    return None


def message_text(content: WaMessage) -> str | None:
    """What the inbox shows: the text, a Spanish placeholder for media (plus its caption), None for non-content."""
    if content.conversation:
        return content.conversation
    if content.extendedTextMessage.text:
        return content.extendedTextMessage.text
    present = {field.name for field, _ in content.ListFields()} - _ENVELOPE_FIELDS - _TEXT_FIELDS
    for name, placeholder in _PLACEHOLDERS:
        if name in present:
            caption = getattr(getattr(content, name), "caption", "")
            return f"{placeholder} {caption}" if caption else placeholder
    if not present or present & _NOT_FOR_THE_INBOX:
        return None
    return UNSUPPORTED


def _edited_content(event: MessageEv) -> WaMessage | None:
    """The new content when the message is an edit (whatsmeow flags most, but not all, with IsEdit)."""
    content = event.Message
    if content.HasField("protocolMessage"):
        protocol = content.protocolMessage
        if protocol.type == ProtocolMessage.MESSAGE_EDIT and protocol.HasField("editedMessage"):
            return protocol.editedMessage
    return content if event.IsEdit else None


def _timestamp(milliseconds: int) -> datetime:
    """neonize 0.5 encodes MessageInfo.Timestamp with Go's UnixMilli (older releases used seconds)."""
    if milliseconds <= 0:
        return datetime.now(UTC)
    return datetime.fromtimestamp(milliseconds / 1000, UTC)


def _enum_name(message: Protobuf, field: str, enum: Any) -> str:
    if not message.HasField(field):
        return "UNKNOWN"
    try:
        return str(enum.Name(getattr(message, field)))
    except ValueError:
        return "UNKNOWN"


def _inbound(event: MessageEv, sender: str | None) -> InboundMessage | None:
    info = event.Info
    reason = _ignore_reason(event)
    if reason is not None:
        logger.debug("ignoring message %s: %s", info.ID, reason)
        return None
    edited = _edited_content(event)
    text = message_text(edited if edited is not None else event.Message)
    if text is None:
        logger.debug("ignoring message %s: no customer content", info.ID)
        return None
    phone = sender or sender_phone(info.MessageSource)
    if phone is None:
        logger.warning(
            "dropping message %s: no phone number for its %s sender", info.ID, info.MessageSource.Sender.Server
        )
        return None
    return InboundMessage(
        provider_message_id=info.ID,
        customer_phone=phone,
        text=EDITED_PREFIX + text if edited is not None else text,
        timestamp=_timestamp(info.Timestamp),
        push_name=info.Pushname or None,
    )


def _receipt(event: ReceiptEv) -> Receipt | None:
    """The customer's phone got (DELIVERED) or opened (READ; PLAYED for a voice note) messages we sent. Receipts
    from our own other devices, retries and server notices are not news about the customer."""
    if event.MessageSource.IsFromMe or not event.MessageIDs:
        return None
    kind = _enum_name(event, "Type", ReceiptEv.ReceiptType)
    if kind not in _RECEIPT_READ:
        return None
    return Receipt(provider_message_ids=tuple(event.MessageIDs), read=_RECEIPT_READ[kind])


def _connect_failure(event: ConnectFailureEv) -> SessionEvent:
    name = _enum_name(event, "Reason", wa.ConnectFailureReason)
    reason = event.Reason if event.HasField("Reason") else None
    if reason in _LOGGED_OUT:
        return LoggedOut(reason=name)
    if reason == wa.TEMP_BANNED:
        return TemporarilyBanned(until=None, reason=name)
    if reason in _REFUSED:
        return Unrecoverable(reason=name)
    return Disconnected(
        reason=f"connect failure {name}: {event.Message}" if event.Message else f"connect failure {name}"
    )


def translate(event: Protobuf, *, sender: str | None = None, now: datetime | None = None) -> SessionEvent | None:
    """The session event for one neonize event; None for what the manager does not need.

    `sender` is the phone the caller looked up for a message whose sender is only a LID; `now` dates a ban.
    `Connected` comes without the phone here: finding it needs the client.
    """
    match event:
        case MessageEv():
            return _inbound(event, sender)
        case ReceiptEv():
            return _receipt(event)
        case ConnectedEv():
            return Connected(phone_number=None)
        case DisconnectedEv():
            return Disconnected(reason="connection lost")
        case KeepAliveTimeoutEv():
            return Disconnected(reason="keepalive timeout")
        case StreamErrorEv():
            return Disconnected(reason=f"stream error {event.Code}".strip())
        case LoggedOutEv():
            return LoggedOut(reason=_enum_name(event, "Reason", wa.ConnectFailureReason))
        case StreamReplacedEv():
            return Replaced()
        case TemporaryBanEv():
            until = (now or datetime.now(UTC)) + timedelta(seconds=event.Expire) if event.Expire > 0 else None
            return TemporarilyBanned(until=until, reason=_enum_name(event, "Code", TemporaryBanEv.TempBanReason))
        case ConnectFailureEv():
            return _connect_failure(event)
        case ClientOutdatedEv():
            return Unrecoverable(reason="CLIENT_OUTDATED")
    return None


# --- files and logs -----------------------------------------------------------------------------------------------


def _create_database(store: Path) -> None:
    """Create the session database 0600 before SQLite does (it would follow the umask); its journals inherit it."""
    os.close(os.open(store / SESSION_DB, os.O_CREAT | os.O_WRONLY, 0o600))


def _make_private(store: Path) -> None:
    """Whoever reads these files can act as the branch's WhatsApp."""
    for path in store.iterdir():
        if path.is_file() and path.stat().st_mode & 0o077:
            path.chmod(0o600)


class _MaskedRelay(logging.Handler):
    """Re-logs whatsmeow's records under this module, with phone-like numbers masked (Go logs JIDs verbatim)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            logger.log(record.levelno, "%s: %s", record.name, mask_numbers(record.getMessage()))
        except (TypeError, ValueError):  # a record whose arguments do not fit its format
            self.handleError(record)


def _relay_whatsmeow_logs() -> None:
    # neonize re-logs Go's lines under "whatsmeow.<module>" and "Whatsmeow.Database".
    for name in ("whatsmeow", "Whatsmeow"):
        go_logger = logging.getLogger(name)
        if not any(isinstance(handler, _MaskedRelay) for handler in go_logger.handlers):
            go_logger.addHandler(_MaskedRelay())
        go_logger.propagate = False
    # We never touch media; its warning about a missing ffmpeg would only mislead operators.
    logging.getLogger("neonize.utils.ffmpeg").setLevel(logging.ERROR)


# --- the socket ---------------------------------------------------------------------------------------------------


async def _stop_client(client: NewAClient) -> None:
    """Go's Stop: disconnect, forget the client, end its blocking connect call. A no-op for an unknown client."""
    try:
        await client.stop()
    except Exception:
        logger.warning("stopping a whatsmeow client failed", exc_info=True)


class NeonizeSocket:
    """One point's whatsmeow client. Events are queued as they arrive and delivered to the sink one at a time."""

    def __init__(self, service_point_id: UUID, store: Path, events: EventSink) -> None:
        self.service_point_id = service_point_id
        self.store = store
        self._sink = events
        self._client: NewAClient | None = None
        self._queue: asyncio.Queue[Protobuf | SessionEvent | None] = asyncio.Queue()
        self._pump: asyncio.Task[None] | None = None
        self._go_calls: set[asyncio.Future[Any]] = set()
        self._stopping: asyncio.Future[None] | None = None
        self._closed = False
        self._connected = False
        self._showing_qr = False  # connected to WhatsApp and waiting to be linked
        self._phone: str | None = None

    # --- the Socket protocol ---

    async def connect(self) -> None:
        """Start whatsmeow and return; a connect that fails at once ends in a Disconnected event."""
        if self._closed:
            raise TransportError("this socket was closed; open a new one", permanent=True)
        if self._client is not None:
            return
        _create_database(self.store)
        # A fresh Go key per client: a stale client's Stop (neonize runs one when it is garbage collected) must
        # never hit the live one of the same point.
        key = f"{self.service_point_id}-{secrets.token_hex(4)}"
        client = NewAClient(name=str(self.store / SESSION_DB), uuid=key)
        self._subscribe(client)
        self._client = client
        self._pump = asyncio.create_task(self._deliver(), name=f"whatsapp-events-{self.service_point_id}")
        # neonize keeps the first loop of the process only; a later one (tests, an in-process restart) would
        # never see an event.
        neonize_events.event_global_loop = asyncio.get_running_loop()
        connection = await client.connect()
        connection.add_done_callback(lambda task: self._connection_ended(client, task))

    async def close(self) -> None:
        await self._shut_down(logout=False)

    async def logout(self) -> None:
        await self._shut_down(logout=True)

    async def request_pairing_code(self, phone_number: str) -> str:
        user = _jid_user(phone_number)
        client = self._client
        if client is None or self._connected or not self._showing_qr:
            raise TransportError("pairing codes are only available while the point is waiting to be linked")
        try:
            return await self._go(client, client.PairPhone, user, True)
        except PairPhoneError as exc:
            message = str(exc)
            permanent = any(marker in message.lower() for marker in _PERMANENT_PAIR_ERRORS)
            raise TransportError(f"WhatsApp refused the pairing code: {message}", permanent=permanent) from None

    async def send_text(self, to_phone: str, text: str, message_id: str) -> str:
        """Send `text`; whatsmeow picks the message id (neonize cannot pass ours), which is returned."""
        user = _jid_user(to_phone)
        if not text.strip():
            raise TransportError("an empty message cannot be sent", permanent=True)
        client = self._client
        if client is None or not self._connected:
            raise TransportError("not connected to WhatsApp")
        # A Message object, not a str: neonize would turn "@digits" in the text into mentions.
        try:
            response = await self._go(client, client.send_message, build_jid(user), WaMessage(conversation=text))
        except SendMessageError as exc:
            message = mask_numbers(str(exc))
            permanent = any(marker in message.lower() for marker in _PERMANENT_SEND_ERRORS)
            raise TransportError(f"WhatsApp did not take the message: {message}", permanent=permanent) from None
        logger.debug(
            "point %s: sent %s (ours %s) to %s", self.service_point_id, response.ID, message_id, mask_phone(to_phone)
        )
        return str(response.ID)

    # --- from Go to the sink ---

    def _subscribe(self, client: NewAClient) -> None:
        async def on_event(_: NewAClient, event: Protobuf) -> None:
            try:
                self._accept(client, event)
            except Exception:
                logger.exception("point %s: could not queue %s", self.service_point_id, type(event).__name__)

        async def on_qr(_: NewAClient, code: bytes) -> None:
            try:
                if self._accept(client, QrCode(code=code.decode())):
                    self._showing_qr = True
            except Exception:
                logger.exception("point %s: could not queue a QR code", self.service_point_id)

        for kind in _EVENTS:
            client.event(kind)(on_event)
        client.event.qr(on_qr)

    def _accept(self, client: NewAClient, item: Protobuf | SessionEvent) -> bool:
        """Queue without awaiting, so events keep Go's order; drop what a closed or replaced client still sends."""
        if client is not self._client or self._closed:
            return False
        self._queue.put_nowait(item)
        return True

    def _connection_ended(self, client: NewAClient, connection: asyncio.Task[Any]) -> None:
        error = None if connection.cancelled() else connection.exception()
        if client is not self._client or self._closed:
            return
        self._connected = self._showing_qr = False
        self._queue.put_nowait(Disconnected(reason=str(error) if error is not None else "whatsmeow stopped"))

    async def _deliver(self) -> None:
        """Translate and hand over one event at a time; nothing a sink or neonize does may stop the next one."""
        while True:
            item = await self._queue.get()
            if self._closed:
                return
            kind = f"neonize {type(item).__name__}"
            try:
                event = item if isinstance(item, SessionEvent) else await self._translate(item)
                if event is None:
                    continue
                if self._closed:
                    return
                kind = type(event).__name__
                self._track(event)
                await self._sink(event)
            except Exception:
                logger.exception("point %s: delivering %s failed", self.service_point_id, kind)

    async def _translate(self, event: Protobuf) -> SessionEvent | None:
        client = self._client
        if client is None:
            return None
        match event:
            case ConnectedEv():
                return Connected(phone_number=await self._own_phone(client))
            case PairStatusEv():
                self._paired(event)
                return None
            case MessageEv() if self._needs_lookup(event):
                return translate(event, sender=await self._phone_for_lid(client, event.Info.MessageSource.Sender))
        return translate(event)

    def _track(self, event: SessionEvent) -> None:
        if isinstance(event, Connected):
            self._connected, self._showing_qr = True, False
            _make_private(self.store)
            phone = mask_phone(event.phone_number) if event.phone_number else "an unknown number"
            logger.info("point %s: connected as %s", self.service_point_id, phone)
        elif isinstance(event, InboundMessage):
            phone = mask_phone(event.customer_phone)
            logger.debug("point %s: message %s from %s", self.service_point_id, event.provider_message_id, phone)
        elif not isinstance(event, QrCode):
            self._connected = self._showing_qr = False
            logger.info("point %s: %s", self.service_point_id, event)

    def _paired(self, event: PairStatusEv) -> None:
        if event.Status == PairStatusEv.SUCCESS:
            self._phone = _phone(event.ID)
            logger.info("point %s: linked to %s", self.service_point_id, mask_phone(self._phone or "unknown"))
        else:
            logger.warning("point %s: linking failed: %s", self.service_point_id, event.Error)

    @staticmethod
    def _needs_lookup(event: MessageEv) -> bool:
        source = event.Info.MessageSource
        return _ignore_reason(event) is None and sender_phone(source) is None and source.Sender.Server == LID_SERVER

    async def _own_phone(self, client: NewAClient) -> str | None:
        """The linked number from whatsmeow's device store (neonize never fills `client.me`), else the paired one."""
        try:
            device = await self._go(client, client.get_me)
        except Exception:
            logger.warning("point %s: could not read the linked number", self.service_point_id, exc_info=True)
            return self._phone
        return _phone(device.JID) or self._phone

    async def _phone_for_lid(self, client: NewAClient, lid: wa.JID) -> str | None:
        """Only for message events: whatsmeow has a LID store once linked (before that, Go crashes on it)."""
        try:
            jid = await self._go(client, client.get_pn_from_lid, build_jid(lid.User, LID_SERVER))
        except Exception:
            logger.warning("point %s: could not look up a LID sender", self.service_point_id, exc_info=True)
            return None
        return _phone(jid)

    # --- Go calls and stopping ---

    async def _go(self, client: NewAClient | None, call: Callable[..., Awaitable[T]], *args: Any) -> T:
        """Run a neonize call that looks `client` up in Go; close() waits for these before it stops the client.

        neonize's Go side keeps clients in a plain map, and a call that looks up a stopped client dereferences nil
        and kills the process. Shielded: a caller that gives up leaves the call running, and still counted.
        """
        if client is None or client is not self._client:
            raise TransportError("not connected to WhatsApp")
        future = asyncio.ensure_future(call(*args))
        self._go_calls.add(future)
        future.add_done_callback(self._forget_call)
        return await asyncio.shield(future)

    def _forget_call(self, future: asyncio.Future[Any]) -> None:
        self._go_calls.discard(future)
        if not future.cancelled():
            future.exception()  # retrieved: a caller that gave up must not leave an "unretrieved" warning

    async def _shut_down(self, *, logout: bool) -> None:
        if self._closed:
            return
        self._closed = True
        self._queue.put_nowait(None)  # wakes the delivery task, which ends; no event is delivered after this
        if self._client is not None:
            # Shielded: a caller that stops waiting (the manager allows close() 10 s) must not leave whatsmeow running.
            self._stopping = asyncio.ensure_future(self._stop(self._client, logout=logout and self._connected))
            await asyncio.shield(self._stopping)

    async def _stop(self, client: NewAClient, *, logout: bool) -> None:
        if logout:
            try:
                await asyncio.wait_for(self._go(client, client.logout), STOP_GRACE_SECONDS)
            except Exception:
                logger.warning("point %s: logout at WhatsApp failed", self.service_point_id, exc_info=True)
        connection = client.connect_task
        showing_qr = self._showing_qr
        known_to_go = self._connected or showing_qr or connection is None or connection.done()
        self._client = None
        self._connected = self._showing_qr = False
        if self._go_calls:  # quick lookups, or sends whose client Go has already looked up after this long
            await asyncio.wait(set(self._go_calls), timeout=STOP_GRACE_SECONDS)
        await _stop_client(client)
        if connection is not None and not connection.done() and not showing_qr:
            # Stop cancels the Go call's context, so it returns at once. Not while a QR is up: whatsmeow only
            # leaves its QR loop when the codes run out (about 160 s); the thread is left to finish on its own.
            await asyncio.wait({connection}, timeout=STOP_GRACE_SECONDS)
        if not known_to_go:
            await _stop_client(client)  # the first Stop may have run before Go registered the client, and missed it
        _make_private(self.store)


class NeonizeTransport:
    name = "neonize"
    # neonize 0.5's SendMessage(id, jid, message) builds whatsmeow's SendRequestExtra itself and never sets ID.
    honours_message_ids = False

    def __init__(self) -> None:
        _relay_whatsmeow_logs()

    def is_linked(self, store: Path) -> bool:
        """Whether whatsmeow's device table has a row: a QR attempt that nobody scanned leaves it empty.

        Read with sqlite3 rather than `ClientFactory.get_all_devices_from_db`, which creates a missing database and
        leaves one open SQLite handle behind per call; the manager asks after every drop.
        """
        database = store / SESSION_DB
        if not database.is_file():
            return False
        try:
            with closing(sqlite3.connect(f"{database.resolve().as_uri()}?mode=ro", uri=True, timeout=5)) as db:
                return db.execute("SELECT 1 FROM whatsmeow_device LIMIT 1").fetchone() is not None
        except sqlite3.OperationalError as exc:
            if "no such table" not in str(exc):
                logger.warning("cannot read %s: %s", database, exc)
            return False
        except sqlite3.Error as exc:
            logger.warning("cannot read %s: %s", database, exc)
            return False

    def open(self, service_point_id: UUID, store: Path, events: EventSink) -> NeonizeSocket:
        return NeonizeSocket(service_point_id, store, events)

    async def shutdown(self) -> None:
        """Stop any whatsmeow client still running and let go of the event loop neonize holds."""
        await ClientFactory.stop()
        neonize_events.event_global_loop = None

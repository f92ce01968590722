"""The real WhatsApp transport: whatsmeow (Go) through neonize. The only module that imports neonize.

One socket is one `NewAClient`. Its `connect()` runs a blocking Go call in a worker thread for the life of the
connection, and Go hands every event to the event loop with `run_coroutine_threadsafe`, which swallows exceptions.
So the handlers registered here only queue what arrives; one task per socket translates the queue in order and calls
the sink, catching everything. `translate`, `media_message` and the helpers above them are pure: they turn neonize's
protobuf events into the normalized events of `transport.py`, and a file to send into its message.

A received file is not fetched when it arrives: its `MediaRef.handle` is a serialized `Message` with just the fields
a download needs, which `download` hands back to whatsmeow when the pipeline asks for the bytes.

Things neonize does not do for us: it remembers the first event loop of the process only (we set the current one on
every connect), its Go side dereferences nil when a client it no longer knows is used (so calls and Stop never
overlap), and whatsmeow logs customers' numbers verbatim (they are re-logged here, masked).

Where the credentials live: a SQLite file in each point's private directory, or with a PostgreSQL address, one schema
per point in that database (`PostgresSessions`), so whichever replica owns a point resumes its device without a QR.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import secrets
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager, closing
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from uuid import UUID

import asyncpg
from google.protobuf.message import DecodeError
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
from neonize.exc import DownloadError, PairPhoneError, SendMessageError, UploadError
from neonize.proto import Neonize_pb2 as wa
from neonize.proto.waE2E.WAWebProtobufsE2E_pb2 import (
    AudioMessage,
    ContactMessage,
    DocumentMessage,
    FutureProofMessage,
    ImageMessage,
    ProtocolMessage,
    ReactionMessage,
    VideoMessage,
)
from neonize.proto.waE2E.WAWebProtobufsE2E_pb2 import Message as WaMessage
from neonize.utils.enum import MediaType
from neonize.utils.jid import build_jid
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from ventanilla.privacy import mask_numbers, mask_phone
from ventanilla.schemas import E164_PATTERN
from ventanilla.whatsapp.transport import (
    Connected,
    ContactCard,
    Disconnected,
    EventSink,
    InboundMessage,
    Location,
    LoggedOut,
    MediaRef,
    MessageType,
    OutgoingMedia,
    QrCode,
    Reaction,
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
# Content field -> the message type it is. ptvMessage (a round video note) is a VideoMessage.
_MEDIA: dict[str, MessageType] = {
    "imageMessage": "image",
    "audioMessage": "audio",
    "videoMessage": "video",
    "ptvMessage": "video",
    "documentMessage": "document",
    "stickerMessage": "sticker",
}
# whatsmeow's DownloadAny knows image, video, audio, document and sticker only: a video note travels as a video.
_HANDLE_FIELD = {"ptvMessage": "videoMessage"}
# What a download needs, and all a handle keeps: it is stored, so no caption, quoted message or thumbnail.
_DOWNLOAD_FIELDS = (
    "URL",
    "directPath",
    "mediaKey",
    "mediaKeyTimestamp",
    "fileSHA256",
    "fileEncSHA256",
    "fileLength",
    "mimetype",
)
# Wrappers whose `message` is the real content. whatsmeow unwraps them before the event reaches us (and flags
# IsDocumentWithCaption, IsViewOnce...); unwrapping again costs nothing if a release stops doing it.
_WRAPPERS = (
    "deviceSentMessage",
    "documentWithCaptionMessage",
    "ephemeralMessage",
    "viewOnceMessage",
    "viewOnceMessageV2",
    "viewOnceMessageV2Extension",
)
_TEXT_FIELDS = frozenset({"conversation", "extendedTextMessage"})
# Fields that travel along with content and are not content themselves.
_ENVELOPE_FIELDS = frozenset(
    {"messageContextInfo", "senderKeyDistributionMessage", "fastRatchetKeySenderKeyDistributionMessage"}
)
# What WhatsApp sends about other messages (receipts of a sort), never something a customer wrote. Reactions are
# handled before this applies; an encrypted one (encReactionMessage, in communities) would need its secret.
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
_UPLOAD_TYPES = {
    "image": MediaType.MediaImage,
    "video": MediaType.MediaVideo,
    "audio": MediaType.MediaAudio,
    "document": MediaType.MediaDocument,
}
_LOGGED_OUT = frozenset({wa.LOGGED_OUT, wa.MAIN_DEVICE_GONE, wa.UNKNOWN_LOGOUT})
_REFUSED = frozenset({wa.CLIENT_OUTDATED, wa.BAD_USER_AGENT})
_PERMANENT_SEND_ERRORS = ("recipient", "invalid jid", "not on whatsapp")
_PERMANENT_PAIR_ERRORS = ("too short", "international")
# Download errors no retry can fix: the file is gone (whatsmeow: "download failed with status code 404/410"),
# expired, or the handle points at nothing ("no url present", "didn't find any attachments in message").
_GONE_MEDIA_ERRORS = (
    "status code 404",
    "status code 410",
    "media not found",
    "expired",
    "no url present",
    "didn't find any attachments",
    "unknown media type",
)
_VCARD_FOLD = re.compile(r"\r?\n[ \t]")  # a vCard line continues on the next one when that starts with a blank
_WAID = re.compile(r"waid=(\d{8,15})", re.IGNORECASE)
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


def customer_jid(source: wa.MessageSource) -> wa.JID:
    """Who the chat is with: the sender, or for a message the branch wrote on its phone, the chat (the recipient)."""
    return source.Chat if source.IsFromMe else source.Sender


def customer_phone(source: wa.MessageSource) -> str | None:
    """The customer's phone; with a LID chat, the alternative (phone) address WhatsApp sends along, when it does."""
    if source.IsFromMe:
        return _phone(source.Chat) or _phone(source.RecipientAlt)
    return sender_phone(source)


def _ignore_reason(event: MessageEv) -> str | None:
    """Why a message is not part of a 1:1 chat with a customer, or None when it is one."""
    source = event.Info.MessageSource
    server = source.Chat.Server
    if source.IsGroup or server == "g.us":
        return "a group message"
    if server == "broadcast" or source.BroadcastListOwner.User:
        return "a status or broadcast list message"
    if server == "newsletter":
        return "a channel message"
    if source.IsFromMe:
        if server not in (PHONE_SERVER, LID_SERVER):
            return "the point's own message outside a chat with a customer"
        if source.Chat.User in {source.Sender.User, source.SenderAlt.User}:
            return "a note to self on the point's phone"
    return None


@dataclass(frozen=True, slots=True)
class Content:
    """What one message carries, before knowing who wrote it."""

    type: MessageType
    text: str  # the text, or the caption ("" when none)
    media: MediaRef | None = None
    location: Location | None = None
    contact: ContactCard | None = None
    reply_to: str | None = None


def _unwrap(content: WaMessage) -> WaMessage:
    for _ in range(len(_WRAPPERS)):  # bounded: wrappers nest (a view-once inside an ephemeral), never deeply
        wrapper = next((name for name in _WRAPPERS if content.HasField(name)), None)
        if wrapper is None:
            break
        content = getattr(content, wrapper).message
    return content


def _reply_to(part: Any) -> str | None:
    """The provider id of the quoted message, when this part of a message (text, file, place, card) quotes one."""
    if "contextInfo" not in part.DESCRIPTOR.fields_by_name or not part.HasField("contextInfo"):
        return None
    return part.contextInfo.stanzaID or None


def _media(field: str, part: Any) -> Content:
    """A file: a MediaRef whose handle is a Message with just what `download` needs to fetch it."""
    handle = WaMessage()
    target = getattr(handle, _HANDLE_FIELD.get(field, field))
    target.SetInParent()
    for name in _DOWNLOAD_FIELDS:
        if part.HasField(name):
            setattr(target, name, getattr(part, name))
    media = MediaRef(
        handle=handle.SerializeToString(),
        mime_type=part.mimetype or None,
        file_name=getattr(part, "fileName", "") or None,
        size=part.fileLength or None,
        voice=field == "audioMessage" and part.PTT,
    )
    return Content(_MEDIA[field], getattr(part, "caption", ""), media=media, reply_to=_reply_to(part))


def vcard_phones(vcard: str) -> tuple[str, ...]:
    """The numbers of a vCard's TEL lines: E.164 when WhatsApp's `waid` or a leading + gives the country, else as
    written (a local number cannot be completed without knowing where the contact lives)."""
    phones: dict[str, None] = {}
    for line in _VCARD_FOLD.sub("", vcard).splitlines():
        name, colon, value = line.partition(":")
        if not colon or name.split(";", 1)[0].rpartition(".")[2].strip().upper() != "TEL":
            continue
        waid = _WAID.search(name)
        digits = re.sub(r"\D", "", value)
        if waid:
            phone = f"+{waid.group(1)}"
        elif value.strip().startswith("+") and _E164.match(f"+{digits}"):
            phone = f"+{digits}"
        else:
            phone = value.strip()
        if phone and digits:
            phones[phone] = None
    return tuple(phones)


def _contact(name: str, cards: list[ContactMessage]) -> ContactCard:
    phones = dict.fromkeys(phone for card in cards for phone in vcard_phones(card.vcard))
    return ContactCard(
        name=name or ", ".join(card.displayName for card in cards if card.displayName), phones=tuple(phones)
    )


def message_content(content: WaMessage) -> Content | None:
    """What the inbox shows of a message; None for what is not customer content (protocol messages, reactions,
    nothing). Anything else nobody here understands is "unsupported", with a placeholder text."""
    content = _unwrap(content)
    if content.conversation:
        return Content("text", content.conversation)
    if content.extendedTextMessage.text:
        return Content("text", content.extendedTextMessage.text, reply_to=_reply_to(content.extendedTextMessage))
    present = {field.name for field, _ in content.ListFields()} - _ENVELOPE_FIELDS - _TEXT_FIELDS
    for field in _MEDIA:
        if field in present:
            return _media(field, getattr(content, field))
    if "locationMessage" in present:
        place = content.locationMessage
        location = Location(place.degreesLatitude, place.degreesLongitude, place.name or None, place.address or None)
        text = "\n".join(part for part in (place.name, place.address) if part)
        return Content("location", text, location=location, reply_to=_reply_to(place))
    if "liveLocationMessage" in present:
        live = content.liveLocationMessage
        location = Location(live.degreesLatitude, live.degreesLongitude)
        return Content("location", live.caption, location=location, reply_to=_reply_to(live))
    if "contactMessage" in present:
        card = content.contactMessage
        return Content("contact", "", contact=_contact(card.displayName, [card]), reply_to=_reply_to(card))
    if "contactsArrayMessage" in present:
        cards = content.contactsArrayMessage
        contact = _contact(cards.displayName, list(cards.contacts))
        return Content("contact", "", contact=contact, reply_to=_reply_to(cards))
    if not present or present & _NOT_FOR_THE_INBOX:
        return None
    return Content("unsupported", UNSUPPORTED)


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


def _what(event: MessageEv) -> Content | ReactionMessage | None:
    """The message's content, or its reaction; None for what is neither."""
    edited = _edited_content(event)
    if edited is not None:
        # An edit changes the text (or caption) of an earlier message: it arrives as a new text, marked as edited.
        content = message_content(edited)
        return Content("text", EDITED_PREFIX + content.text) if content is not None and content.text else None
    message = _unwrap(event.Message)
    if message.HasField("reactionMessage"):
        return message.reactionMessage if message.reactionMessage.key.ID else None
    return message_content(message)


def _chat_event(event: MessageEv, phone: str | None) -> InboundMessage | Reaction | None:
    """A customer's message or reaction; or a message the branch's staff wrote on the linked phone (or another of
    its linked devices), `from_phone`. whatsmeow never echoes what this device sent itself, and the pipeline keeps
    one message per (point, provider id), so our own sends are never taken for messages written on the phone."""
    info = event.Info
    source = info.MessageSource
    reason = _ignore_reason(event)
    if reason is not None:
        logger.debug("ignoring message %s: %s", info.ID, reason)
        return None
    what = _what(event)
    if what is None:
        logger.debug("ignoring message %s: no customer content", info.ID)
        return None
    if isinstance(what, ReactionMessage) and source.IsFromMe:
        logger.debug("ignoring reaction %s: the point's own", info.ID)
        return None
    phone = phone or customer_phone(source)
    if phone is None:
        logger.warning("dropping message %s: no phone number for its %s customer", info.ID, customer_jid(source).Server)
        return None
    if isinstance(what, ReactionMessage):
        return Reaction(
            provider_message_id=info.ID,
            customer_phone=phone,
            target_message_id=what.key.ID,
            emoji=what.text,
            timestamp=_timestamp(info.Timestamp),
        )
    return InboundMessage(
        provider_message_id=info.ID,
        customer_phone=phone,
        text=what.text,
        timestamp=_timestamp(info.Timestamp),
        push_name=None if source.IsFromMe else info.Pushname or None,  # from the phone: the staff's own name
        type=what.type,
        media=what.media,
        reply_to=what.reply_to,
        location=what.location,
        contact=what.contact,
        from_phone=source.IsFromMe,
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

    `sender` is the customer's phone the caller looked up when the message names the customer by a LID only (the
    sender, or the chat of a message written on the point's phone); `now` dates a ban.
    `Connected` comes without the phone here: finding it needs the client.
    """
    match event:
        case MessageEv():
            return _chat_event(event, sender)
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


def media_message(media: OutgoingMedia, caption: str, upload: wa.UploadResponse) -> WaMessage:
    """The message that carries an uploaded file, built as WhatsApp's apps build it. Not with neonize's
    build_*_message: those upload themselves, need ffmpeg for audio and video, and re-detect the type with libmagic.

    WhatsApp audio has no caption: an audio file sent with one goes as a document (`_sent_as`), so both arrive."""
    file: dict[str, Any] = {
        "URL": upload.url,
        "directPath": upload.DirectPath,
        "mediaKey": upload.MediaKey,
        "fileEncSHA256": upload.FileEncSHA256,
        "fileSHA256": upload.FileSHA256,
        "fileLength": upload.FileLength,
        "mimetype": media.mime_type,
    }
    text = caption or None
    match _sent_as(media, caption):
        case "image":
            return WaMessage(imageMessage=ImageMessage(caption=text, **file))
        case "video":
            return WaMessage(videoMessage=VideoMessage(caption=text, **file))
        case "audio":
            return WaMessage(audioMessage=AudioMessage(PTT=False, **file))
    name = media.file_name or "archivo"
    document = DocumentMessage(fileName=name, title=name, caption=text, **file)
    if text is None:
        return WaMessage(documentMessage=document)
    # How the apps send a captioned document; older clients would not show the caption of a bare one.
    return WaMessage(documentWithCaptionMessage=FutureProofMessage(message=WaMessage(documentMessage=document)))


def _sent_as(media: OutgoingMedia, caption: str) -> str:
    """How a file goes out: an audio cannot carry a caption, a document can."""
    return "document" if media.type == "audio" and caption else media.type


# --- files and logs -----------------------------------------------------------------------------------------------


def _create_database(store: Path) -> None:
    """Create the session database 0600 before SQLite does (it would follow the umask); its journals inherit it."""
    os.close(os.open(store / SESSION_DB, os.O_CREAT | os.O_WRONLY, 0o600))


def _make_private(store: Path) -> None:
    """Whoever reads these files can act as the branch's WhatsApp."""
    for path in store.iterdir():
        if path.is_file() and path.stat().st_mode & 0o077:
            path.chmod(0o600)


def _file_is_linked(store: Path) -> bool:
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


# --- credentials in PostgreSQL ------------------------------------------------------------------------------------

SCHEMA_PREFIX = "whatsmeow_"
# whatsmeow's pool (database/sql) keeps idle connections forever, and neonize never closes the pool of a stopped
# client: the server ends the idle ones, and the pool opens a new one when whatsmeow needs it (PostgreSQL 14+).
IDLE_SESSION_TIMEOUT_MS = 60_000
_CONNECT_TIMEOUT_SECONDS = 10
_LOCK_TIMEOUT = "10s"  # dropping a schema waits for a replica still using it no longer than this
# Parameters the SQLAlchemy asyncpg dialect takes for itself: either driver would send them to the server as settings.
_DIALECT_PARAMETERS = frozenset({"prepared_statement_cache_size", "prepared_statement_name_func"})
_SSL_FLAGS = {"true": "require", "false": "disable"}
_DATABASE_ERRORS = (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError)


def _portable_query(query: Mapping[str, str | tuple[str, ...]]) -> dict[str, str | tuple[str, ...]]:
    """The address's parameters as lib/pq (whatsmeow) and asyncpg both read them: asyncpg's `ssl=` becomes
    `sslmode=`, and with neither (nor PGSSLMODE) `sslmode=prefer`, asyncpg's default: lib/pq would demand TLS."""
    portable = {name: value for name, value in query.items() if name not in _DIALECT_PARAMETERS}
    ssl = portable.pop("ssl", None)
    if "sslmode" not in portable:
        if isinstance(ssl, str):
            portable["sslmode"] = _SSL_FLAGS.get(ssl.lower(), ssl)
        elif not os.environ.get("PGSSLMODE"):
            portable["sslmode"] = "prefer"
    return portable


class PostgresSessions:
    """Every point's whatsmeow store in one PostgreSQL database, each point in a schema of its own.

    neonize 0.5.2 hands an address that starts with `postgres` to whatsmeow's sqlstore (lib/pq) and opens the first
    device it finds there, so a schema per point, chosen by `search_path`, keeps the devices apart with no JID to
    remember, and forgetting a point is one DROP SCHEMA. whatsmeow's migration helper (go.mau.fi/util dbutil) asks
    information_schema whether its version table exists without naming a schema: where another point already has
    one it skips creating its own, then fails to read it. So the version table is created here, empty, before
    whatsmeow opens the schema, and whatsmeow installs the rest in it.
    """

    __slots__ = ("url",)

    def __init__(self, url: URL) -> None:
        self.url = url

    def __repr__(self) -> str:
        return f"PostgresSessions({self.url.render_as_string(hide_password=True)})"  # the password is never shown

    @classmethod
    def from_address(cls, address: str) -> PostgresSessions:
        """`postgresql+asyncpg://...` (the app's DATABASE_URL) or `postgresql://...`."""
        try:
            url = make_url(address)
        except ArgumentError:
            raise ValueError("the WhatsApp session database address is not a database URL") from None
        if url.get_backend_name() != "postgresql":
            raise ValueError("the WhatsApp session database must be PostgreSQL")
        return cls(url.set(drivername="postgresql", query=_portable_query(url.query)))

    @staticmethod
    def schema(service_point_id: UUID) -> str:
        return f"{SCHEMA_PREFIX}{service_point_id.hex}"  # hex digits only: a valid name that needs no quoting

    def whatsmeow_address(self, service_point_id: UUID, *, idle_timeout: bool) -> str:
        """What whatsmeow opens: lib/pq sends the parameters it does not know itself to the server as settings."""
        settings = {
            "search_path": self.schema(service_point_id),
            "application_name": f"ventanilla-wa-{service_point_id}",
        }
        if idle_timeout:
            settings["idle_session_timeout"] = str(IDLE_SESSION_TIMEOUT_MS)
        return self.url.update_query_dict(settings).render_as_string(hide_password=False)

    async def prepare(self, service_point_id: UUID) -> str:
        """Create the point's schema (private) with whatsmeow's version table; the address whatsmeow opens."""
        schema = self.schema(service_point_id)
        async with self._connection() as db:
            idle_timeout = db.get_server_version().major >= 14
            async with db.transaction():
                # Two replicas may prepare one point during a handover, and CREATE ... IF NOT EXISTS races.
                await db.execute("SELECT pg_advisory_xact_lock(hashtext('ventanilla.whatsmeow'), hashtext($1))", schema)
                await db.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
                await db.execute(f"REVOKE ALL ON SCHEMA {schema} FROM PUBLIC")  # whoever reads it is the branch
                await db.execute(
                    f"CREATE TABLE IF NOT EXISTS {schema}.whatsmeow_version (version INTEGER, compat INTEGER)"
                )
        return self.whatsmeow_address(service_point_id, idle_timeout=idle_timeout)

    async def is_linked(self, service_point_id: UUID) -> bool:
        table = f"{self.schema(service_point_id)}.whatsmeow_device"
        async with self._connection() as db:
            if await db.fetchval("SELECT to_regclass($1)", table) is None:
                return False
            return bool(await db.fetchval(f"SELECT EXISTS (SELECT 1 FROM {table})"))

    async def forget(self, service_point_id: UUID) -> None:
        async with self._connection() as db:
            await db.execute(f"DROP SCHEMA IF EXISTS {self.schema(service_point_id)} CASCADE")

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[asyncpg.Connection]:
        """One short connection per question: nothing stays open between the manager's calls."""
        db = await asyncpg.connect(
            self.url.render_as_string(hide_password=False),
            timeout=_CONNECT_TIMEOUT_SECONDS,
            server_settings={"lock_timeout": _LOCK_TIMEOUT, "application_name": "ventanilla-wa-store"},
        )
        try:
            yield db
        finally:
            await db.close()


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
    # We build media messages ourselves and never run ffmpeg; its warning about a missing one would mislead.
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

    def __init__(
        self, service_point_id: UUID, store: Path, events: EventSink, sessions: PostgresSessions | None = None
    ) -> None:
        self.service_point_id = service_point_id
        self.store = store
        self._sessions = sessions  # None: whatsmeow's SQLite file in `store`
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
        self._opening = False  # preparing the store, before the client exists

    # --- the Socket protocol ---

    async def connect(self) -> None:
        """Start whatsmeow and return; a connect that fails at once ends in a Disconnected event."""
        if self._closed:
            raise TransportError("this socket was closed; open a new one", permanent=True)
        if self._client is not None or self._opening:
            return
        self._opening = True
        try:
            database = await self._database()
        finally:
            self._opening = False
        if self._closed:
            raise TransportError("this socket was closed; open a new one", permanent=True)
        # A fresh Go key per client: a stale client's Stop (neonize runs one when it is garbage collected) must
        # never hit the live one of the same point.
        key = f"{self.service_point_id}-{secrets.token_hex(4)}"
        client = NewAClient(name=database, uuid=key)
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
        client = self._connected_client()
        # A Message object, not a str: neonize would turn "@digits" in the text into mentions.
        return await self._send(client, user, WaMessage(conversation=text), to_phone, message_id)

    async def send_media(self, to_phone: str, media: OutgoingMedia, caption: str, message_id: str) -> str:
        """Upload the file (encrypted by whatsmeow, to WhatsApp's media servers), then send the message that points
        at it; as with `send_text`, the id is whatsmeow's."""
        user = _jid_user(to_phone)
        if not media.data:
            raise TransportError("an empty file cannot be sent", permanent=True)
        if media.type not in _UPLOAD_TYPES:
            raise TransportError(f"files of type {media.type} cannot be sent", permanent=True)
        client = self._connected_client()
        # The upload's keys depend on how the file is sent (whatsmeow derives them from the media type).
        kind = _UPLOAD_TYPES[_sent_as(media, caption)]
        try:
            upload = await self._go(client, client.upload, media.data, kind)
        except UploadError as exc:
            raise TransportError(f"WhatsApp did not take the file: {mask_numbers(str(exc))}") from None
        return await self._send(client, user, media_message(media, caption, upload), to_phone, message_id)

    async def download(self, media: MediaRef, max_bytes: int) -> bytes:
        """Fetch and decrypt a received file with whatsmeow's DownloadAny. It reads the whole file into memory, so
        the size the sender declared is checked first (whatsmeow then fails a file whose length differs from it)."""
        if media.size is not None and media.size > max_bytes:
            raise TransportError(f"the file has {media.size} bytes, more than {max_bytes}", permanent=True)
        try:
            message = WaMessage.FromString(media.handle)
        except DecodeError:
            raise TransportError("the media handle is not a WhatsApp message", permanent=True) from None
        client = self._connected_client()
        try:
            data = await self._go(client, client.download_any, message)
        except DownloadError as exc:
            error = mask_numbers(str(exc))
            permanent = any(marker in error.lower() for marker in _GONE_MEDIA_ERRORS)
            raise TransportError(f"WhatsApp did not give the file: {error}", permanent=permanent) from None
        if data is None:
            raise TransportError("WhatsApp gave no file")
        if len(data) > max_bytes:
            raise TransportError(f"the file has {len(data)} bytes, more than {max_bytes}", permanent=True)
        return data

    # --- the store, and Go calls for the Socket protocol ---

    async def _database(self) -> str:
        """What whatsmeow opens: the point's SQLite file, or its schema in PostgreSQL (never logged: a password)."""
        if self._sessions is None:
            _create_database(self.store)
            return str(self.store / SESSION_DB)
        try:
            return await self._sessions.prepare(self.service_point_id)
        except _DATABASE_ERRORS as exc:
            raise TransportError(f"the WhatsApp session database is unreachable: {exc}") from None

    def _connected_client(self) -> NewAClient:
        client = self._client
        if client is None or not self._connected:
            raise TransportError("not connected to WhatsApp")
        return client

    async def _send(self, client: NewAClient, user: str, message: WaMessage, to_phone: str, message_id: str) -> str:
        try:
            response = await self._go(client, client.send_message, build_jid(user), message)
        except SendMessageError as exc:
            error = mask_numbers(str(exc))
            permanent = any(marker in error.lower() for marker in _PERMANENT_SEND_ERRORS)
            raise TransportError(f"WhatsApp did not take the message: {error}", permanent=permanent) from None
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
                lid = customer_jid(event.Info.MessageSource)
                return translate(event, sender=await self._phone_for_lid(client, lid))
        return translate(event)

    def _track(self, event: SessionEvent) -> None:
        if isinstance(event, Connected):
            self._connected, self._showing_qr = True, False
            self._make_files_private()
            phone = mask_phone(event.phone_number) if event.phone_number else "an unknown number"
            logger.info("point %s: connected as %s", self.service_point_id, phone)
        elif isinstance(event, InboundMessage):
            phone = mask_phone(event.customer_phone)
            logger.debug(
                "point %s: %s %s %s %s",
                self.service_point_id,
                event.type,
                event.provider_message_id,
                "written on the phone to" if event.from_phone else "from",
                phone,
            )
        elif isinstance(event, Reaction):
            phone = mask_phone(event.customer_phone)
            logger.debug("point %s: reaction %s from %s", self.service_point_id, event.provider_message_id, phone)
        elif isinstance(event, Receipt):
            logger.debug("point %s: receipt for %d messages", self.service_point_id, len(event.provider_message_ids))
        elif not isinstance(event, QrCode):  # the session's state changed: anything but Connected ends it
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
        return (
            _ignore_reason(event) is None
            and customer_phone(source) is None
            and customer_jid(source).Server == LID_SERVER
        )

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
            logger.warning("point %s: could not look up a LID customer", self.service_point_id, exc_info=True)
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
        self._make_files_private()

    def _make_files_private(self) -> None:
        if self._sessions is None:
            _make_private(self.store)


class NeonizeTransport:
    name = "neonize"
    # neonize 0.5's SendMessage(id, jid, message) builds whatsmeow's SendRequestExtra itself and never sets ID.

    def __init__(self, session_database_url: str | None = None) -> None:
        """`session_database_url`: a PostgreSQL address keeps every point's device there (any replica resumes it);
        None keeps it in a SQLite file in the point's directory."""
        _relay_whatsmeow_logs()
        self._sessions = None if session_database_url is None else PostgresSessions.from_address(session_database_url)

    async def is_linked(self, service_point_id: UUID, store: Path) -> bool:
        """Whether whatsmeow's device table has a row: a QR attempt that nobody scanned leaves it empty. A store that
        cannot be read counts as not linked (logged)."""
        if self._sessions is None:
            return await asyncio.to_thread(_file_is_linked, store)
        try:
            return await self._sessions.is_linked(service_point_id)
        except _DATABASE_ERRORS as exc:
            logger.warning("point %s: cannot read its WhatsApp session in PostgreSQL: %s", service_point_id, exc)
            return False

    async def forget(self, service_point_id: UUID, store: Path) -> None:
        """Files: nothing, the manager deletes the directory. PostgreSQL: drop the point's schema, device and all."""
        if self._sessions is None:
            return
        try:
            await self._sessions.forget(service_point_id)
        except _DATABASE_ERRORS as exc:
            raise TransportError(f"the point's WhatsApp session could not be deleted from PostgreSQL: {exc}") from None
        logger.info("point %s: WhatsApp session deleted from PostgreSQL", service_point_id)

    def open(self, service_point_id: UUID, store: Path, events: EventSink) -> NeonizeSocket:
        return NeonizeSocket(service_point_id, store, events, self._sessions)

    async def shutdown(self) -> None:
        """Stop any whatsmeow client still running and let go of the event loop neonize holds."""
        await ClientFactory.stop()
        neonize_events.event_global_loop = None

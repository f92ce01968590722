"""The boundary between the session manager and a WhatsApp implementation (neonize, or the simulator).

A transport opens one `Socket` per service point. The socket reports what happens as normalized `SessionEvent`s
through the `EventSink` it was opened with; the manager owns every decision (reconnect, forget credentials, show a
QR). Nothing above this module sees a neonize type.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable
from uuid import UUID


@dataclass(frozen=True, slots=True)
class QrCode:
    """A new code to show. WhatsApp rotates codes (about 60 s, then 20 s each) and says nothing when one expires."""

    code: str


@dataclass(frozen=True, slots=True)
class Connected:
    """The socket is open and logged in. `phone_number` (E.164) is the linked phone's, when known."""

    phone_number: str | None


@dataclass(frozen=True, slots=True)
class Disconnected:
    """A transient drop (network, server hiccup, connect that failed at once): the manager reconnects."""

    reason: str


@dataclass(frozen=True, slots=True)
class LoggedOut:
    """The phone removed this device, or WhatsApp invalidated it: the credentials are useless now."""

    reason: str


@dataclass(frozen=True, slots=True)
class Replaced:
    """The same session was opened somewhere else; reconnecting would only fight over it."""


@dataclass(frozen=True, slots=True)
class TemporarilyBanned:
    """WhatsApp suspended the number; `until` is when it may connect again, when WhatsApp says so."""

    until: datetime | None
    reason: str


@dataclass(frozen=True, slots=True)
class Unrecoverable:
    """A refusal that retrying cannot fix (outdated client, rejected user agent)."""

    reason: str


@dataclass(frozen=True, slots=True)
class Misconfigured:
    """The provider refuses what an admin entered (a Cloud API token or number): `message` says what to fix. The
    credentials stay, since only a person can correct them."""

    message: str


MessageType = Literal["text", "image", "audio", "video", "document", "sticker", "location", "contact", "unsupported"]
MEDIA_TYPES: frozenset[str] = frozenset({"image", "audio", "video", "document", "sticker"})  # types with a file


@dataclass(frozen=True, slots=True)
class MediaRef:
    """A file a message carries, not downloaded yet: what its transport needs to fetch it later (`Socket.download`).

    The declared type, name and size come from the sender and are not trusted: the downloader checks the size and
    sniffs the type from the bytes. `handle` is opaque above the transport (neonize: the serialized protobuf).
    """

    handle: bytes
    mime_type: str | None = None
    file_name: str | None = None
    size: int | None = None
    voice: bool = False  # a voice note (push to talk), not an audio file


@dataclass(frozen=True, slots=True)
class Location:
    latitude: float
    longitude: float
    name: str | None = None
    address: str | None = None


@dataclass(frozen=True, slots=True)
class ContactCard:
    name: str
    phones: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """One message of a chat with a customer, already normalized.

    Usually the customer wrote it; `from_phone` marks one the branch's staff wrote on the linked phone itself
    (WhatsApp shows it as ours, but this service did not send it). `text` is the text, or the caption of a media
    message ("" when it has none). `reply_to` is the provider id of the message it quotes.
    """

    provider_message_id: str
    customer_phone: str  # E.164
    text: str
    timestamp: datetime  # UTC
    push_name: str | None = None
    type: MessageType = "text"
    media: MediaRef | None = None
    reply_to: str | None = None
    location: Location | None = None
    contact: ContactCard | None = None
    from_phone: bool = False


@dataclass(frozen=True, slots=True)
class Reaction:
    """The customer reacted to one of the point's messages (by its provider id); an empty `emoji` removes it."""

    provider_message_id: str  # the reaction's own id
    customer_phone: str  # E.164
    target_message_id: str
    emoji: str
    timestamp: datetime


@dataclass(frozen=True, slots=True)
class Receipt:
    """The customer's phone acknowledged messages this point sent (by the provider ids the sends returned)."""

    provider_message_ids: tuple[str, ...]
    read: bool  # opened (or a voice note played); False: only delivered to the phone


@dataclass(frozen=True, slots=True)
class DeliveryFailed:
    """WhatsApp accepted a send, then could not deliver it (the Cloud API says so later, by webhook): `reason` is
    what the agent reads, with WhatsApp's error code."""

    provider_message_id: str
    reason: str


SessionEvent = (
    QrCode
    | Connected
    | Disconnected
    | LoggedOut
    | Replaced
    | TemporarilyBanned
    | Unrecoverable
    | Misconfigured
    | InboundMessage
    | Receipt
    | Reaction
    | DeliveryFailed
)
# What the chats bring (not the session's state): for the pipeline.
ChatEvent = InboundMessage | Receipt | Reaction | DeliveryFailed
EventSink = Callable[[SessionEvent], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class OutgoingMedia:
    """A file an agent sends: its bytes and what the downloader or the upload checked about them."""

    type: Literal["image", "document", "audio", "video"]
    data: bytes
    mime_type: str
    file_name: str | None = None


@dataclass(frozen=True, slots=True)
class TemplateSend:
    """An approved template (Cloud API) with its body parameters: what may open a conversation outside the 24-hour
    window. Kept in the message's `details` under "template" until it is sent."""

    name: str
    language: str
    parameters: tuple[str, ...] = ()

    def as_details(self) -> dict[str, object]:
        return {"template": {"name": self.name, "language": self.language, "parameters": list(self.parameters)}}

    @classmethod
    def from_details(cls, details: dict[str, Any] | None) -> TemplateSend | None:
        template = (details or {}).get("template")
        if not isinstance(template, dict):
            return None
        return cls(template["name"], template["language"], tuple(template.get("parameters", ())))


class TransportError(Exception):
    """An operation failed. `permanent` is False when trying again later may succeed."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


class Socket(Protocol):
    """One service point's WhatsApp connection."""

    async def connect(self) -> None:
        """Start connecting and return. Progress arrives as events (QrCode, Connected, Disconnected...)."""

    async def close(self) -> None:
        """Disconnect and stop emitting events; the credentials stay for the next connect."""

    async def logout(self) -> None:
        """Unlink this device at WhatsApp (best effort), then close. The manager deletes the credentials."""

    async def request_pairing_code(self, phone_number: str) -> str:
        """A code to type on the phone (Linked devices > Link with phone number) instead of scanning the QR."""

    async def send_text(self, to_phone: str, text: str, message_id: str) -> str:
        """Send `text`; return the provider id it was sent under (`message_id` when the transport honours it)."""

    async def send_media(self, to_phone: str, media: OutgoingMedia, caption: str, message_id: str) -> str:
        """Upload and send a file (with `caption`, possibly ""); return the provider id, as `send_text` does."""

    async def download(self, media: MediaRef, max_bytes: int) -> bytes:
        """Fetch a received file. TransportError(permanent=True) when it can never be fetched (expired, gone, or
        larger than `max_bytes`); a plain TransportError when a later try may work (not connected, network)."""


@runtime_checkable
class TemplateSender(Protocol):
    """A socket that sends approved templates (the Cloud API's)."""

    async def send_template(self, to_phone: str, name: str, language: str, parameters: Sequence[str]) -> str: ...


class Transport(Protocol):
    name: str

    async def is_linked(self, service_point_id: UUID, store: Path) -> bool:
        """Whether the point has credentials of a linked device (a restart resumes it without a QR). `store` is its
        private directory; a transport may keep credentials elsewhere (PostgreSQL), shared by every replica."""

    async def forget(self, service_point_id: UUID, store: Path) -> None:
        """Delete the point's credentials wherever the transport keeps them (the manager deletes `store` itself)."""

    def open(self, service_point_id: UUID, store: Path, events: EventSink) -> Socket:
        """A socket for one point; `store` is that point's private credentials directory (0700)."""

    async def shutdown(self) -> None:
        """Release what the transport holds process-wide, after every socket is closed."""

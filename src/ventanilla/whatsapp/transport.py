"""The boundary between the session manager and a WhatsApp implementation (neonize, or the simulator).

A transport opens one `Socket` per service point. The socket reports what happens as normalized `SessionEvent`s
through the `EventSink` it was opened with; the manager owns every decision (reconnect, forget credentials, show a
QR). Nothing above this module sees a neonize type.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol
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
class InboundText:
    """One customer message, already normalized: media arrive as a placeholder such as "[imagen]"."""

    provider_message_id: str
    customer_phone: str  # E.164
    text: str
    timestamp: datetime  # UTC
    push_name: str | None = None


@dataclass(frozen=True, slots=True)
class Receipt:
    """The customer's phone acknowledged messages this point sent (by the provider ids the sends returned)."""

    provider_message_ids: tuple[str, ...]
    read: bool  # opened (or a voice note played); False: only delivered to the phone


SessionEvent = (
    QrCode | Connected | Disconnected | LoggedOut | Replaced | TemporarilyBanned | Unrecoverable | InboundText | Receipt
)
EventSink = Callable[[SessionEvent], Awaitable[None]]


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


class Transport(Protocol):
    name: str
    honours_message_ids: bool  # a resend with the same id cannot show the customer a second copy

    def is_linked(self, store: Path) -> bool:
        """Whether `store` holds credentials of a linked device (a restart resumes it without a QR)."""

    def open(self, service_point_id: UUID, store: Path, events: EventSink) -> Socket:
        """A socket for one point; `store` is that point's private credentials directory (0700)."""

    async def shutdown(self) -> None:
        """Release what the transport holds process-wide, after every socket is closed."""

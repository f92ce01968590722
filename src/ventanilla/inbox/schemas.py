"""Bodies of the inbox endpoints."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal
from uuid import UUID

import msgspec

from ventanilla.db.models import (
    ConversationEventKind,
    ConversationStatus,
    DeliveryStatus,
    Direction,
    MediaStatus,
    MessageType,
    SenderType,
    ShipmentStatus,
)
from ventanilla.schemas import CamelStruct
from ventanilla.text import bounded

MAX_MESSAGE_CHARS = 4096  # WhatsApp's limit for one text message
PREVIEW_CHARS = 120
QUOTE_CHARS = 200

MAX_LABEL_CHARS = 40
MAX_LABELS = 20
MAX_SHIPMENT_CARDS = 10

MessageContent = bounded(MAX_MESSAGE_CHARS, min_length=1)
NoteContent = bounded(MAX_MESSAGE_CHARS, visible=True)
Reason = bounded(500, min_length=1)
# As typed: trimmed, lower-cased and its inner spaces collapsed before the 1-40 rule applies (`normalize_labels`).
RawLabel = bounded(200)
RawLabels = Annotated[list[RawLabel], msgspec.Meta(max_length=100)]


class ConversationSummary(CamelStruct):
    """One row of the list. `lastMessagePreview` starts the customer's latest message (the latest message of all
    when the customer never wrote; never a note); `lastMessageFrom` says who wrote the latest message, so a list
    can show whether the customer is waiting for an answer. `unreadCount` counts the customer's messages that
    arrived after the assignee last read the conversation (0 when nobody holds it)."""

    id: UUID
    customer_phone: str
    status: ConversationStatus
    assigned_to_user_id: UUID | None
    last_message_at: datetime
    last_message_preview: str | None
    waiting_since: datetime | None
    handoff_reason: str | None
    labels: list[str]
    unread_count: int
    assigned_at: datetime | None
    resolved_at: datetime | None
    last_message_from: SenderType | None


class ConversationPage(CamelStruct):
    items: list[ConversationSummary]
    next_cursor: str | None


class ConversationEventRead(CamelStruct):
    id: UUID
    kind: ConversationEventKind
    actor_user_id: UUID | None  # None: the bot
    from_status: ConversationStatus | None
    to_status: ConversationStatus | None
    assigned_to_user_id: UUID | None
    reason: str | None
    created_at: datetime


class ConversationDetail(CamelStruct):
    id: UUID
    service_point_id: UUID
    customer_phone: str
    status: ConversationStatus
    assigned_to_user_id: UUID | None
    last_message_at: datetime
    waiting_since: datetime | None
    handoff_reason: str | None
    created_at: datetime
    labels: list[str]
    assigned_at: datetime | None
    resolved_at: datetime | None
    events: list[ConversationEventRead]
    # Cloud API points: free text may be sent until then (24 hours after the customer's last message); afterwards
    # only an approved template. Null for WhatsApp-Web points, which have no such window.
    service_window_ends_at: datetime | None = None


class ConversationUpdate(CamelStruct):
    """`status: HUMAN` stops the bot (optionally assigning), `BOT` gives the conversation back to it, `RESOLVED`
    closes it. `expectedAssignedToUserId` (null: nobody) is who the caller believes holds it: when someone else
    does by now, the change is refused (409) instead of silently taking it from them."""

    status: ConversationStatus | msgspec.UnsetType = msgspec.UNSET
    assigned_to_user_id: UUID | msgspec.UnsetType | None = msgspec.UNSET
    reason: Reason | None = None
    expected_assigned_to_user_id: UUID | msgspec.UnsetType | None = msgspec.UNSET


class MediaRead(CamelStruct):
    """A message's file. `url` serves it to members of the point; `status` says whether it can be opened yet."""

    id: UUID
    mime_type: str | None
    file_name: str | None
    size: int | None
    url: str
    status: MediaStatus
    voice: bool
    transcript: str | None  # a voice note's words, when the bot transcribed it


class QuotedMessage(CamelStruct):
    """The message a reply quotes, as the thread shows it above the reply."""

    id: UUID
    sender_type: SenderType
    type: MessageType
    content: str  # at most QUOTE_CHARS


class LocationRead(CamelStruct):
    latitude: float
    longitude: float
    name: str | None = None
    address: str | None = None


class ContactRead(CamelStruct):
    name: str
    phones: list[str]


class MessageRead(CamelStruct):
    id: UUID
    direction: Direction
    sender_type: SenderType
    content: str  # the text, or the caption of a file ("" without one)
    timestamp: datetime
    delivery_status: DeliveryStatus | None
    provider_message_id: str
    sender_user_id: UUID | None
    delivery_error: str | None
    type: MessageType = MessageType.TEXT
    kind: Literal["message", "note"] = "message"
    media: MediaRead | None = None
    caption: str | None = None
    sent_from_phone: bool = False
    reaction: str | None = None
    reply_to: UUID | None = None  # the quoted message, when this point has it
    quote: QuotedMessage | None = None
    location: LocationRead | None = None
    contact: ContactRead | None = None
    failure_reason: str | None = None  # why a FAILED message was not sent


class MessagePage(CamelStruct):
    items: list[MessageRead]
    next_cursor: str | None


class AgentMessage(CamelStruct):
    content: MessageContent


class NoteCreate(CamelStruct):
    """A private note for the team: stored in the thread, never sent to the customer nor shown to the bot."""

    content: NoteContent


class LabelCount(CamelStruct):
    label: str
    count: int  # conversations of the point carrying it


class ConversationShipment(CamelStruct):
    """A shipment whose tracking number the customer wrote. `ownPoint` false: another branch's, read-only here."""

    tracking_number: str
    status: ShipmentStatus
    status_label: str  # in Spanish, as the bot tells the customer
    origin: str | None
    destination: str | None
    eta: date | None
    last_update: datetime
    service_point_id: UUID
    service_point_name: str
    own_point: bool

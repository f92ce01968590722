"""Bodies of the inbox endpoints."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
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
)
from ventanilla.schemas import CamelStruct
from ventanilla.text import bounded

MAX_MESSAGE_CHARS = 4096  # WhatsApp's limit for one text message
PREVIEW_CHARS = 120
QUOTE_CHARS = 200

MessageContent = bounded(MAX_MESSAGE_CHARS, min_length=1)
Reason = bounded(500, min_length=1)


class ConversationSummary(CamelStruct):
    id: UUID
    customer_phone: str
    status: ConversationStatus
    assigned_to_user_id: UUID | None
    last_message_at: datetime
    last_message_preview: str | None
    waiting_since: datetime | None
    handoff_reason: str | None


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
    events: list[ConversationEventRead]


class ConversationUpdate(CamelStruct):
    """`status: HUMAN` stops the bot (optionally assigning), `BOT` gives the conversation back to it."""

    status: ConversationStatus | msgspec.UnsetType = msgspec.UNSET
    assigned_to_user_id: UUID | msgspec.UnsetType | None = msgspec.UNSET
    reason: Reason | None = None


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

"""Bodies of the inbox endpoints."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import msgspec

from ventanilla.db.models import (
    ConversationEventKind,
    ConversationStatus,
    DeliveryStatus,
    Direction,
    SenderType,
)
from ventanilla.schemas import CamelStruct
from ventanilla.text import bounded

MAX_MESSAGE_CHARS = 4096  # WhatsApp's limit for one text message
PREVIEW_CHARS = 120

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


class MessageRead(CamelStruct):
    id: UUID
    direction: Direction
    sender_type: SenderType
    content: str
    timestamp: datetime
    delivery_status: DeliveryStatus | None
    provider_message_id: str
    sender_user_id: UUID | None
    delivery_error: str | None


class MessagePage(CamelStruct):
    items: list[MessageRead]
    next_cursor: str | None


class AgentMessage(CamelStruct):
    content: MessageContent

"""Every live event, in one place: what each carries on the wire (`type` plus camelCase fields).

Subscribers of a point's stream (`GET /api/service-points/{spId}/events`) receive these as Server-Sent Events
named by `type`. Events that describe stored data are queued on the session that wrote it (`after_commit`) and
published only once that transaction commits, so a subscriber who refetches always finds what it was told about.
"""

from __future__ import annotations

import logging
from datetime import datetime
from uuid import UUID

import msgspec
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from ventanilla.db.models import (
    ConversationStatus,
    DeliveryStatus,
    Direction,
    MessageKind,
    SenderType,
    WhatsappStatus,
)


class LiveEvent(msgspec.Struct, tag_field="type", rename="camel", kw_only=True, frozen=True):
    service_point_id: UUID


class WhatsappStatusChanged(LiveEvent, tag="whatsapp.status"):
    status: WhatsappStatus
    phone_number: str | None
    last_qr_at: datetime | None
    qr_available: bool
    last_error: str | None


class QrShown(LiveEvent, tag="whatsapp.qr"):
    expires_at: datetime


class MessageCreated(LiveEvent, tag="message.new"):
    conversation_id: UUID
    message_id: UUID
    direction: Direction
    sender_type: SenderType
    kind: MessageKind = MessageKind.MESSAGE  # a private note is not a message to the customer: no notification


class MessageStatusChanged(LiveEvent, tag="message.status"):
    conversation_id: UUID
    message_id: UUID
    delivery_status: DeliveryStatus


class MessageUpdated(LiveEvent, tag="message.updated"):
    """Something shown with the message changed (its file arrived or failed, a reaction, a transcript): refetch."""

    conversation_id: UUID
    message_id: UUID


class ConversationUpdated(LiveEvent, tag="conversation.updated"):
    conversation_id: UUID
    status: ConversationStatus
    assigned_to_user_id: UUID | None


class HandoffRequested(LiveEvent, tag="handoff.requested"):
    conversation_id: UUID
    reason: str


class Typing(LiveEvent, tag="conversation.typing"):
    """An agent is writing a reply (published at once, nothing stored): other agents see who, and hold back."""

    conversation_id: UUID
    user_id: UUID
    user_name: str


logger = logging.getLogger(__name__)
PUBLISHER_KEY = "ventanilla.live.publisher"  # in Session.info: who publishes this session's committed events
_PENDING_KEY = "ventanilla.live.pending"


def after_commit(session: AsyncSession | Session, *events: LiveEvent) -> None:
    """Publish `events` once the session's transaction commits; they are dropped if it rolls back."""
    session.info.setdefault(_PENDING_KEY, []).extend(events)


def pending_events(session: Session) -> list[LiveEvent]:
    """What this session's transaction will publish when it commits (for writers of the same facts, such as the
    webhooks' outbox, which must write them in that very transaction)."""
    return list(session.info.get(_PENDING_KEY, ()))


@event.listens_for(Session, "after_commit")
def _publish_committed(session: Session) -> None:
    """Best effort: the data is committed whatever happens here, and a writer must not see a live-event failure."""
    pending = session.info.pop(_PENDING_KEY, None)
    publisher = session.info.get(PUBLISHER_KEY)
    if not pending or publisher is None:
        return
    try:
        for item in pending:
            publisher.publish(item)
    except Exception as exc:  # e.g. channels already closed at shutdown
        logger.warning("live events not published: %s", type(exc).__name__)


@event.listens_for(Session, "after_rollback")
def _drop_rolled_back(session: Session) -> None:
    session.info.pop(_PENDING_KEY, None)

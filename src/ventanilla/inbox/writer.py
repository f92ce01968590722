"""Conversation and message writes: the agents' actions, and the rows the pipeline writes in bulk.

Nothing here commits: callers own the transaction, so a reply and the decision that produced it land together.
"""

from __future__ import annotations

import secrets
import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from ventanilla.db.models import (
    Conversation,
    ConversationEvent,
    ConversationEventKind,
    ConversationStatus,
    DeliveryStatus,
    Direction,
    Media,
    MediaStatus,
    Message,
    MessageType,
    SenderType,
)
from ventanilla.live.events import MessageCreated

if TYPE_CHECKING:  # plain value objects of the transport boundary; the inbox does not depend on WhatsApp
    from ventanilla.media.services import AcceptedUpload
    from ventanilla.whatsapp.transport import InboundMessage, MediaRef

UNCHANGED = object()
_WITHIN_THE_SECOND = timedelta(microseconds=999_999)  # "leave the assignee as it is" (None means "nobody")


class AssignmentNeedsHumanError(Exception):
    """Only a conversation with a person (HUMAN) can be assigned; the bot answers BOT ones."""


def new_provider_id() -> str:
    """A WhatsApp-style message id chosen before the first attempt, so a resend is recognisable as the same one."""
    return "3EB0" + secrets.token_hex(10).upper()


def incoming_values(
    conversation_id: UUID, service_point_id: UUID, message: InboundMessage, now: datetime, *, handled: bool
) -> dict[str, Any]:
    """The columns of a message from the chat, for bulk inserts: usually the customer's (`handled` when no bot turn
    is owed), or one the branch's staff sent from the phone itself (an agent's, already SENT)."""
    at = min(_latest_moment(message.timestamp), now)  # a phone's clock ahead of ours must not reorder the thread
    from_phone = message.from_phone
    return {
        "id": uuid.uuid4(),
        "conversation_id": conversation_id,
        "service_point_id": service_point_id,
        "direction": Direction.OUT if from_phone else Direction.IN,
        "sender_type": SenderType.AGENT if from_phone else SenderType.CUSTOMER,
        "content": message.text,
        "provider_message_id": message.provider_message_id,
        "timestamp": at,
        "delivery_status": DeliveryStatus.SENT if from_phone else None,
        "sent_at": at if from_phone else None,
        "sent_from_phone": from_phone,
        "handled_at": now if handled and not from_phone else None,
        "attempts": 0,
        "type": MessageType(message.type),
        "reply_to": message.reply_to,
        "details": _details(message),
        "created_at": now,
        "updated_at": now,
    }


def _latest_moment(timestamp: datetime) -> datetime:
    """WhatsApp dates messages to the whole second: such a message was sent within the second after, so a reply the
    bot wrote meanwhile must not sort after it. A live message thus keeps its arrival time (the caller's `now`)."""
    return timestamp + _WITHIN_THE_SECOND if timestamp.microsecond == 0 else timestamp


def incoming_media_values(message_id: UUID, service_point_id: UUID, media: MediaRef, now: datetime) -> dict[str, Any]:
    """The file of a message from the chat, PENDING until the downloader fetches it (due now)."""
    return {
        "id": uuid.uuid4(),
        "service_point_id": service_point_id,
        "message_id": message_id,
        "status": MediaStatus.PENDING,
        "mime_type": media.mime_type,
        "file_name": media.file_name,
        "size": media.size,
        "voice": media.voice,
        "source": media.handle,
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
        "updated_at": now,
    }


def _details(message: InboundMessage) -> dict[str, Any] | None:
    if message.location is not None:
        place = message.location
        return {"latitude": place.latitude, "longitude": place.longitude, "name": place.name, "address": place.address}
    if message.contact is not None:
        return {"name": message.contact.name, "phones": list(message.contact.phones)}
    return None


def outgoing_values(
    conversation_id: UUID,
    service_point_id: UUID,
    content: str,
    sender_type: SenderType,
    now: datetime,
    sender_user_id: UUID | None = None,
) -> dict[str, Any]:
    """The columns of an OUT message entering the outbox (PENDING, due now), for the ORM and for bulk inserts."""
    return {
        "id": uuid.uuid4(),
        "conversation_id": conversation_id,
        "service_point_id": service_point_id,
        "direction": Direction.OUT,
        "sender_type": sender_type,
        "sender_user_id": sender_user_id,
        "content": content,
        "provider_message_id": new_provider_id(),
        "timestamp": now,
        "delivery_status": DeliveryStatus.PENDING,
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
        "updated_at": now,
    }


def outgoing_created(values: dict[str, Any]) -> MessageCreated:
    """The live event of an OUT message written from `outgoing_values` (queue it with `after_commit`)."""
    return MessageCreated(
        service_point_id=values["service_point_id"],
        conversation_id=values["conversation_id"],
        message_id=values["id"],
        direction=Direction.OUT,
        sender_type=values["sender_type"],
    )


def phone_takeover_event_values(conversation_id: UUID, service_point_id: UUID, now: datetime) -> dict[str, Any]:
    """The history entry of a conversation the branch's staff took by writing from the phone itself."""
    return {
        "id": uuid.uuid4(),
        "conversation_id": conversation_id,
        "service_point_id": service_point_id,
        "kind": ConversationEventKind.TAKEN_FROM_PHONE,
        "actor_user_id": None,
        "from_status": ConversationStatus.BOT,
        "to_status": ConversationStatus.HUMAN,
        "assigned_to_user_id": None,
        "reason": "respondido desde el teléfono de la sucursal",
        "created_at": now,
        "updated_at": now,
    }


def handoff_event_values(
    conversation_id: UUID, service_point_id: UUID, from_status: ConversationStatus, reason: str, now: datetime
) -> dict[str, Any]:
    """The history entry of a handoff asked by the bot (no actor: the bot)."""
    return {
        "id": uuid.uuid4(),
        "conversation_id": conversation_id,
        "service_point_id": service_point_id,
        "kind": ConversationEventKind.HANDOFF_REQUESTED,
        "actor_user_id": None,
        "from_status": from_status,
        "to_status": ConversationStatus.HUMAN,
        "assigned_to_user_id": None,
        "reason": reason,
        "created_at": now,
        "updated_at": now,
    }


class ConversationWriter:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def queue_outgoing(
        self,
        conversation: Conversation,
        content: str,
        sender_type: SenderType,
        sender_user_id: UUID | None = None,
        now: datetime | None = None,
        attachment: AcceptedUpload | None = None,
        details: dict[str, Any] | None = None,
    ) -> tuple[Message, Media | None]:
        """An OUT message in the outbox (PENDING), with the file an agent attached (already under MEDIA_DIR) or the
        template it is sent as (`details`); the delivery worker sends it after the commit."""
        now = now or datetime.now(UTC)
        values = outgoing_values(
            conversation.id, conversation.service_point_id, content, sender_type, now, sender_user_id
        )
        message = Message(**values, details=details)
        media = None
        if attachment is not None:
            message.type = MessageType(attachment.type)
            media = Media(
                service_point_id=conversation.service_point_id,
                message=message,
                status=MediaStatus.READY,
                mime_type=attachment.mime_type,
                file_name=attachment.file_name,
                size=attachment.size,
                sha256=attachment.sha256,
            )
        self.session.add(message)
        if media is not None:
            self.session.add(media)
        conversation.last_message_at = max(conversation.last_message_at, now)
        return message, media

    def change(
        self,
        conversation: Conversation,
        *,
        actor_id: UUID | None,
        status: ConversationStatus | None = None,
        assignee: UUID | object | None = UNCHANGED,
        reason: str | None = None,
        now: datetime | None = None,
    ) -> list[ConversationEvent]:
        """An agent takes over (HUMAN), gives back (BOT), resolves (RESOLVED) or reassigns; each change is an event
        in the history. `actor_id` None: the system (auto-resolve, the assigner)."""
        now = now or datetime.now(UTC)
        events: list[ConversationEvent] = []
        before = conversation.status
        if status is not None and status is not before:
            conversation.status = status
            if status is not ConversationStatus.HUMAN:  # nobody is waited for any more
                conversation.waiting_since = None
                conversation.handoff_reason = None
            if status is ConversationStatus.BOT:  # back to the bot: nobody holds it
                self._assign(conversation, None, now)
            elif status is ConversationStatus.RESOLVED:  # the assignee stays: reports say who resolved it
                conversation.resolved_at = now
            elif assignee is not UNCHANGED:
                self._assign(conversation, assignee, now)  # type: ignore[arg-type]
            kind = (
                ConversationEventKind.RESOLVED
                if status is ConversationStatus.RESOLVED
                else ConversationEventKind.STATUS_CHANGED
            )
            events.append(self._event(conversation, kind, actor_id, before, reason))
        elif assignee is not UNCHANGED and assignee != conversation.assigned_to_user_id:
            if conversation.status is not ConversationStatus.HUMAN and assignee is not None:
                raise AssignmentNeedsHumanError
            self._assign(conversation, assignee, now)  # type: ignore[arg-type]
            events.append(self._event(conversation, ConversationEventKind.ASSIGNED, actor_id, None, reason))
        return events

    @staticmethod
    def _assign(conversation: Conversation, assignee: UUID | None, now: datetime) -> None:
        if assignee != conversation.assigned_to_user_id:
            conversation.assigned_to_user_id = assignee
            conversation.assigned_at = now if assignee is not None else None
            conversation.assignee_read_at = now if assignee is not None else None

    def agent_replies(self, conversation: Conversation, agent_id: UUID) -> None:
        """An agent answering takes a BOT or RESOLVED conversation (assigned to them), takes a waiting one nobody
        holds, and ends the customer's wait."""
        if conversation.status is not ConversationStatus.HUMAN:
            self.change(
                conversation,
                actor_id=agent_id,
                status=ConversationStatus.HUMAN,
                assignee=agent_id,
                reason="respuesta de un agente",
            )
        elif conversation.assigned_to_user_id is None:
            self.change(conversation, actor_id=agent_id, assignee=agent_id, reason="respuesta de un agente")
        conversation.waiting_since = None
        if conversation.assigned_to_user_id == agent_id:
            conversation.assignee_read_at = datetime.now(UTC)

    def _event(
        self,
        conversation: Conversation,
        kind: ConversationEventKind,
        actor_id: UUID | None,
        from_status: ConversationStatus | None,
        reason: str | None,
    ) -> ConversationEvent:
        event = ConversationEvent(
            conversation_id=conversation.id,
            service_point_id=conversation.service_point_id,
            kind=kind,
            actor_user_id=actor_id,
            from_status=from_status,
            to_status=conversation.status if from_status is not None else None,
            assigned_to_user_id=conversation.assigned_to_user_id,
            reason=reason,
        )
        self.session.add(event)
        return event

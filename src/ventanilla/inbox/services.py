"""Conversation and message writes shared by the pipeline (bot replies, handoffs) and the agents' inbox.

Nothing here commits: callers own the transaction, so a reply and the decision that produced it land together.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from uuid import UUID

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from ventanilla.db.models import (
    Conversation,
    ConversationEvent,
    ConversationEventKind,
    ConversationStatus,
    DeliveryStatus,
    Direction,
    Message,
    SenderType,
)


def new_provider_id() -> str:
    """A WhatsApp-style message id chosen before the first attempt, so a resend is recognisable as the same one."""
    return "3EB0" + secrets.token_hex(10).upper()


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
    ) -> Message:
        """An OUT message in the outbox (PENDING); the delivery worker sends it after the commit."""
        now = now or datetime.now(UTC)
        message = Message(
            conversation_id=conversation.id,
            service_point_id=conversation.service_point_id,
            direction=Direction.OUT,
            sender_type=sender_type,
            sender_user_id=sender_user_id,
            content=content,
            provider_message_id=new_provider_id(),
            timestamp=now,
            delivery_status=DeliveryStatus.PENDING,
            attempts=0,
            next_attempt_at=now,
        )
        self.session.add(message)
        conversation.last_message_at = max(conversation.last_message_at, now)
        return message

    def hand_off(self, conversation: Conversation, reason: str, now: datetime | None = None) -> ConversationEvent:
        """The bot asks for a person: the conversation goes HUMAN, waiting, with the bot's reason on record."""
        now = now or datetime.now(UTC)
        event = ConversationEvent(
            conversation_id=conversation.id,
            service_point_id=conversation.service_point_id,
            kind=ConversationEventKind.HANDOFF_REQUESTED,
            from_status=conversation.status,
            to_status=ConversationStatus.HUMAN,
            reason=reason,
        )
        conversation.status = ConversationStatus.HUMAN
        conversation.handoff_reason = reason
        conversation.waiting_since = now
        self.session.add(event)
        return event

    async def mark_handled(self, message_ids: list[UUID], now: datetime | None = None) -> None:
        await self.session.execute(
            update(Message).where(Message.id.in_(message_ids)).values(handled_at=now or datetime.now(UTC))
        )

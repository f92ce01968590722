"""Messages written straight into a conversation's thread, for the inbox tests (no socket, no bot)."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID, uuid4

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from ventanilla.db.models import Conversation, DeliveryStatus, Direction, Message, SenderType


async def add_message(
    session: AsyncSession,
    point: UUID,
    conversation_id: UUID,
    content: str,
    sender: SenderType = SenderType.CUSTOMER,
    at: datetime | None = None,
) -> UUID:
    """A message of the customer (already handled), or one the bot or an agent sent, as the latest activity."""
    at = at or datetime.now(UTC)
    customer = sender is SenderType.CUSTOMER
    message = Message(
        conversation_id=conversation_id,
        service_point_id=point,
        direction=Direction.IN if customer else Direction.OUT,
        sender_type=sender,
        content=content,
        provider_message_id=f"T{uuid4().hex[:16]}",
        timestamp=at,
        delivery_status=None if customer else DeliveryStatus.SENT,
        handled_at=at if customer else None,
    )
    session.add(message)
    await session.execute(update(Conversation).where(Conversation.id == conversation_id).values(last_message_at=at))
    await session.commit()
    return message.id

"""Rows the API tests start from, written straight to the database (no socket, no bot)."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from ventanilla.db.models import Conversation, Direction, Message, SenderType


async def add_conversation(session: AsyncSession, point: UUID, phone: str = "+593980000001") -> UUID:
    """A BOT conversation of `point` with one customer message."""
    at = datetime.now(UTC)
    conversation = Conversation(service_point_id=point, customer_phone=phone, last_message_at=at)
    session.add(conversation)
    await session.flush()
    session.add(
        Message(
            conversation_id=conversation.id,
            service_point_id=point,
            direction=Direction.IN,
            sender_type=SenderType.CUSTOMER,
            content="hola",
            provider_message_id=f"P{conversation.id.hex[:12]}",
            timestamp=at,
            handled_at=at,
        )
    )
    await session.commit()
    return conversation.id

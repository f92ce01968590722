"""The Cloud API's customer service window: a business may write freely only within 24 hours of the customer's
last message; outside it, only an approved template may open the conversation again. WhatsApp-Web points have no
such rule (it is WhatsApp's policy for the official API), so the window is always open for them.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from ventanilla.db.models import Direction, Message, ServicePoint

SERVICE_WINDOW = timedelta(hours=24)
NEVER_OPENED = datetime(1970, 1, 1, tzinfo=UTC)  # no message from the customer yet: closed


class ServiceWindowClosedError(Exception):
    """A free-form message outside the 24-hour window of a Cloud API point."""

    def __init__(self) -> None:
        super().__init__(
            "Han pasado más de 24 horas desde el último mensaje del cliente: WhatsApp (API oficial) solo permite "
            "enviar una plantilla aprobada. Elige una plantilla para retomar la conversación."
        )


async def window_ends_at(session: AsyncSession, point_id: UUID, conversation_id: UUID) -> datetime | None:
    """When free-form messages stop being allowed (None: never, this is not a Cloud API point); a moment in the
    past when the window is closed."""
    transport = await session.scalar(select(ServicePoint.transport).where(ServicePoint.id == point_id))
    if transport != "cloud":
        return None
    last = await session.scalar(
        select(func.max(Message.timestamp)).where(
            Message.conversation_id == conversation_id,
            Message.direction == Direction.IN,
        )
    )
    return last + SERVICE_WINDOW if last is not None else NEVER_OPENED


async def ensure_window_open(session: AsyncSession, point_id: UUID, conversation_id: UUID) -> None:
    ends = await window_ends_at(session, point_id, conversation_id)
    if ends is not None and ends <= datetime.now(UTC):
        raise ServiceWindowClosedError

"""Setting a refused message aside (the pipeline), and the admins' view of what was set aside."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from uuid import UUID

import msgspec
from advanced_alchemy.exceptions import NotFoundError
from sqlalchemy import delete, select, tuple_
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from ventanilla.db.models import QuarantinedMessage
from ventanilla.whatsapp.transport import InboundMessage

MAX_REASON_CHARS = 500
MAX_ID_CHARS = 256


class QuarantinedPayload(msgspec.Struct, rename="camel", frozen=True):
    """The message as it arrived (after the cleaning the pipeline does to every message)."""

    provider_message_id: str
    customer_phone: str
    text: str
    timestamp: datetime
    push_name: str | None


async def set_aside(connection: AsyncConnection, point_id: UUID, message: InboundMessage, reason: str) -> None:
    """Keep `message` with `reason`; a second copy of the same message (a redelivery) is kept once.

    The payload is JSON text, in which any character, NUL included, is escaped: whatever WhatsApp delivered fits.
    """
    payload = QuarantinedPayload(
        message.provider_message_id, message.customer_phone, message.text, message.timestamp, message.push_name
    )
    now = datetime.now(UTC)
    await connection.execute(
        insert(QuarantinedMessage)
        .values(
            id=uuid.uuid4(),
            service_point_id=point_id,
            provider_message_id=message.provider_message_id[:MAX_ID_CHARS].replace("\x00", ""),
            payload=msgspec.json.encode(payload).decode(),
            reason=reason[:MAX_REASON_CHARS],
            created_at=now,
            updated_at=now,
        )
        .on_conflict_do_nothing(constraint="uq_quarantined_point_provider_id")
    )


class QuarantineService:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def page(
        self, point_id: UUID | None, limit: int, before: tuple[datetime, UUID] | None
    ) -> tuple[Sequence[QuarantinedMessage], bool]:
        """Newest first; True when there is more after this page."""
        statement = (
            select(QuarantinedMessage)
            .order_by(QuarantinedMessage.created_at.desc(), QuarantinedMessage.id.desc())
            .limit(limit + 1)
        )
        if point_id is not None:
            statement = statement.where(QuarantinedMessage.service_point_id == point_id)
        if before is not None:
            statement = statement.where(tuple_(QuarantinedMessage.created_at, QuarantinedMessage.id) < before)
        rows = list((await self.session.scalars(statement)).all())
        return rows[:limit], len(rows) > limit

    async def discard(self, quarantined_id: UUID) -> None:
        """An admin dealt with it (answered the customer by other means, or judged it junk)."""
        result = await self.session.execute(delete(QuarantinedMessage).where(QuarantinedMessage.id == quarantined_id))
        if result.rowcount == 0:
            raise NotFoundError(detail="quarantined message not found")

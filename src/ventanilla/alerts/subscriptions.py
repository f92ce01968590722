"""Subscriptions to a shipment's alerts: written in the bot decision's transaction, read by the event fan-out."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from uuid import UUID

from sqlalchemy import update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from ventanilla.db.arrays import among
from ventanilla.db.models import ShipmentAlert

_ACTIVE = ShipmentAlert.cancelled_at.is_(None)


async def subscribe(connection: AsyncConnection, wanted: Iterable[tuple[UUID, UUID, str]], now: datetime) -> None:
    """(conversation, point, tracking number) subscriptions; one already active is left as it is."""
    rows = [
        {
            "id": uuid.uuid4(),
            "conversation_id": conversation_id,
            "service_point_id": point_id,
            "tracking_number": number,
            "created_at": now,
            "updated_at": now,
        }
        for conversation_id, point_id, number in wanted
    ]
    if rows:
        statement = insert(ShipmentAlert.__table__).values(rows)
        await connection.execute(
            statement.on_conflict_do_nothing(index_elements=["conversation_id", "tracking_number"], index_where=_ACTIVE)
        )


async def cancel_all(connection: AsyncConnection, conversation_ids: Iterable[UUID], now: datetime) -> None:
    """Every active subscription of these conversations ends now."""
    ids = set(conversation_ids)
    if ids:
        await connection.execute(
            update(ShipmentAlert)
            .where(among(ShipmentAlert.conversation_id, ids), _ACTIVE)
            .values(cancelled_at=now, updated_at=now)
        )

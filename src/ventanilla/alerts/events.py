"""Shipment events from the tracking system: stored once, applied to the shipment, fanned out as alerts.

All in the caller's transaction. Idempotent per (tracking number, status, at): a repeated event is not stored again,
so it changes nothing and sends nothing. An event older than what the shipment shows is kept but not applied.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from ventanilla.alerts import texts
from ventanilla.alerts.schemas import EventsAccepted, ShipmentEventIn
from ventanilla.db.arrays import among, insert_rows
from ventanilla.db.models import (
    Conversation,
    Message,
    SenderType,
    Shipment,
    ShipmentAlert,
    ShipmentEvent,
    ShipmentStatus,
)
from ventanilla.inbox.writer import outgoing_created, outgoing_values
from ventanilla.live.events import after_commit


@dataclass(frozen=True, slots=True)
class StatusEvent:
    tracking_number: str  # canonical
    data: ShipmentEventIn


async def record_events(
    session: AsyncSession, events: Sequence[StatusEvent], reach: frozenset[UUID] | None, now: datetime
) -> EventsAccepted:
    """`reach`: the points whose shipments the caller may change (None: all). A shipment outside it is reported
    as unknown, exactly like a missing one, and its events are not stored."""
    connection = await session.connection()
    numbers = sorted({event.tracking_number for event in events})
    shipments = {
        row.tracking_number: row
        for row in await connection.execute(
            select(
                Shipment.id, Shipment.service_point_id, Shipment.tracking_number, Shipment.status, Shipment.last_update
            )
            .where(among(Shipment.tracking_number, numbers))
            .order_by(Shipment.tracking_number)
            .with_for_update()
        )
    }
    hidden = {n for n, row in shipments.items() if reach is not None and row.service_point_id not in reach}
    unknown = sorted(n for n in numbers if n not in shipments or n in hidden)
    storable = [event for event in events if event.tracking_number not in hidden]
    stored = await _store(connection, storable, now)
    changes = await _apply(connection, shipments, hidden, stored, now)
    queued = await _queue_alerts(session, changes, now)
    return EventsAccepted(
        stored=len(stored), duplicates=len(storable) - len(stored), unknown=unknown, alerts_queued=queued
    )


async def _store(connection: AsyncConnection, events: Sequence[StatusEvent], now: datetime) -> list[StatusEvent]:
    """The events that were new (a repeated one, in this batch or before, comes back once at most)."""
    if not events:
        return []
    rows = [
        {
            "id": uuid.uuid4(),
            "tracking_number": event.tracking_number,
            "status": event.data.status.value,
            "at": event.data.at,
            "origin": event.data.origin,
            "destination": event.data.destination,
            "eta": event.data.eta,
            "created_at": now,
            "updated_at": now,
        }
        for event in events
    ]
    table = ShipmentEvent.__table__
    inserted = await connection.execute(
        insert_rows(table, rows)
        .on_conflict_do_nothing(index_elements=["tracking_number", "status", "at"])
        .returning(table.c.tracking_number, table.c.status, table.c.at)
    )
    new = {(number, ShipmentStatus(status), at) for number, status, at in inserted.all()}
    kept: list[StatusEvent] = []
    for event in events:
        key = (event.tracking_number, event.data.status, event.data.at)
        if key in new:
            new.discard(key)
            kept.append(event)
    return kept


async def _apply(
    connection: AsyncConnection,
    shipments: dict[str, Row],
    hidden: set[str],
    stored: Sequence[StatusEvent],
    now: datetime,
) -> list[tuple[str, ShipmentStatus]]:
    """Moves each shipment to its newest new event when that is newer than what it shows; returns the shipments
    whose status changed, with the new status."""
    newest: dict[str, StatusEvent] = {}
    for event in stored:
        current = newest.get(event.tracking_number)
        if current is None or event.data.at >= current.data.at:
            newest[event.tracking_number] = event
    updates, changes = [], []
    for number, event in sorted(newest.items()):
        shipment = shipments.get(number)
        if shipment is None or number in hidden or event.data.at <= shipment.last_update:
            continue
        data = event.data
        updates.append(
            {
                "sid": shipment.id,
                "new_status": data.status.value,
                "new_at": data.at,
                "new_origin": data.origin,
                "new_destination": data.destination,
                "new_eta": data.eta,
            }
        )
        if data.status != shipment.status:
            changes.append((number, data.status))
    if updates:
        table = Shipment.__table__
        await connection.execute(
            update(table)
            .where(table.c.id == bindparam("sid"))
            .values(
                status=bindparam("new_status"),
                last_update=bindparam("new_at"),
                origin=func.coalesce(bindparam("new_origin", type_=table.c.origin.type), table.c.origin),
                destination=func.coalesce(
                    bindparam("new_destination", type_=table.c.destination.type), table.c.destination
                ),
                eta=func.coalesce(bindparam("new_eta", type_=table.c.eta.type), table.c.eta),
                updated_at=now,
            ),
            updates,
        )
    return changes


async def _queue_alerts(session: AsyncSession, changes: Sequence[tuple[str, ShipmentStatus]], now: datetime) -> int:
    """One PENDING bot message per active subscription of each changed shipment, through the point that answered
    the customer. Every point is WhatsApp-Web today, so any time is fine to write.
    TODO(cloud-api): a `cloud` point may only write freely within 24 hours of the customer's last message; outside
    it an alert needs an approved template. Filter or switch to a template here when Cloud API points exist."""
    if not changes:
        return 0
    connection = await session.connection()
    status_of = dict(changes)
    subscriptions = await connection.execute(
        select(ShipmentAlert.conversation_id, ShipmentAlert.service_point_id, ShipmentAlert.tracking_number)
        .where(among(ShipmentAlert.tracking_number, sorted(status_of)), ShipmentAlert.cancelled_at.is_(None))
        .order_by(ShipmentAlert.conversation_id, ShipmentAlert.tracking_number)
    )
    messages = [
        outgoing_values(conversation_id, point_id, texts.status_change(number, status_of[number]), SenderType.BOT, now)
        for conversation_id, point_id, number in subscriptions.all()
    ]
    if not messages:
        return 0
    await connection.execute(insert(Message.__table__), messages)
    await connection.execute(
        update(Conversation)
        .where(among(Conversation.id, {m["conversation_id"] for m in messages}))
        .values(last_message_at=func.greatest(Conversation.last_message_at, now), updated_at=now)
    )
    after_commit(session, *(outgoing_created(message) for message in messages))
    return len(messages)

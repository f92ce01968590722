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
    SHIPMENT_STATUS_LABELS,
    CloudAccount,
    Conversation,
    Direction,
    Message,
    SenderType,
    ServicePoint,
    Shipment,
    ShipmentAlert,
    ShipmentEvent,
    ShipmentStatus,
)
from ventanilla.inbox.window import SERVICE_WINDOW
from ventanilla.inbox.writer import outgoing_created, outgoing_values
from ventanilla.live.events import after_commit
from ventanilla.whatsapp.transport import TemplateSend  # a plain value: what the delivery worker sends


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
    queued, held = await _queue_alerts(session, changes, now)
    return EventsAccepted(
        stored=len(stored),
        duplicates=len(storable) - len(stored),
        unknown=unknown,
        alerts_queued=queued,
        alerts_held=held,
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


async def _queue_alerts(
    session: AsyncSession, changes: Sequence[tuple[str, ShipmentStatus]], now: datetime
) -> tuple[int, int]:
    """One PENDING bot message per active subscription of each changed shipment, through the point that answered
    the customer; (queued, held back). A Cloud API point may write freely only within 24 hours of the customer's
    last message: outside that window the alert goes as the point's alert template ({{1}} tracking number, {{2}}
    status) when it has one, and is held back otherwise (Meta would refuse free text)."""
    if not changes:
        return 0, 0
    connection = await session.connection()
    status_of = dict(changes)
    last_inbound = (
        select(func.max(Message.timestamp))
        .where(Message.conversation_id == ShipmentAlert.conversation_id, Message.direction == Direction.IN)
        .scalar_subquery()
    )
    subscriptions = await connection.execute(
        select(
            ShipmentAlert.conversation_id,
            ShipmentAlert.service_point_id,
            ShipmentAlert.tracking_number,
            ServicePoint.transport,
            last_inbound.label("last_inbound"),
            CloudAccount.alert_template_name,
            CloudAccount.alert_template_language,
        )
        .join(ServicePoint, ServicePoint.id == ShipmentAlert.service_point_id)
        .outerjoin(CloudAccount, CloudAccount.service_point_id == ShipmentAlert.service_point_id)
        .where(among(ShipmentAlert.tracking_number, sorted(status_of)), ShipmentAlert.cancelled_at.is_(None))
        .order_by(ShipmentAlert.conversation_id, ShipmentAlert.tracking_number)
    )
    messages, held = [], 0
    for row in subscriptions.all():
        status = status_of[row.tracking_number]
        text = texts.status_change(row.tracking_number, status)
        values = outgoing_values(row.conversation_id, row.service_point_id, text, SenderType.BOT, now)
        window_closed = row.transport == "cloud" and (
            row.last_inbound is None or row.last_inbound + SERVICE_WINDOW <= now
        )
        if window_closed:
            if not (row.alert_template_name and row.alert_template_language):
                held += 1
                continue
            template = TemplateSend(
                row.alert_template_name,
                row.alert_template_language,
                (row.tracking_number, SHIPMENT_STATUS_LABELS[status]),
            )
            values["details"] = template.as_details()
        messages.append(values)
    if not messages:
        return 0, held
    await connection.execute(insert(Message.__table__), messages)
    await connection.execute(
        update(Conversation)
        .where(among(Conversation.id, {m["conversation_id"] for m in messages}))
        .values(last_message_at=func.greatest(Conversation.last_message_at, now), updated_at=now)
    )
    after_commit(session, *(outgoing_created(message) for message in messages))
    return len(messages), held

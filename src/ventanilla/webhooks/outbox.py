"""Deliveries are written in the transaction of the event they describe: a crash never loses or invents one.

Writers already queue their live events on the session (`live.events.after_commit`). A `before_commit` hook on
every Session turns those events into `webhook_delivery` rows with one INSERT, just before the writer's own data
commits. It costs nothing when no enabled webhook wants the events: it reads an in-memory snapshot of the
subscriptions (`Subscriptions`, copied into the app's sessions' `info`), refreshed when an admin changes a webhook
here and every few seconds by the dispatcher (changes made on another replica). The INSERT joins the `webhook` table
(locked FOR KEY SHARE), so a webhook deleted or disabled since the snapshot simply gets no row.

`message.received` carries the message text (`data.text`), read in the same statement: a CRM wants it. No other
event carries message text.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import msgspec
from sqlalchemy import event, select, text
from sqlalchemy.orm import Session

from ventanilla.db.models import ConversationStatus, DeliveryStatus, Direction, MessageKind, Webhook
from ventanilla.db.session import SessionFactory
from ventanilla.live.events import (
    ConversationUpdated,
    HandoffRequested,
    LiveEvent,
    MessageCreated,
    MessageStatusChanged,
    WhatsappStatusChanged,
    pending_events,
)

SUBSCRIPTIONS_KEY = "ventanilla.webhooks.subscriptions"  # in Session.info: the snapshot this hook reads

_STATUS_EVENTS = {
    DeliveryStatus.SENT: "message.sent",
    DeliveryStatus.DELIVERED: "message.delivered",
    DeliveryStatus.READ: "message.read",
    DeliveryStatus.FAILED: "message.failed",
}

_INSERT = text(
    """
    INSERT INTO webhook_delivery (webhook_id, event_type, delivery_id, body)
    SELECT w.id, d.event_type, d.delivery_id,
        CASE WHEN d.text_of IS NULL THEN d.body
            ELSE jsonb_set(CAST(d.body AS jsonb), '{data,text}', to_jsonb(coalesce(m.content, '')))::text END
    FROM unnest(
        CAST(:webhooks AS uuid[]), CAST(:types AS text[]), CAST(:ids AS uuid[]), CAST(:bodies AS text[]),
        CAST(:text_of AS uuid[])
    ) AS d (webhook_id, event_type, delivery_id, body, text_of)
    JOIN webhook w ON w.id = d.webhook_id AND w.enabled
    LEFT JOIN message m ON m.id = d.text_of
    FOR KEY SHARE OF w
    """
)


def event_type(item: LiveEvent) -> str | None:
    """The webhook event a live event is, if any."""
    if isinstance(item, MessageCreated):
        inbound = item.direction == Direction.IN and item.kind == MessageKind.MESSAGE
        return "message.received" if inbound else None
    if isinstance(item, MessageStatusChanged):
        return _STATUS_EVENTS.get(item.delivery_status)
    if isinstance(item, HandoffRequested):
        return "conversation.handoff"
    if isinstance(item, ConversationUpdated):
        return "conversation.resolved" if item.status == ConversationStatus.RESOLVED else None
    if isinstance(item, WhatsappStatusChanged):
        return "whatsapp.status"
    return None


def _data(item: LiveEvent) -> dict[str, Any]:
    data = msgspec.to_builtins(item)
    data.pop("type", None)
    if isinstance(item, WhatsappStatusChanged):  # what a system acts on; QR details are for the admin's screen
        return {key: data[key] for key in ("servicePointId", "status", "lastError")}
    return data


@dataclass(frozen=True, slots=True)
class Subscription:
    webhook_id: UUID
    service_point_id: UUID | None  # None: every point
    events: frozenset[str]


class Subscriptions:
    """The enabled webhooks, in memory: what the commit hook matches events against without a query."""

    def __init__(self) -> None:
        self.current: tuple[Subscription, ...] = ()

    def session_info(self) -> dict[str, Any]:
        return {SUBSCRIPTIONS_KEY: self}

    def put(self, webhook: Webhook) -> None:
        others = tuple(s for s in self.current if s.webhook_id != webhook.id)
        if webhook.enabled:
            others += (Subscription(webhook.id, webhook.service_point_id, frozenset(webhook.events)),)
        self.current = others

    def drop(self, webhook_id: UUID) -> None:
        self.current = tuple(s for s in self.current if s.webhook_id != webhook_id)

    async def refresh(self, sessions: SessionFactory) -> None:
        async with sessions() as session:
            rows = (
                await session.execute(
                    select(Webhook.id, Webhook.service_point_id, Webhook.events).where(Webhook.enabled)
                )
            ).all()
        self.current = tuple(Subscription(row.id, row.service_point_id, frozenset(row.events)) for row in rows)


def deliveries(subscriptions: tuple[Subscription, ...], events: list[LiveEvent]) -> dict[str, list[Any]] | None:
    """The INSERT's parameters for these events, or None when no subscription wants any of them."""
    columns: dict[str, list[Any]] = {"webhooks": [], "types": [], "ids": [], "bodies": [], "text_of": []}
    created_at = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    for item in events:
        kind = event_type(item)
        if kind is None:
            continue
        for sub in subscriptions:
            if kind not in sub.events or sub.service_point_id not in (None, item.service_point_id):
                continue
            delivery_id = uuid.uuid4()
            body = {"id": str(delivery_id), "type": kind, "createdAt": created_at, "data": _data(item)}
            columns["webhooks"].append(sub.webhook_id)
            columns["types"].append(kind)
            columns["ids"].append(delivery_id)
            columns["bodies"].append(msgspec.json.encode(body).decode())
            columns["text_of"].append(item.message_id if kind == "message.received" else None)  # type: ignore[attr-defined]
    return columns if columns["ids"] else None


@event.listens_for(Session, "before_commit")
def _write_deliveries(session: Session) -> None:
    """Runs inside the writer's transaction: a failure here fails the writer's commit, as it must."""
    subscriptions = session.info.get(SUBSCRIPTIONS_KEY)
    if subscriptions is None or not subscriptions.current:
        return
    pending = pending_events(session)
    if not pending:
        return
    params = deliveries(subscriptions.current, pending)
    if params is not None:
        session.execute(_INSERT, params)

"""Bodies of the webhook endpoints. The secret appears once, in the answer to a creation."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

import msgspec

from ventanilla.db.models import WEBHOOK_EVENTS, Webhook, WebhookDelivery
from ventanilla.schemas import CamelStruct
from ventanilla.text import bounded

EventName = Literal[WEBHOOK_EVENTS]  # the names stand once, in db/models.py (its check constraint uses them)
Events = Annotated[
    list[EventName],
    msgspec.Meta(min_length=1, max_length=8, description="the events sent", examples=[["message.received"]]),
]
Url = bounded(2048, visible=True)


class WebhookCreate(CamelStruct):
    url: Url
    events: Events
    service_point_id: UUID | None = None  # None: events of every point


class WebhookUpdate(CamelStruct):
    """Re-enable a webhook disabled after failing (or disable one by hand)."""

    enabled: bool


class WebhookRead(CamelStruct):
    """The secret is never listed; `disabledReason` says why deliveries stopped."""

    id: UUID
    url: str
    events: list[str]
    service_point_id: UUID | None
    enabled: bool
    disabled_reason: str | None
    disabled_at: datetime | None
    created_by_user_id: UUID | None
    created_at: datetime

    @classmethod
    def of(cls, webhook: Webhook) -> WebhookRead:
        return cls(
            id=webhook.id,
            url=webhook.url,
            events=list(webhook.events),
            service_point_id=webhook.service_point_id,
            enabled=webhook.enabled,
            disabled_reason=webhook.disabled_reason,
            disabled_at=webhook.disabled_at,
            created_by_user_id=webhook.created_by_user_id,
            created_at=webhook.created_at,
        )


class WebhookCreated(WebhookRead, kw_only=True):
    """The answer to a creation: `secret` (to check signatures) is shown this once and cannot be read again."""

    secret: str


class WebhookDeliveryRead(CamelStruct):
    """One entry of a webhook's delivery log (without the body, which may hold a customer's words)."""

    delivery_id: UUID
    event_type: str
    status: str
    attempts: int
    next_attempt_at: datetime
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None

    @classmethod
    def of(cls, delivery: WebhookDelivery) -> WebhookDeliveryRead:
        return cls(
            delivery_id=delivery.delivery_id,
            event_type=delivery.event_type,
            status=delivery.status,
            attempts=delivery.attempts,
            next_attempt_at=delivery.next_attempt_at,
            last_status_code=delivery.last_status_code,
            last_error=delivery.last_error,
            created_at=delivery.created_at,
            delivered_at=delivery.delivered_at,
        )


class WebhookDeliveryPage(CamelStruct):
    """A page of the delivery log, newest first; `nextCursor` (None on the last page) is passed back as `cursor`."""

    items: list[WebhookDeliveryRead]
    next_cursor: str | None

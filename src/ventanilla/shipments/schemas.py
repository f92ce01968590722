"""Bodies of the shipment endpoints, the page cursor, and the tracking-number check msgspec cannot express."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated
from uuid import UUID

import msgspec
from litestar.exceptions import ValidationException

from ventanilla.db.models import SHIPMENT_STATUS_LABELS, Shipment, ShipmentStatus
from ventanilla.pagination import PageCursor
from ventanilla.schemas import AwareDatetime, CamelStruct
from ventanilla.shipments.tracking import EXAMPLE_TRACKING_NUMBER, TRACKING_NUMBER_PATTERN, normalize_tracking_number
from ventanilla.text import bounded

TRACKING_NUMBER_HINT = f"2 to 5 letters then 5 to 12 digits, e.g. {EXAMPLE_TRACKING_NUMBER}"

# Raw input; normalized (separators dropped, upper-cased) by `canonical_tracking_number`.
TrackingNumberInput = Annotated[
    bounded(64, min_length=1), msgspec.Meta(description=TRACKING_NUMBER_HINT, examples=["abc-123456"])
]
# Free text shown to customers and staff: at least one visible character, trimmed before it is stored.
ShortText = bounded(120, visible=True)


def canonical_tracking_number(raw: str, *, source: str, key: str = "trackingNumber") -> str:
    """The stored form of a tracking number; 400 naming the field when `raw` cannot be one."""
    canonical = normalize_tracking_number(raw)
    if canonical is None:
        message = f"not a tracking number: expected {TRACKING_NUMBER_HINT}"
        raise ValidationException(
            detail=f"{key}: {message}", extra=[{"key": key, "message": message, "source": source}]
        )
    return canonical


class ShipmentCursor(PageCursor):
    """Where a page of shipments ended (they are listed by tracking number)."""

    tracking_number: Annotated[str, msgspec.Meta(pattern=TRACKING_NUMBER_PATTERN)]


class ShipmentCreate(CamelStruct):
    """`lastUpdate` defaults to now; `status` to CREATED."""

    tracking_number: TrackingNumberInput
    status: ShipmentStatus = ShipmentStatus.CREATED
    origin: ShortText | None = None
    destination: ShortText | None = None
    eta: date | None = None
    last_update: AwareDatetime | None = None
    sender_name: ShortText | None = None
    recipient_name: ShortText | None = None


class ShipmentUpdate(CamelStruct):
    """Only the fields present change; `null` clears an optional field. A new status moves `lastUpdate` to now
    unless the body sets it. The tracking number is the shipment's identity and cannot change."""

    status: ShipmentStatus | msgspec.UnsetType = msgspec.UNSET
    origin: ShortText | msgspec.UnsetType | None = msgspec.UNSET
    destination: ShortText | msgspec.UnsetType | None = msgspec.UNSET
    eta: date | msgspec.UnsetType | None = msgspec.UNSET
    last_update: AwareDatetime | msgspec.UnsetType = msgspec.UNSET
    sender_name: ShortText | msgspec.UnsetType | None = msgspec.UNSET
    recipient_name: ShortText | msgspec.UnsetType | None = msgspec.UNSET


class ShipmentRead(CamelStruct):
    """Sender and recipient names are included: only members of the owning point (or admins) reach this."""

    id: UUID
    service_point_id: UUID
    tracking_number: str
    status: ShipmentStatus
    status_label: str
    origin: str | None
    destination: str | None
    eta: date | None
    last_update: datetime
    sender_name: str | None
    recipient_name: str | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, shipment: Shipment) -> ShipmentRead:
        return cls(
            id=shipment.id,
            service_point_id=shipment.service_point_id,
            tracking_number=shipment.tracking_number,
            status=shipment.status,
            status_label=SHIPMENT_STATUS_LABELS[shipment.status],
            origin=shipment.origin,
            destination=shipment.destination,
            eta=shipment.eta,
            last_update=shipment.last_update,
            sender_name=shipment.sender_name,
            recipient_name=shipment.recipient_name,
            created_at=shipment.created_at,
            updated_at=shipment.updated_at,
        )


class ShipmentPage(CamelStruct):
    items: list[ShipmentRead]
    next_cursor: str | None


class ImportResult(CamelStruct):
    """How many rows of an accepted file were new shipments and how many replaced this point's existing ones."""

    created: int
    updated: int

"""Bodies of `POST /api/shipments/events`: what the tracking system pushes and what it is told back."""

from __future__ import annotations

from datetime import date
from typing import Annotated

import msgspec

from ventanilla.db.models import ShipmentStatus
from ventanilla.schemas import AwareDatetime, CamelStruct
from ventanilla.shipments.schemas import ShortText, TrackingNumberInput

MAX_EVENTS = 1000


class ShipmentEventIn(CamelStruct):
    """A status a shipment reached at `at` (timezone required); the other fields update the shipment when given."""

    tracking_number: TrackingNumberInput
    status: ShipmentStatus
    at: AwareDatetime
    origin: ShortText | None = None
    destination: ShortText | None = None
    eta: date | None = None


ShipmentEventBatch = Annotated[
    list[ShipmentEventIn], msgspec.Meta(description=f"1 to {MAX_EVENTS} events", min_length=1, max_length=MAX_EVENTS)
]


class EventsAccepted(CamelStruct):
    """`stored`: events new to us; `duplicates`: already received (ignored); `unknown`: tracking numbers without a
    shipment this caller reaches (their events are stored, nothing else happens); `alertsQueued`: messages queued;
    `alertsHeld`: alerts not sent because a Cloud API point's 24-hour window was closed and it has no alert
    template."""

    stored: int
    duplicates: int
    unknown: list[str]
    alerts_queued: int
    alerts_held: int = 0

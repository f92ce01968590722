"""Bodies of the availability endpoints."""

from __future__ import annotations

from datetime import datetime

from ventanilla.db.models import Availability
from ventanilla.schemas import CamelStruct


class AvailabilityUpdate(CamelStruct):
    status: Availability


class AvailabilityRead(CamelStruct):
    """`since`: when the status was last set or confirmed (for a lapsed ONLINE, when it lapsed); null if never."""

    status: Availability
    since: datetime | None

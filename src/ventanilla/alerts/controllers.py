"""`POST /api/shipments/events`: the tracking system (an API key with `shipments:write`) or an admin pushes status
changes; tracking numbers are company-wide, so the route lives outside any point."""

from __future__ import annotations

from datetime import UTC, datetime

from litestar import Controller, Request, post
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.exceptions import PermissionDeniedException
from litestar.params import JSONBody
from litestar.security.jwt import Token
from litestar.status_codes import HTTP_202_ACCEPTED
from sqlalchemy.ext.asyncio import AsyncSession

from ventanilla.alerts.events import StatusEvent, record_events
from ventanilla.alerts.schemas import MAX_EVENTS, EventsAccepted, ShipmentEventBatch
from ventanilla.api_keys.principal import ApiKeyPrincipal
from ventanilla.db.models import User
from ventanilla.http_errors import invalid_field
from ventanilla.shipments.schemas import canonical_tracking_number
from ventanilla.shipments.services import CLOCK_SKEW


class ShipmentEventController(Controller):
    path = "/api/shipments/events"
    tags = ["shipments"]

    @post(
        "/",
        status_code=HTTP_202_ACCEPTED,
        summary="Status changes from the tracking system; idempotent per (trackingNumber, status, at)",
        description="An API key with `shipments:write`, or an admin. See docs/shipment-alerts.md.",
        opt={"scope": "shipments:write"},
    )
    async def push_events(
        self,
        request: Request[User, Token, State],
        data: JSONBody[ShipmentEventBatch],
        db_session: NamedDependency[AsyncSession],
    ) -> EventsAccepted:
        caller = request.user
        if not (caller.is_admin or isinstance(caller, ApiKeyPrincipal)):
            raise PermissionDeniedException("only an admin or an API key with shipments:write may push events")
        if not 1 <= len(data) <= MAX_EVENTS:  # msgspec's length bounds do not reach a top-level list here
            raise invalid_field("events", f"send 1 to {MAX_EVENTS} events per request, not {len(data)}")
        now = datetime.now(UTC)
        events = []
        for index, item in enumerate(data):
            key = f"[{index}].trackingNumber"
            number = canonical_tracking_number(item.tracking_number, source="body", key=key)
            if item.at > now + CLOCK_SKEW:
                raise invalid_field(f"[{index}].at", "must not be in the future")
            events.append(StatusEvent(number, item))
        reach = caller.service_point_ids if isinstance(caller, ApiKeyPrincipal) else None
        accepted = await record_events(db_session, events, reach, now)
        await db_session.commit()
        if accepted.alerts_queued:
            request.app.state.delivery.notify()
        return accepted

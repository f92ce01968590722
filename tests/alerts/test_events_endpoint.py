"""`POST /api/shipments/events`: who may push, what is refused, and that a repeated event changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from tests.api_keys.test_api_keys import bearer, create_key
from tests.conftest import World
from ventanilla.alerts.schemas import MAX_EVENTS
from ventanilla.db.models import Shipment, ShipmentEvent, ShipmentStatus

Client = AsyncTestClient[Litestar]
EVENTS = "/api/shipments/events"
LONG_AGO = datetime(2026, 1, 1, tzinfo=UTC)


def event(number: str = "AAA123456", status: str = "IN_TRANSIT", at: datetime | None = None, **extra: str) -> dict:
    moment = at or datetime.now(UTC) - timedelta(minutes=1)
    return {"trackingNumber": number, "status": status, "at": moment.isoformat(), **extra}


@pytest.fixture
async def shipments(world: World, session: AsyncSession) -> World:
    session.add_all(
        [
            Shipment(
                service_point_id=point,
                tracking_number=number,
                status=ShipmentStatus.CREATED,
                last_update=LONG_AGO,
                destination="Quito",
            )
            for point, number in ((world.point_a, "AAA123456"), (world.point_b, "BBB123456"))
        ]
    )
    await session.commit()
    return world


async def _shipment(session: AsyncSession, number: str) -> Shipment:
    session.expire_all()
    return await session.scalar(select(Shipment).where(Shipment.tracking_number == number))


async def test_admin_pushes_an_event_that_moves_the_shipment(
    client: Client, shipments: World, session: AsyncSession
) -> None:
    at = datetime.now(UTC) - timedelta(minutes=2)
    body = [event("aaa-123 456", "IN_TRANSIT", at, origin="Loja"), event("ZZZ999999")]
    response = await client.post(EVENTS, json=body, headers=shipments.admin.headers)
    assert response.status_code == 202, response.text
    assert response.json() == {
        "stored": 2,
        "duplicates": 0,
        "unknown": ["ZZZ999999"],
        "alertsQueued": 0,
        "alertsHeld": 0,
    }
    shipment = await _shipment(session, "AAA123456")
    assert (shipment.status, shipment.last_update, shipment.origin, shipment.destination) == (
        ShipmentStatus.IN_TRANSIT,
        at,
        "Loja",
        "Quito",  # absent fields stay as they were
    )
    assert await session.scalar(select(func.count()).select_from(ShipmentEvent)) == 2  # the unknown one is kept


async def test_a_repeated_event_is_ignored_and_an_older_one_is_not_applied(
    client: Client, shipments: World, session: AsyncSession
) -> None:
    at = datetime.now(UTC) - timedelta(minutes=2)
    first = await client.post(EVENTS, json=[event(at=at)], headers=shipments.admin.headers)
    again = await client.post(EVENTS, json=[event(at=at), event(at=at)], headers=shipments.admin.headers)
    assert first.json()["stored"] == 1
    assert again.status_code == 202 and again.json() | {"unknown": []} == {
        "stored": 0,
        "duplicates": 2,
        "unknown": [],
        "alertsQueued": 0,
        "alertsHeld": 0,
    }
    older = await client.post(
        EVENTS, json=[event(status="EXCEPTION", at=at - timedelta(hours=1))], headers=shipments.admin.headers
    )
    assert older.json()["stored"] == 1
    assert (await _shipment(session, "AAA123456")).status == ShipmentStatus.IN_TRANSIT
    assert await session.scalar(select(func.count()).select_from(ShipmentEvent)) == 2


async def test_keys_with_shipments_write_only_for_shipments_they_reach(
    client: Client, shipments: World, session: AsyncSession
) -> None:
    key_a = (await create_key(client, shipments, ["shipments:write"], [shipments.point_a]))["key"]
    response = await client.post(EVENTS, json=[event("AAA123456"), event("BBB123456")], headers=bearer(key_a))
    assert response.status_code == 202, response.text
    # another branch's shipment: as if it did not exist, and its event is not stored
    assert response.json() == {
        "stored": 1,
        "duplicates": 0,
        "unknown": ["BBB123456"],
        "alertsQueued": 0,
        "alertsHeld": 0,
    }
    assert (await _shipment(session, "AAA123456")).status == ShipmentStatus.IN_TRANSIT
    assert (await _shipment(session, "BBB123456")).status == ShipmentStatus.CREATED
    every_point = (await create_key(client, shipments, ["shipments:write"], None))["key"]
    response = await client.post(EVENTS, json=[event("BBB123456", "DELIVERED")], headers=bearer(every_point))
    assert response.status_code == 202 and response.json()["unknown"] == []
    assert (await _shipment(session, "BBB123456")).status == ShipmentStatus.DELIVERED


async def test_refused_without_the_scope_and_to_people_who_are_not_admins(
    client: Client, shipments: World, session: AsyncSession
) -> None:
    reader = (await create_key(client, shipments, ["shipments:read", "messages:send"], None))["key"]
    assert (await client.post(EVENTS, json=[event()], headers=bearer(reader))).status_code == 403
    for actor in (shipments.agent_a, shipments.supervisor_a, shipments.outsider):
        assert (await client.post(EVENTS, json=[event()], headers=actor.headers)).status_code == 403
    assert (await client.post(EVENTS, json=[event()])).status_code == 401
    assert (await _shipment(session, "AAA123456")).status == ShipmentStatus.CREATED
    assert await session.scalar(select(func.count()).select_from(ShipmentEvent)) == 0


BAD = {
    "bad tracking number": ([event("123")], "[0].trackingNumber"),
    "unknown status": ([event(status="LOST")], "status"),
    "naive time": ([{"trackingNumber": "AAA123456", "status": "IN_TRANSIT", "at": "2026-11-28T10:00:00"}], "at"),
    "time far ahead": ([event(at=datetime.now(UTC) + timedelta(days=1))], "[0].at"),
    "missing status": ([{"trackingNumber": "AAA123456", "at": "2026-11-28T10:00:00Z"}], "status"),
    "empty list": ([], "events"),
    "too many": ([event()] * (MAX_EVENTS + 1), "events"),
    "unknown field": ([event(colour="red")], "colour"),
}


@pytest.mark.parametrize("body,field", BAD.values(), ids=BAD.keys())
async def test_bad_input_is_400_naming_the_field(
    client: Client, shipments: World, session: AsyncSession, body: list, field: str
) -> None:
    response = await client.post(EVENTS, json=body, headers=shipments.admin.headers)
    assert response.status_code == 400, response.text
    assert field in response.text
    assert await session.scalar(select(func.count()).select_from(ShipmentEvent)) == 0

"""Shipment CRUD, listing and access rules of /api/service-points/{spId}/shipments."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tests.conftest import World
from ventanilla.db.models import Shipment, ShipmentStatus

Client = AsyncTestClient[Litestar]


def shipments_path(point: uuid.UUID, suffix: str = "") -> str:
    return f"/api/service-points/{point}/shipments{suffix}"


async def add_shipment(session: AsyncSession, point: uuid.UUID, number: str, **values: object) -> None:
    session.add(Shipment(service_point_id=point, tracking_number=number, status=ShipmentStatus.CREATED, **values))
    await session.commit()


async def test_crud_with_normalized_tracking_numbers(client: Client, world: World) -> None:
    body = {
        "trackingNumber": "abc-123 456",
        "destination": " Quito ",
        "origin": "Cuenca",
        "eta": "2026-12-01",
        "senderName": "Lucía Paredes",
        "recipientName": "Jorge Salinas",
    }
    created = await client.post(shipments_path(world.point_a), json=body, headers=world.agent_a.headers)
    assert created.status_code == 201
    shipment = created.json()
    assert shipment["trackingNumber"] == "ABC123456"
    assert shipment["destination"] == "Quito"
    assert (shipment["status"], shipment["statusLabel"]) == ("CREATED", "Registrado")
    assert shipment["servicePointId"] == str(world.point_a)
    assert shipment["senderName"] == "Lucía Paredes"

    fetched = await client.get(shipments_path(world.point_a, "/abc-123456"), headers=world.supervisor_a.headers)
    assert fetched.status_code == 200
    assert fetched.json() == shipment

    moved = await client.patch(
        shipments_path(world.point_a, "/ABC123456"), json={"status": "IN_TRANSIT"}, headers=world.agent_a.headers
    )
    assert moved.status_code == 200
    assert moved.json()["statusLabel"] == "En tránsito"
    assert moved.json()["lastUpdate"] > shipment["lastUpdate"]

    edited = await client.patch(
        shipments_path(world.point_a, "/abc123456"),
        json={"eta": None, "destination": "Ibarra"},
        headers=world.agent_a.headers,
    )
    assert edited.json()["eta"] is None
    assert edited.json()["destination"] == "Ibarra"
    assert edited.json()["lastUpdate"] == moved.json()["lastUpdate"]  # no status change, no new lastUpdate

    back = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    explicit = await client.patch(
        shipments_path(world.point_a, "/ABC123456"),
        json={"status": "DELIVERED", "lastUpdate": back.isoformat()},
        headers=world.admin.headers,
    )
    assert datetime.fromisoformat(explicit.json()["lastUpdate"]) == back

    deleted = await client.delete(shipments_path(world.point_a, "/ABC-123456"), headers=world.agent_a.headers)
    assert deleted.status_code == 204
    gone = await client.get(shipments_path(world.point_a, "/ABC123456"), headers=world.agent_a.headers)
    assert gone.status_code == 404


BAD_CREATE_BODIES: list[tuple[dict[str, object], str]] = [
    ({"trackingNumber": "12-34"}, "trackingNumber"),
    ({"status": "CREATED"}, "trackingNumber"),
    ({"trackingNumber": "ABC123456", "status": "LOST"}, "status"),
    ({"trackingNumber": "ABC123456", "eta": "01/12/2026"}, "eta"),
    ({"trackingNumber": "ABC123456", "eta": "2026-02-30"}, "eta"),
    ({"trackingNumber": "ABC123456", "lastUpdate": "2026-01-01T10:00:00"}, "lastUpdate"),
    (
        {"trackingNumber": "ABC123456", "lastUpdate": (datetime.now(UTC) + timedelta(days=1)).isoformat()},
        "lastUpdate",
    ),
    ({"trackingNumber": "ABC123456", "destination": "x" * 121}, "destination"),
    ({"trackingNumber": "ABC123456", "senderName": "   "}, "senderName"),
    ({"trackingNumber": "ABC123456", "servicePointId": str(uuid.uuid4())}, "servicePointId"),
]


async def test_create_rejects_bad_input_naming_the_field(client: Client, world: World) -> None:
    for body, field in BAD_CREATE_BODIES:
        response = await client.post(shipments_path(world.point_a), json=body, headers=world.agent_a.headers)
        assert response.status_code == 400, body
        assert [error["key"] for error in response.json()["extra"]] == [field], body


async def test_update_and_path_validation(client: Client, world: World, session: AsyncSession) -> None:
    await add_shipment(session, world.point_a, "ABC123456")
    cases = [
        ("/ABC123456", {"status": "GONE"}, "status"),
        ("/ABC123456", {"trackingNumber": "XYZ123456"}, "trackingNumber"),
        ("/ABC123456", {"status": None}, "status"),
        ("/not-a-number", {"status": "DELIVERED"}, "trackingNumber"),
    ]
    for suffix, body, field in cases:
        response = await client.patch(shipments_path(world.point_a, suffix), json=body, headers=world.agent_a.headers)
        assert response.status_code == 400, body
        assert response.json()["extra"][0]["key"] == field
    bad_path = await client.get(shipments_path(world.point_a, "/12"), headers=world.agent_a.headers)
    assert bad_path.status_code == 400
    assert bad_path.json()["extra"] == [
        {"key": "trackingNumber", "source": "path", "message": bad_path.json()["extra"][0]["message"]}
    ]


async def test_duplicate_tracking_number_is_409_anywhere(client: Client, world: World) -> None:
    first = await client.post(
        shipments_path(world.point_a), json={"trackingNumber": "ABC123456"}, headers=world.agent_a.headers
    )
    assert first.status_code == 201
    for point, actor, number in (
        (world.point_a, world.agent_a, "abc 123456"),
        (world.point_b, world.agent_b, "ABC123456"),
        (world.point_b, world.admin, "#abc123456"),
    ):
        again = await client.post(shipments_path(point), json={"trackingNumber": number}, headers=actor.headers)
        assert again.status_code == 409
        assert "trackingNumber" in again.json()["detail"]


async def test_other_points_shipments_are_not_found(client: Client, world: World, session: AsyncSession) -> None:
    await add_shipment(session, world.point_b, "BBB123456", destination="Loja", recipient_name="Nora Aguirre")
    for actor in (world.agent_a, world.admin):
        for method, body in (("GET", None), ("PATCH", {"status": "DELIVERED"}), ("DELETE", None)):
            other = await client.request(
                method, shipments_path(world.point_a, "/bbb-123456"), json=body, headers=actor.headers
            )
            missing = await client.request(
                method, shipments_path(world.point_a, "/ZZZ999999"), json=body, headers=actor.headers
            )
            assert other.status_code == missing.status_code == 404
            assert other.json() == missing.json()
        listing = await client.get(shipments_path(world.point_a, "?q=BBB"), headers=actor.headers)
        assert listing.json() == {"items": [], "nextCursor": None}
    stored = await session.scalar(select(Shipment).where(Shipment.tracking_number == "BBB123456"))
    assert stored is not None and stored.status is ShipmentStatus.CREATED and stored.service_point_id == world.point_b


async def test_access_rules(client: Client, world: World, session: AsyncSession) -> None:
    await add_shipment(session, world.point_a, "ABC123456", sender_name="Ana Castro")
    listing = shipments_path(world.point_a)
    for actor in (world.admin, world.supervisor_a, world.agent_a):
        response = await client.get(listing, headers=actor.headers)
        assert response.status_code == 200
        assert response.json()["items"][0]["senderName"] == "Ana Castro"
    for actor in (world.agent_b, world.outsider):
        assert (await client.get(listing, headers=actor.headers)).status_code == 404
        assert (await client.get(shipments_path(world.point_a, "/ABC123456"), headers=actor.headers)).status_code == 404
        created = await client.post(listing, json={"trackingNumber": "NEW123456"}, headers=actor.headers)
        assert created.status_code == 404
    assert (await client.get(listing)).status_code == 401
    assert (await client.post(listing, json={"trackingNumber": "NEW123456"})).status_code == 401
    assert (await client.get(shipments_path(uuid.uuid4()), headers=world.admin.headers)).status_code == 404


async def test_pages_return_each_shipment_once(client: Client, world: World, session: AsyncSession) -> None:
    numbers = {f"PAG{n:06d}" for n in range(33)}
    session.add_all(
        Shipment(service_point_id=world.point_a, tracking_number=n, status=ShipmentStatus.IN_TRANSIT) for n in numbers
    )
    session.add_all(
        Shipment(service_point_id=world.point_b, tracking_number=f"OTH{n:06d}", status=ShipmentStatus.IN_TRANSIT)
        for n in range(5)
    )
    await session.commit()
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        params: dict[str, str | int] = {"limit": 7} | ({"cursor": cursor} if cursor else {})
        page = (await client.get(shipments_path(world.point_a), params=params, headers=world.agent_a.headers)).json()
        pages += 1
        assert len(page["items"]) <= 7
        seen += [item["trackingNumber"] for item in page["items"]]
        cursor = page["nextCursor"]
        if cursor is None:
            break
    assert pages == 5
    assert len(seen) == len(set(seen)) == 33
    assert set(seen) == numbers
    assert seen == sorted(seen)


async def test_filters(client: Client, world: World, session: AsyncSession) -> None:
    session.add_all(
        [
            Shipment(
                service_point_id=world.point_a,
                tracking_number="QTO100001",
                status=ShipmentStatus.CREATED,
                destination="Cuenca",
            ),
            Shipment(
                service_point_id=world.point_a,
                tracking_number="QTO100002",
                status=ShipmentStatus.DELIVERED,
                destination="Quito Sur",
            ),
            Shipment(
                service_point_id=world.point_a,
                tracking_number="GYE200001",
                status=ShipmentStatus.DELIVERED,
                destination="100% Quito",
            ),
        ]
    )
    await session.commit()

    async def numbers(**params: str) -> list[str]:
        response = await client.get(shipments_path(world.point_a), params=params, headers=world.agent_a.headers)
        assert response.status_code == 200
        return [item["trackingNumber"] for item in response.json()["items"]]

    assert await numbers(status="DELIVERED") == ["GYE200001", "QTO100002"]
    assert await numbers(q="qto-1000") == ["QTO100001", "QTO100002"]
    assert await numbers(q="quito") == ["GYE200001", "QTO100002"]
    assert await numbers(q="100%") == ["GYE200001"]  # LIKE wildcards are literal
    assert await numbers(q="quito", status="CREATED") == []
    assert await numbers(q="  ") == ["GYE200001", "QTO100001", "QTO100002"]


async def test_listing_rejects_bad_parameters(client: Client, world: World) -> None:
    bad: list[tuple[dict[str, str], str]] = [
        ({"limit": "0"}, "limit"),
        ({"limit": "201"}, "limit"),
        ({"status": "LOST"}, "status"),
        ({"cursor": "bm9wZQ"}, "cursor"),
        ({"cursor": "%%%"}, "cursor"),
    ]
    for params, field in bad:
        response = await client.get(shipments_path(world.point_a), params=params, headers=world.agent_a.headers)
        assert response.status_code == 400, params
        assert response.json()["extra"][0]["key"] == field, params

"""API keys: created by admins and shown once, stored as a hash, scoped to points and scopes, revocable."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from tests.conftest import World
from ventanilla.db.models import ApiKey, Conversation, Shipment, ShipmentStatus

Client = AsyncTestClient[Litestar]
KEYS = "/api/api-keys"


async def create_key(
    client: Client, world: World, scopes: list[str], points: list[UUID] | None, name: str = "Rastreo"
) -> dict:
    body = {"name": name, "scopes": scopes, "servicePointIds": None if points is None else [str(p) for p in points]}
    response = await client.post(KEYS, json=body, headers=world.admin.headers)
    assert response.status_code == 201, response.text
    return response.json()


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def point(sp: UUID, suffix: str) -> str:
    return f"/api/service-points/{sp}{suffix}"


async def test_created_once_hashed_at_rest_and_listed_without_secret(
    client: Client, world: World, session: AsyncSession
) -> None:
    created = await create_key(client, world, ["messages:read", "shipments:write"], [world.point_a])
    key = created["key"]
    assert key.startswith("vk_") and len(key) > 40
    assert created["prefix"] == key[:11]
    assert created["scopes"] == ["messages:read", "shipments:write"]
    assert created["servicePointIds"] == [str(world.point_a)]
    assert created["createdByUserId"] == str(world.admin.user_id)

    row = (await session.scalars(select(ApiKey).where(ApiKey.id == UUID(created["id"])))).one()
    assert row.secret_sha256 == hashlib.sha256(key.encode()).hexdigest()
    dump = (await session.execute(text("SELECT api_key::text FROM api_key"))).scalars().all()
    assert not any(key in line or key[11:] in line for line in dump)

    listing = await client.get(KEYS, headers=world.admin.headers)
    assert listing.status_code == 200
    assert [item["id"] for item in listing.json()] == [created["id"]]
    assert "key" not in listing.json()[0] and key[11:] not in listing.text


@pytest.mark.parametrize("caller", ["supervisor_a", "agent_a", "outsider"])
async def test_only_admins_manage_keys(client: Client, world: World, caller: str) -> None:
    created = await create_key(client, world, ["messages:read"], None)
    headers = world.actors()[caller].headers
    assert (await client.get(KEYS, headers=headers)).status_code == 403
    body = {"name": "x", "scopes": ["messages:read"], "servicePointIds": None}
    assert (await client.post(KEYS, json=body, headers=headers)).status_code == 403
    assert (await client.delete(f"{KEYS}/{created['id']}", headers=headers)).status_code == 403


async def test_a_key_never_manages_keys_nor_reaches_admin_routes(client: Client, world: World) -> None:
    key = (await create_key(client, world, ["messages:read", "messages:send", "shipments:write"], None))["key"]
    for method, url in (("GET", KEYS), ("GET", "/api/users"), ("GET", "/api/me"), ("GET", "/api/service-points")):
        assert (await client.request(method, url, headers=bearer(key))).status_code == 403, url


async def test_use_on_allowed_routes_of_its_point_only(client: Client, world: World, session: AsyncSession) -> None:
    conversation = Conversation(service_point_id=world.point_a, customer_phone="+593991112233")
    session.add_all(
        [
            conversation,
            Shipment(service_point_id=world.point_b, tracking_number="BBB123456", status=ShipmentStatus.CREATED),
        ]
    )
    await session.commit()
    key = (await create_key(client, world, ["messages:read", "shipments:write"], [world.point_a]))["key"]

    listing = await client.get(point(world.point_a, "/conversations"), headers=bearer(key))
    assert listing.status_code == 200, listing.text
    assert [item["id"] for item in listing.json()["items"]] == [str(conversation.id)]
    messages = await client.get(point(world.point_a, f"/conversations/{conversation.id}/messages"), headers=bearer(key))
    assert messages.status_code == 200

    shipment = {"trackingNumber": "AAA123456", "status": "CREATED"}
    assert (
        await client.post(point(world.point_a, "/shipments"), json=shipment, headers=bearer(key))
    ).status_code == 201

    # Another point: exactly what a missing point gives.
    other = await client.get(point(world.point_b, "/conversations"), headers=bearer(key))
    assert other.status_code == 404 and other.json()["detail"] == "service point not found"
    patch = await client.patch(
        point(world.point_b, "/shipments/BBB123456"), json={"destination": "X"}, headers=bearer(key)
    )
    assert patch.status_code == 404


async def test_403_without_the_scope(client: Client, world: World, session: AsyncSession) -> None:
    conversation = Conversation(service_point_id=world.point_a, customer_phone="+593991112233")
    session.add(conversation)
    await session.commit()
    key = (await create_key(client, world, ["shipments:read"], None))["key"]
    assert (await client.get(point(world.point_a, "/shipments"), headers=bearer(key))).status_code == 200
    for method, url, body in (
        ("GET", point(world.point_a, "/conversations"), None),
        ("POST", point(world.point_a, f"/conversations/{conversation.id}/messages"), {"content": "hola"}),
        ("POST", point(world.point_a, "/shipments"), {"trackingNumber": "AAA123456", "status": "CREATED"}),
        ("PATCH", point(world.point_a, f"/conversations/{conversation.id}"), {"status": "HUMAN"}),  # no scope at all
    ):
        response = await client.request(method, url, json=body, headers=bearer(key))
        assert response.status_code == 403, (method, url, response.text)
    assert (await session.scalars(select(Shipment))).all() == []


async def test_send_a_reply_with_messages_send(client: Client, world: World, session: AsyncSession) -> None:
    conversation = Conversation(service_point_id=world.point_a, customer_phone="+593991112233")
    session.add(conversation)
    await session.commit()
    key = (await create_key(client, world, ["messages:send"], [world.point_a]))["key"]
    url = point(world.point_a, f"/conversations/{conversation.id}/messages")
    sent = await client.post(url, json={"content": "Su paquete llegó."}, headers=bearer(key))
    assert sent.status_code == 201, sent.text
    assert sent.json()["senderUserId"] is None


async def test_401_after_revoke_and_for_made_up_keys(client: Client, world: World) -> None:
    created = await create_key(client, world, ["shipments:read"], None)
    url = point(world.point_a, "/shipments")
    assert (await client.get(url, headers=bearer(created["key"]))).status_code == 200

    assert (await client.delete(f"{KEYS}/{created['id']}", headers=world.admin.headers)).status_code == 204
    assert (await client.get(url, headers=bearer(created["key"]))).status_code == 401
    listed = (await client.get(KEYS, headers=world.admin.headers)).json()
    assert listed[0]["revokedAt"] is not None
    assert (await client.delete(f"{KEYS}/{created['id']}", headers=world.admin.headers)).status_code == 204
    missing = "00000000-0000-0000-0000-000000000001"
    assert (await client.delete(f"{KEYS}/{missing}", headers=world.admin.headers)).status_code == 404

    alive = (await create_key(client, world, ["shipments:read"], None))["key"]
    assert (await client.get(url, headers=bearer(alive))).status_code == 200
    assert (await client.get(url, cookies={"ventanilla_token": alive})).status_code == 401  # header only
    for made_up in ("vk_", "vk_" + "A" * 43, alive[:11] + "B" * 32, alive + "x", "vk_" + "x" * 500):
        assert (await client.get(url, headers=bearer(made_up))).status_code == 401, made_up


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "", "scopes": ["messages:read"], "servicePointIds": None}, "name"),
        ({"name": "   ", "scopes": ["messages:read"], "servicePointIds": None}, "name"),
        ({"name": "a\u0000b", "scopes": ["messages:read"], "servicePointIds": None}, "name"),
        ({"name": "x" * 121, "scopes": ["messages:read"], "servicePointIds": None}, "name"),
        ({"name": "CRM", "scopes": ["admin"], "servicePointIds": None}, "scopes"),
        ({"name": "CRM", "scopes": [], "servicePointIds": None}, "scopes"),
        ({"name": "CRM", "scopes": ["messages:read"] * 50, "servicePointIds": None}, "scopes"),
        ({"name": "CRM", "scopes": ["messages:read"], "servicePointIds": []}, "servicePointIds"),
        ({"name": "CRM", "scopes": ["messages:read"], "servicePointIds": ["nope"]}, "servicePointIds"),
        (
            {"name": "CRM", "scopes": ["messages:read"], "servicePointIds": ["00000000-0000-0000-0000-000000000001"]},
            "servicePointIds",
        ),
        (
            {
                "name": "CRM",
                "scopes": ["messages:read"],
                "servicePointIds": ["00000000-0000-0000-0000-000000000001"] * 1000,
            },
            "servicePointIds",
        ),
        ({"name": "CRM", "scopes": ["messages:read"]}, "servicePointIds"),
        ({"name": "CRM", "scopes": ["messages:read"], "servicePointIds": None, "key": "vk_mine"}, "key"),
    ],
)
async def test_bad_input_is_400_naming_the_field(
    client: Client, world: World, session: AsyncSession, body: dict, field: str
) -> None:
    response = await client.post(KEYS, json=body, headers=world.admin.headers)
    assert response.status_code == 400, response.text
    assert field in response.text
    assert (await session.scalars(select(ApiKey))).all() == []


async def test_last_used_at_written_at_most_once_a_minute(client: Client, world: World, session: AsyncSession) -> None:
    created = await create_key(client, world, ["shipments:read"], None)
    assert created["lastUsedAt"] is None
    url = point(world.point_a, "/shipments")
    key_id = UUID(created["id"])

    async def last_used() -> datetime | None:
        return await session.scalar(
            select(ApiKey.last_used_at).where(ApiKey.id == key_id).execution_options(populate_existing=True)
        )

    assert (await client.get(url, headers=bearer(created["key"]))).status_code == 200
    first = await last_used()
    assert first is not None and datetime.now(UTC) - first < timedelta(seconds=30)
    await session.commit()
    assert (await client.get(url, headers=bearer(created["key"]))).status_code == 200
    assert await last_used() == first  # within the minute: not written again
    await session.commit()

    long_ago = datetime.now(UTC) - timedelta(minutes=5)
    await session.execute(update(ApiKey).where(ApiKey.id == key_id).values(last_used_at=long_ago))
    await session.commit()
    assert (await client.get(url, headers=bearer(created["key"]))).status_code == 200
    again = await last_used()
    assert again is not None and again > long_ago + timedelta(minutes=4)
    listed = (await client.get(KEYS, headers=world.admin.headers)).json()
    assert listed[0]["lastUsedAt"] is not None

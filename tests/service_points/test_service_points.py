"""Service point CRUD and membership, with the contract's access rules."""

from __future__ import annotations

import uuid

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from tests.conftest import World
from tests.whatsapp.conftest import eventually
from ventanilla.db.models import MemberRole, Membership, ServicePoint, Shipment, ShipmentStatus
from ventanilla.whatsapp.simulator_controllers import FAKE_PHONE_PREFIX

Client = AsyncTestClient[Litestar]


async def test_admin_sees_all_points_members_only_theirs(client: Client, world: World) -> None:
    names = lambda r: sorted(p["name"] for p in r.json())  # noqa: E731
    assert names(await client.get("/api/service-points", headers=world.admin.headers)) == ["Punto A", "Punto B"]
    assert names(await client.get("/api/service-points", headers=world.agent_a.headers)) == ["Punto A"]
    assert names(await client.get("/api/service-points", headers=world.agent_b.headers)) == ["Punto B"]
    assert names(await client.get("/api/service-points", headers=world.outsider.headers)) == []


async def test_create_point(client: Client, world: World) -> None:
    response = await client.post(
        "/api/service-points",
        json={"name": "  Cuenca Sur ", "phoneNumber": "+593723456789"},
        headers=world.admin.headers,
    )
    assert response.status_code == 201
    body = response.json()
    assert body["name"] == "Cuenca Sur"
    assert body["whatsappStatus"] == "DISCONNECTED"
    assert body["lastQrAt"] is None
    fetched = await client.get(f"/api/service-points/{body['id']}", headers=world.admin.headers)
    assert fetched.json() == body
    local = await client.post(
        "/api/service-points", json={"name": "Loja", "phoneNumber": "07 234 5678"}, headers=world.admin.headers
    )
    assert local.status_code == 201 and local.json()["phoneNumber"] == "+59372345678"  # a local number, in E.164


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"name": "", "phoneNumber": None}, 400, "name"),
        ({"name": "X", "phoneNumber": "12345"}, 400, "phoneNumber"),
        ({"phoneNumber": "+593723456789"}, 400, "name"),
        ({"name": "X", "whatsappStatus": "CONNECTED"}, 400, "whatsappStatus"),
        ({"name": "punto a"}, 409, "name"),
        ({"name": "Nuevo", "phoneNumber": "+593200000002"}, 409, "phoneNumber"),
    ],
)
async def test_create_point_rejects_bad_input(
    client: Client, world: World, body: dict[str, object], status: int, field: str
) -> None:
    response = await client.post("/api/service-points", json=body, headers=world.admin.headers)
    assert response.status_code == status
    assert field in str(response.json())


async def test_only_admins_create_and_delete(client: Client, world: World) -> None:
    for actor in (world.supervisor_a, world.agent_a, world.outsider):
        response = await client.post("/api/service-points", json={"name": "X"}, headers=actor.headers)
        assert response.status_code == 403
    response = await client.delete(f"/api/service-points/{world.point_a}", headers=world.supervisor_a.headers)
    assert response.status_code == 403


async def test_supervisor_renames_own_point_agent_cannot(client: Client, world: World) -> None:
    path = f"/api/service-points/{world.point_a}"
    response = await client.patch(path, json={"name": "Punto A renombrado"}, headers=world.supervisor_a.headers)
    assert response.status_code == 200
    assert response.json()["name"] == "Punto A renombrado"
    assert response.json()["phoneNumber"] == "+593200000001"  # untouched
    assert (await client.patch(path, json={"name": "Z"}, headers=world.agent_a.headers)).status_code == 403
    cleared = await client.patch(path, json={"phoneNumber": None}, headers=world.admin.headers)
    assert cleared.json()["phoneNumber"] is None
    taken = await client.patch(path, json={"name": "PUNTO B"}, headers=world.admin.headers)
    assert taken.status_code == 409


async def test_other_points_are_invisible(client: Client, world: World) -> None:
    """A member of A asking for B gets exactly what a non-existent point gives: 404."""
    for method, suffix, body in (("GET", "", None), ("PATCH", "", {"name": "hack"}), ("GET", "/members", None)):
        other = await client.request(
            method, f"/api/service-points/{world.point_b}{suffix}", json=body, headers=world.supervisor_a.headers
        )
        missing = await client.request(
            method, f"/api/service-points/{uuid.uuid4()}{suffix}", json=body, headers=world.supervisor_a.headers
        )
        assert other.status_code == missing.status_code == 404
        assert other.json() == missing.json()
    assert (await client.get(f"/api/service-points/{uuid.uuid4()}", headers=world.admin.headers)).status_code == 404
    assert (await client.get("/api/service-points/not-a-uuid", headers=world.admin.headers)).status_code == 404


async def test_delete_point_cascades_but_keeps_shipments_safe(
    client: Client, world: World, session: AsyncSession
) -> None:
    session.add(Shipment(service_point_id=world.point_b, tracking_number="KEEP123456", status=ShipmentStatus.CREATED))
    await session.commit()
    refused = await client.delete(f"/api/service-points/{world.point_b}", headers=world.admin.headers)
    assert refused.status_code == 409
    assert "shipments" in refused.json()["detail"]

    deleted = await client.delete(f"/api/service-points/{world.point_a}", headers=world.admin.headers)
    assert deleted.status_code == 204
    assert await session.get(ServicePoint, world.point_a) is None
    remaining = await session.scalar(
        select(func.count()).select_from(Membership).where(Membership.service_point_id == world.point_a)
    )
    assert remaining == 0
    assert (await client.get(f"/api/service-points/{world.point_a}", headers=world.admin.headers)).status_code == 404


async def test_membership_management(client: Client, world: World) -> None:
    members_path = f"/api/service-points/{world.point_b}/members"
    added = await client.post(
        members_path, json={"userId": str(world.outsider.user_id), "role": "AGENT"}, headers=world.admin.headers
    )
    assert added.status_code == 201
    assert added.json()["email"] == world.outsider.email
    # the new member now sees point B
    assert (await client.get(f"/api/service-points/{world.point_b}", headers=world.outsider.headers)).status_code == 200
    promoted = await client.post(
        members_path, json={"userId": str(world.outsider.user_id), "role": "SUPERVISOR"}, headers=world.admin.headers
    )
    assert promoted.json()["role"] == "SUPERVISOR"
    listing = await client.get(members_path, headers=world.agent_b.headers)
    assert {m["email"]: m["role"] for m in listing.json()} == {
        world.agent_b.email: "AGENT",
        world.outsider.email: "SUPERVISOR",
    }

    removed = await client.delete(f"{members_path}/{world.outsider.user_id}", headers=world.admin.headers)
    assert removed.status_code == 204
    assert (await client.get(f"/api/service-points/{world.point_b}", headers=world.outsider.headers)).status_code == 404
    again = await client.delete(f"{members_path}/{world.outsider.user_id}", headers=world.admin.headers)
    assert again.status_code == 404


async def test_membership_input_errors(client: Client, world: World) -> None:
    members_path = f"/api/service-points/{world.point_a}/members"
    unknown_user = await client.post(
        members_path, json={"userId": str(uuid.uuid4()), "role": "AGENT"}, headers=world.admin.headers
    )
    assert unknown_user.status_code == 404
    assert "userId" in unknown_user.json()["detail"]
    bad_role = await client.post(
        members_path, json={"userId": str(world.outsider.user_id), "role": "OWNER"}, headers=world.admin.headers
    )
    assert bad_role.status_code == 400 and bad_role.json()["extra"][0]["key"] == "role"
    missing_point = await client.post(
        f"/api/service-points/{uuid.uuid4()}/members",
        json={"userId": str(world.outsider.user_id), "role": "AGENT"},
        headers=world.admin.headers,
    )
    assert missing_point.status_code == 404
    for actor in (world.supervisor_a, world.agent_a):
        forbidden = await client.post(
            members_path, json={"userId": str(actor.user_id), "role": "SUPERVISOR"}, headers=actor.headers
        )
        assert forbidden.status_code == 403


async def test_only_admins_change_a_points_phone_number(client: Client, world: World) -> None:
    """A supervisor could set another branch's number on their own point, then unlink that branch when linking."""
    path = f"/api/service-points/{world.point_a}"
    for number in ("+593200000002", "+593799999999", None):  # B's number, a free one, none
        refused = await client.patch(path, json={"phoneNumber": number}, headers=world.supervisor_a.headers)
        assert refused.status_code == 403, number
        assert "Punto B" not in refused.text and str(world.point_b) not in refused.text
    both = await client.patch(path, json={"name": "Nuevo", "phoneNumber": None}, headers=world.supervisor_a.headers)
    assert both.status_code == 403
    unchanged = (await client.get(path, headers=world.admin.headers)).json()
    assert (unchanged["name"], unchanged["phoneNumber"]) == ("Punto A", "+593200000001")
    changed = await client.patch(path, json={"phoneNumber": "+593799999999"}, headers=world.admin.headers)
    assert changed.status_code == 200 and changed.json()["phoneNumber"] == "+593799999999"


async def test_conflicts_say_nothing_of_the_other_point(client: Client, world: World) -> None:
    path = f"/api/service-points/{world.point_a}"
    for body, headers in (
        ({"name": "punto b"}, world.supervisor_a.headers),
        ({"phoneNumber": "+593200000002"}, world.admin.headers),
    ):
        taken = await client.patch(path, json=body, headers=headers)
        assert taken.status_code == 409
        assert next(iter(body)) in taken.json()["detail"]  # the field to change
        assert str(world.point_b) not in taken.text and "Punto B" not in taken.text


async def test_an_admin_who_is_also_an_agent_of_the_point_is_still_an_admin(
    client: Client, world: World, session: AsyncSession
) -> None:
    session.add(Membership(user_id=world.admin.user_id, service_point_id=world.point_a, role=MemberRole.AGENT))
    await session.commit()
    path = f"/api/service-points/{world.point_a}"
    renamed = await client.patch(path, json={"name": "Punto A Centro"}, headers=world.admin.headers)
    assert renamed.status_code == 200
    assert (await client.patch(path, json={"name": "Z"}, headers=world.agent_a.headers)).status_code == 403


async def test_a_number_linked_elsewhere_is_refused_without_naming_the_other_point(
    client: Client, world: World
) -> None:
    """The phone scanning A's QR has B's number: A is unlinked, and its lastError names no other branch."""
    point_a, point_b = f"/api/service-points/{world.point_a}", f"/api/service-points/{world.point_b}"
    # With no number of its own, A's simulated phone has this one; B is given it first.
    assert (await client.patch(point_a, json={"phoneNumber": None}, headers=world.admin.headers)).status_code == 200
    phone_of_a = FAKE_PHONE_PREFIX + str(world.point_a.int)[-7:]
    taken = await client.patch(point_b, json={"phoneNumber": phone_of_a}, headers=world.admin.headers)
    assert taken.status_code == 200
    await client.post(f"{point_a}/whatsapp/connect", headers=world.admin.headers)

    async def whatsapp() -> dict:
        return (await client.get(f"{point_a}/whatsapp", headers=world.supervisor_a.headers)).json()

    async def qr_pending() -> bool:
        return (await whatsapp())["qrAvailable"]

    async def refused() -> bool:
        return (await whatsapp())["lastError"] is not None

    await eventually(qr_pending, what="a QR code")
    assert (await client.post(f"{point_a}/simulator/scan", headers=world.admin.headers)).status_code == 201
    await eventually(refused, what="the refusal")
    state = await whatsapp()
    assert state["status"] == "DISCONNECTED" and state["phoneNumber"] is None
    assert "otra sucursal" in state["lastError"] and "Punto B" not in state["lastError"]

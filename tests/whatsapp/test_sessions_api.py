"""WhatsApp sessions over HTTP with the simulator: link, QR formats, pairing, drops, logout, restarts."""

from __future__ import annotations

import stat
from pathlib import Path
from uuid import UUID

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from tests.conftest import World
from tests.whatsapp.conftest import FAST, eventually
from ventanilla.app import create_app
from ventanilla.config import Settings
from ventanilla.db.models import Direction, Message, SimulatorPhone

Client = AsyncTestClient[Litestar]


def _base(point: object) -> str:
    return f"/api/service-points/{point}"


async def _status(client: Client, world: World, point: object) -> dict:
    response = await client.get(f"{_base(point)}/whatsapp", headers=world.admin.headers)
    assert response.status_code == 200
    return response.json()


async def _link(client: Client, world: World, point: object) -> None:
    headers = world.admin.headers
    assert (await client.post(f"{_base(point)}/whatsapp/connect", headers=headers)).status_code == 202

    async def qr_pending() -> bool:
        return (await _status(client, world, point))["qrAvailable"]

    await eventually(qr_pending, what="a QR code")
    assert (await client.post(f"{_base(point)}/simulator/scan", headers=headers)).status_code == 201

    async def connected() -> bool:
        return (await _status(client, world, point))["status"] == "CONNECTED"

    await eventually(connected, what="CONNECTED")


async def _inbound(client: Client, world: World, point: object, text: str, message_id: str | None = None) -> int:
    body = {"from": "+593991112233", "text": text}
    if message_id:
        body["messageId"] = message_id
    response = await client.post(f"{_base(point)}/simulator/inbound", json=body, headers=world.admin.headers)
    return response.status_code


async def _linked_phones(session: AsyncSession) -> set[UUID]:
    """The points with a linked simulated phone (what a restart resumes)."""
    session.expire_all()
    return set(await session.scalars(select(SimulatorPhone.service_point_id)))


async def _stored(session: AsyncSession, point: object) -> int:
    """Inbound messages stored for the point (the bot's replies are not counted)."""
    statement = (
        select(func.count())
        .select_from(Message)
        .where(Message.service_point_id == point, Message.direction == Direction.IN)
    )
    return await session.scalar(statement)


async def test_unlinked_points_start_disconnected(client: Client, world: World) -> None:
    state = await _status(client, world, world.point_a)
    assert state == {
        "status": "DISCONNECTED",
        "phoneNumber": "+593200000001",
        "lastQrAt": None,
        "qrAvailable": False,
        "lastError": None,
    }
    assert (await client.get(f"{_base(world.point_a)}/whatsapp/qr", headers=world.admin.headers)).status_code == 404


async def test_link_two_points_by_scanning(
    client: Client, world: World, settings: Settings, session: AsyncSession
) -> None:
    await _link(client, world, world.point_a)
    await _link(client, world, world.point_b)
    state = await _status(client, world, world.point_a)
    assert state["status"] == "CONNECTED" and state["lastError"] is None and state["lastQrAt"] is not None
    statuses = await client.get("/api/whatsapp/status", headers=world.admin.headers)
    assert {row["name"]: row["status"] for row in statuses.json()} == {"Punto A": "CONNECTED", "Punto B": "CONNECTED"}
    mine = await client.get("/api/whatsapp/status", headers=world.agent_a.headers)
    assert [row["name"] for row in mine.json()] == ["Punto A"]
    # credentials: one private directory per point (neonize's); the simulated phones are linked in the database
    for point in (world.point_a, world.point_b):
        directory = settings.auth_sessions_dir / str(point)
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert await _linked_phones(session) == {world.point_a, world.point_b}


async def test_qr_in_every_format(client: Client, world: World) -> None:
    path = f"{_base(world.point_a)}/whatsapp"
    await client.post(f"{path}/connect", headers=world.agent_a.headers)

    async def pending() -> bool:
        return (await client.get(f"{path}/qr", headers=world.agent_a.headers)).status_code == 200

    await eventually(pending, what="a pending QR")
    as_json = (await client.get(f"{path}/qr", headers=world.agent_a.headers)).json()
    assert as_json["qr"].startswith("2@") and as_json["dataUrl"].startswith("data:image/png;base64,")
    assert as_json["expiresAt"]
    for query, accept, media_type, magic in (
        ("?format=png", None, "image/png", b"\x89PNG"),
        ("?format=svg", None, "image/svg+xml", b"<svg"),
        ("", "image/png", "image/png", b"\x89PNG"),
        ("", "image/svg+xml", "image/svg+xml", b"<svg"),
        ("?format=json", "image/png", "application/json", b"{"),
    ):
        headers = dict(world.agent_a.headers)
        if accept:
            headers["Accept"] = accept
        response = await client.get(f"{path}/qr{query}", headers=headers)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith(media_type)
        assert response.content.startswith(magic)
    bad = await client.get(f"{path}/qr?format=gif", headers=world.agent_a.headers)
    assert bad.status_code == 400
    # a linked point has no QR to scan
    await client.post(f"{_base(world.point_a)}/simulator/scan", headers=world.agent_a.headers)

    async def connected() -> bool:
        return (await _status(client, world, world.point_a))["status"] == "CONNECTED"

    await eventually(connected, what="CONNECTED")
    assert (await client.get(f"{path}/qr", headers=world.agent_a.headers)).status_code == 409


async def test_qr_codes_rotate_then_expire_without_endless_loop(client: Client, world: World) -> None:
    path = f"{_base(world.point_a)}/whatsapp"
    await client.post(f"{path}/connect", headers=world.admin.headers)
    seen: set[str] = set()

    async def rotated() -> bool:
        response = await client.get(f"{path}/qr", headers=world.admin.headers)
        if response.status_code == 200:
            seen.add(response.json()["qr"])
        return len(seen) >= 2

    await eventually(rotated, timeout=FAST.qr_give_up_seconds, what="a second QR code")

    async def gave_up() -> bool:
        return (await _status(client, world, world.point_a))["status"] == "DISCONNECTED"

    await eventually(gave_up, timeout=FAST.qr_give_up_seconds + 2, what="giving up")
    state = await _status(client, world, world.point_a)
    assert "venció" in state["lastError"] and state["qrAvailable"] is False
    assert (await client.get(f"{path}/qr", headers=world.admin.headers)).status_code == 404
    # connecting again starts over with a fresh code
    await client.post(f"{path}/connect", headers=world.admin.headers)
    await eventually(lambda: _qr_available(client, world, world.point_a), what="a fresh QR")
    assert (await _status(client, world, world.point_a))["lastError"] is None


async def _qr_available(client: Client, world: World, point: object) -> bool:
    return (await _status(client, world, point))["qrAvailable"]


async def test_pairing_code(client: Client, world: World) -> None:
    path = f"{_base(world.point_a)}/whatsapp/pair-code"
    response = await client.post(path, json={"phoneNumber": "+593991234567"}, headers=world.agent_a.headers)
    assert response.status_code == 201
    code = response.json()["code"]
    assert len(code) == 9 and code[4] == "-"
    bad = await client.post(path, json={"phoneNumber": "099-12ab"}, headers=world.agent_a.headers)
    assert bad.status_code == 400 and bad.json()["extra"][0]["key"] == "phoneNumber"
    await client.post(f"{_base(world.point_a)}/simulator/scan", headers=world.agent_a.headers)
    await eventually(lambda: _is(client, world, world.point_a, "CONNECTED"), what="CONNECTED")
    linked = await client.post(path, json={"phoneNumber": "+593991234567"}, headers=world.agent_a.headers)
    assert linked.status_code == 409


async def _is(client: Client, world: World, point: object, status: str) -> bool:
    return (await _status(client, world, point))["status"] == status


async def test_logged_out_point_leaves_the_other_untouched_and_relinks(
    client: Client, world: World, settings: Settings, session: AsyncSession
) -> None:
    await _link(client, world, world.point_a)
    await _link(client, world, world.point_b)
    logged_out = await client.post(
        f"{_base(world.point_a)}/simulator/disconnect", json={"reason": "logged_out"}, headers=world.admin.headers
    )
    assert logged_out.status_code == 201
    await eventually(lambda: _is(client, world, world.point_a, "DISCONNECTED"), what="A DISCONNECTED")
    state_a = await _status(client, world, world.point_a)
    assert "desde el teléfono" in state_a["lastError"]
    assert not (settings.auth_sessions_dir / str(world.point_a)).exists()  # A's credentials are gone...
    assert (settings.auth_sessions_dir / str(world.point_b)).is_dir()  # ...and B's are not
    assert await _linked_phones(session) == {world.point_b}  # A's phone unlinked this device
    # B keeps receiving, A receives nothing
    assert await _inbound(client, world, world.point_b, "hola B") == 202
    assert await _inbound(client, world, world.point_a, "hola A") == 409
    assert await _stored(session, world.point_b) == 1
    assert await _stored(session, world.point_a) == 0
    assert (await _status(client, world, world.point_b))["status"] == "CONNECTED"
    # A relinks with a fresh QR
    await _link(client, world, world.point_a)
    assert (await _status(client, world, world.point_a))["lastError"] is None


async def test_network_drop_heals_by_itself(client: Client, world: World, session: AsyncSession) -> None:
    await _link(client, world, world.point_b)
    dropped = await client.post(
        f"{_base(world.point_b)}/simulator/disconnect", json={"reason": "network"}, headers=world.admin.headers
    )
    assert dropped.status_code == 201
    await eventually(lambda: _is(client, world, world.point_b, "CONNECTED"), what="B reconnected")
    assert (await _status(client, world, world.point_b))["lastError"] is None
    assert await _inbound(client, world, world.point_b, "sigo aquí") == 202
    assert await _stored(session, world.point_b) == 1


async def test_logout_and_restart_endpoints(
    client: Client, world: World, settings: Settings, session: AsyncSession
) -> None:
    await _link(client, world, world.point_a)
    restarted = await client.post(f"{_base(world.point_a)}/whatsapp/restart", headers=world.agent_a.headers)
    assert restarted.status_code == 202
    await eventually(lambda: _is(client, world, world.point_a, "CONNECTED"), what="CONNECTED after restart")
    out = await client.post(f"{_base(world.point_a)}/whatsapp/logout", headers=world.agent_a.headers)
    assert out.status_code == 202
    assert (await _status(client, world, world.point_a))["status"] == "DISCONNECTED"
    assert not (settings.auth_sessions_dir / str(world.point_a)).exists()
    assert await _linked_phones(session) == set()


async def test_restart_of_the_server_resumes_linked_points_without_qr(
    client: Client, world: World, settings: Settings
) -> None:
    await _link(client, world, world.point_a)
    await _link(client, world, world.point_b)
    async with AsyncTestClient(create_app(settings, session_policy=FAST)) as second:
        for point in (world.point_a, world.point_b):
            await eventually(lambda p=point: _is(second, world, p, "CONNECTED"), what="resumed CONNECTED")
            assert (await _status(second, world, point))["qrAvailable"] is False
        assert await _inbound(second, world, world.point_a, "después del reinicio") == 202


async def test_deleting_a_point_removes_only_its_credentials(client: Client, world: World, settings: Settings) -> None:
    await _link(client, world, world.point_a)
    await _link(client, world, world.point_b)
    assert (await client.delete(_base(world.point_a), headers=world.admin.headers)).status_code == 204
    assert not (settings.auth_sessions_dir / str(world.point_a)).exists()
    assert (settings.auth_sessions_dir / str(world.point_b)).is_dir()
    assert await _is(client, world, world.point_b, "CONNECTED")


async def test_access_rules(client: Client, world: World) -> None:
    for method, suffix in (
        ("GET", "/whatsapp"),
        ("POST", "/whatsapp/connect"),
        ("GET", "/whatsapp/qr"),
        ("POST", "/whatsapp/logout"),
        ("POST", "/whatsapp/restart"),
        ("POST", "/simulator/scan"),
        ("GET", "/simulator/sent"),
    ):
        url = f"{_base(world.point_a)}{suffix}"
        assert (await client.request(method, url, headers=world.agent_b.headers)).status_code == 404
        assert (await client.request(method, url, headers=world.outsider.headers)).status_code == 404
        assert (await client.request(method, url)).status_code == 401


async def test_simulator_input_errors(client: Client, world: World) -> None:
    inbound = f"{_base(world.point_a)}/simulator/inbound"
    headers = world.admin.headers
    assert (await client.post(inbound, json={"from": "+593991112233", "text": "x"}, headers=headers)).status_code == 409
    await _link(client, world, world.point_a)
    for body, field in (
        ({"from": "", "text": "x"}, "from"),
        ({"from": "+593991112233", "text": ""}, "text"),
        ({"from": "+593991112233"}, "text"),
        ({"from": "+593991112233", "text": "x", "messageId": "has spaces"}, "messageId"),
    ):
        response = await client.post(inbound, json=body, headers=headers)
        assert response.status_code == 400, body
        assert field in str(response.json())
    batch = f"{inbound}/batch"
    assert (await client.post(batch, json=[], headers=headers)).status_code == 400
    too_many = [{"from": "+593991112233", "text": "x"}] * 1001
    assert (await client.post(batch, json=too_many, headers=headers)).status_code == 400
    drop = await client.post(f"{_base(world.point_a)}/simulator/disconnect", json={"reason": "cosmic"}, headers=headers)
    assert drop.status_code == 400


async def test_redelivered_and_batched_messages_are_stored_once(
    client: Client, world: World, session: AsyncSession
) -> None:
    await _link(client, world, world.point_a)
    assert await _inbound(client, world, world.point_a, "hola", "ID-1") == 202
    assert await _inbound(client, world, world.point_a, "hola", "ID-1") == 202
    batch = [{"from": f"+5939900000{i:02d}", "text": f"m{i}", "messageId": f"B-{i}"} for i in range(50)]
    response = await client.post(
        f"{_base(world.point_a)}/simulator/inbound/batch", json=batch + batch[:10], headers=world.admin.headers
    )
    assert response.status_code == 202
    assert len(response.json()["messageIds"]) == 60
    assert await _stored(session, world.point_a) == 51


def test_simulator_routes_absent_with_neonize(tmp_path: Path) -> None:
    """Checked without starting anything: the neonize app simply has no simulator routes (404)."""
    from ventanilla.config import load_settings

    settings = load_settings(
        {
            "DATABASE_URL": "postgresql+asyncpg://u@h/db",
            "VENTANILLA_DATA_DIR": str(tmp_path / "d"),
            "AUTH_SESSIONS_DIR": str(tmp_path / "a"),
            "JWT_SECRET": "x" * 40,
        },
        env_file=None,
    )
    app = create_app(settings)
    paths = {route.path for route in app.routes}
    assert "/api/service-points/{sp_id:uuid}/whatsapp/qr" in paths
    assert not any("/simulator" in path for path in paths)

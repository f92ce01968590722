"""Every bad input is a 400 that names the field: NUL anywhere, loosely typed JSON, phone numbers with a newline."""

from __future__ import annotations

import re
from uuid import UUID

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from tests.conftest import World
from tests.rows import add_conversation
from ventanilla.db.models import E164_CHECK, User
from ventanilla.http_errors import NUL_MESSAGE
from ventanilla.schemas import E164_PATTERN

Client = AsyncTestClient[Litestar]
NUL = "\x00"
VISIBLE_MESSAGE = f"must have a visible character and {NUL_MESSAGE}"


def _point(point: UUID) -> str:
    return f"/api/service-points/{point}"


def assert_names(response: object, status: int, key: str, source: str) -> None:
    assert response.status_code == status, response.text  # type: ignore[attr-defined]
    errors = response.json()["extra"]  # type: ignore[attr-defined]
    assert {"key": key, "source": source} in [{"key": e.get("key"), "source": e.get("source")} for e in errors], errors


async def test_nul_is_refused_in_every_kind_of_input(client: Client, world: World, session: AsyncSession) -> None:
    conversation = await add_conversation(session, world.point_a)
    a = _point(world.point_a)
    admin, agent, supervisor = world.admin.headers, world.agent_a.headers, world.supervisor_a.headers
    user = {"email": "nuevo@example.com", "password": "una-clave-larga", "name": "Nuevo"}
    cases = [
        ("POST", f"{a}/faqs", {"question": f"¿Horario?{NUL}", "answer": "De 8 a 18."}, agent, "question"),
        (
            "POST",
            "/api/faqs",
            {"question": "¿Horario?", "answer": "8 a 18", "keywords": ["ok", NUL]},
            admin,
            "keywords[1]",
        ),
        ("POST", f"{a}/shipments", {"trackingNumber": "ABC123456", "destination": f"Qu{NUL}ito"}, agent, "destination"),
        ("POST", f"{a}/shipments", {"trackingNumber": f"ABC{NUL}123456"}, agent, "trackingNumber"),
        ("POST", "/api/users", user | {"email": f"nu{NUL}evo@example.com"}, admin, "email"),
        ("POST", "/api/users", user | {"name": f"Nu{NUL}evo"}, admin, "name"),
        ("POST", "/api/users", user | {"password": f"una-clave{NUL}-larga"}, admin, "password"),
        ("POST", f"{a}/conversations/{conversation}/messages", {"content": f"ho{NUL}la"}, agent, "content"),
        ("PATCH", f"{a}/conversations/{conversation}", {"status": "HUMAN", "reason": f"x{NUL}"}, agent, "reason"),
        ("PATCH", a, {"name": f"Punto{NUL}"}, supervisor, "name"),
        ("POST", "/api/service-points", {"name": NUL}, admin, "name"),
        ("POST", "/api/auth/login", {"email": f"admin{NUL}@example.com", "password": "x"}, {}, "email"),
    ]
    for method, url, body, headers, key in cases:
        response = await client.request(method, url, json=body, headers=headers)
        assert_names(response, 400, key, "body")
        assert response.json()["extra"][0]["message"] in (NUL_MESSAGE, VISIBLE_MESSAGE, "not an email address")
    for url in (f"{a}/conversations?q=ho%00la", f"{a}/shipments?q=%00", f"{a}/conversations?assignedTo=me%00"):
        assert_names(await client.get(url, headers=agent), 400, url.split("?")[1].split("=")[0], "query")
    assert await session.scalar(select(func.count()).select_from(User).where(User.name.like("Nu%"))) == 0


async def test_login_page_refuses_nul_with_its_own_message(client: Client, world: World) -> None:
    form = {"email": f"admin{NUL}@example.com", "password": world.admin.password}
    response = await client.post("/login", data=form)
    assert response.status_code == 400
    assert "text/html" in response.headers["content-type"]


async def test_json_bodies_are_not_coerced(client: Client, world: World, session: AsyncSession) -> None:
    a = _point(world.point_a)
    user = {"email": "nuevo@example.com", "password": "una-clave-larga", "name": "Nuevo"}
    cases = [
        ("POST", "/api/users", user | {"isAdmin": "1"}, "isAdmin"),
        ("POST", "/api/users", user | {"isAdmin": 1}, "isAdmin"),
        ("POST", f"{a}/shipments", {"trackingNumber": "ABC123456", "lastUpdate": 0}, "lastUpdate"),
        ("POST", f"{a}/shipments", {"trackingNumber": "ABC123456", "lastUpdate": "2026-01-01T10:00:00"}, "lastUpdate"),
        ("POST", f"{a}/shipments", {"trackingNumber": "ABC123456", "eta": 20300115}, "eta"),
        ("POST", f"{a}/shipments", {"trackingNumber": 123456}, "trackingNumber"),
        ("POST", f"{a}/faqs", {"question": "¿Horario?", "answer": "8 a 18", "keywords": "horario"}, "keywords"),
        ("POST", f"{a}/simulator/inbound/batch", [{"from": "+593991112233"}], "[0].text"),
        ("POST", f"{a}/simulator/inbound", {"from": "+593991112233", "text": "hola", "colour": "red"}, "colour"),
        ("POST", "/api/service-points", {}, "name"),
    ]
    for method, url, body, key in cases:
        assert_names(await client.request(method, url, json=body, headers=world.admin.headers), 400, key, "body")
    not_json = await client.post(
        "/api/users", content=b'{"email": ', headers=world.admin.headers | {"content-type": "application/json"}
    )
    assert_names(not_json, 400, "body", "body")
    assert await session.scalar(select(func.count()).select_from(User).where(User.email == "nuevo@example.com")) == 0

    # the same bodies, typed as declared, are accepted; query strings keep their usual conversion
    created = await client.post("/api/users", json=user | {"isAdmin": False}, headers=world.admin.headers)
    assert created.status_code == 201 and created.json()["isAdmin"] is False
    shipment = {"trackingNumber": "ABC123456", "lastUpdate": "2026-01-01T10:00:00-05:00", "eta": "2030-01-15"}
    assert (await client.post(f"{a}/shipments", json=shipment, headers=world.admin.headers)).status_code == 201
    listed = await client.get(f"{a}/shipments?limit=1&status=CREATED", headers=world.admin.headers)
    assert [s["trackingNumber"] for s in listed.json()["items"]] == ["ABC123456"]


async def test_phone_numbers_end_where_the_digits_end(client: Client, world: World, session: AsyncSession) -> None:
    """White space around a number is dropped by the phone normaliser (`ventanilla.phones`): never stored."""
    for number in ("+593423456780\n", "+593423456780\n\n", " +593423456780", "+593423456780 "):
        response = await client.patch(_point(world.point_a), json={"phoneNumber": number}, headers=world.admin.headers)
        assert response.status_code == 200 and response.json()["phoneNumber"] == "+593423456780", response.text
    for number in ("+593423456780\nx", "+593423456780\n+1"):
        response = await client.patch(_point(world.point_a), json={"phoneNumber": number}, headers=world.admin.headers)
        assert_names(response, 400, "phoneNumber", "body")
    ok = await client.patch(_point(world.point_a), json={"phoneNumber": "+593423456780"}, headers=world.admin.headers)
    assert ok.status_code == 200 and ok.json()["phoneNumber"] == "+593423456780"


@pytest.mark.parametrize(
    "candidate",
    [
        "+593423456780",
        "+593423456780\n",
        "+593423456780\n\n",
        "\n+593423456780",
        "+0593423456",
        "+1234567",
        "+12345678",
        "+123456789012345",
        "+1234567890123456",
        "+59342345678a",
        "593423456780",
        "",
    ],
)
async def test_the_api_rule_for_phone_numbers_is_the_database_rule(session: AsyncSession, candidate: str) -> None:
    database = await session.scalar(
        text("SELECT CAST(:value AS text) ~ :rule"), {"value": candidate, "rule": E164_CHECK}
    )
    assert bool(re.search(E164_PATTERN, candidate)) is database


async def test_a_client_that_hangs_up_mid_body_is_its_own_error_not_ours(client: Client) -> None:
    """A caller that times out leaves mid-body: a 400 (nobody reads it), not a 500 with a traceback in the log."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/api/auth/login",
        "raw_path": b"/api/auth/login",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"testserver"), (b"content-type", b"application/json"), (b"content-length", b"64")],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
        "state": {},
    }
    events = [{"type": "http.request", "body": b'{"email": "a', "more_body": True}, {"type": "http.disconnect"}]
    sent: list[dict] = []

    async def receive() -> dict:
        return events.pop(0) if events else {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        sent.append(message)

    await client.app(scope, receive, send)
    assert sent[0]["type"] == "http.response.start" and sent[0]["status"] == 400

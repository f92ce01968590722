"""User administration and the bootstrap admin."""

from __future__ import annotations

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncSession

from tests.conftest import World
from ventanilla.auth.services import UserService

Client = AsyncTestClient[Litestar]


async def test_admin_creates_a_user_who_can_log_in(client: Client, world: World) -> None:
    response = await client.post(
        "/api/users",
        json={"email": "New.Agent@Example.com", "password": "a-long-password", "name": "Nueva"},
        headers=world.admin.headers,
    )
    assert response.status_code == 201
    assert response.json()["email"] == "new.agent@example.com"
    assert response.json()["isAdmin"] is False
    login = await client.post("/api/auth/login", json={"email": "new.agent@example.com", "password": "a-long-password"})
    assert login.status_code == 201


async def test_duplicate_email_is_a_conflict(client: Client, world: World) -> None:
    body = {"email": world.agent_a.email.upper(), "password": "a-long-password", "name": "Otra"}
    response = await client.post("/api/users", json=body, headers=world.admin.headers)
    assert response.status_code == 409


async def test_user_creation_validates_fields(client: Client, world: World) -> None:
    cases = [
        ({"email": "nope", "password": "a-long-password", "name": "X"}, "email"),
        ({"email": "x@y.ec", "password": "short", "name": "X"}, "password"),
        ({"email": "x@y.ec", "password": "a-long-password", "name": ""}, "name"),
        ({"email": "x@y.ec", "password": "a-long-password", "name": "X", "role": "boss"}, "role"),
    ]
    for body, field in cases:
        response = await client.post("/api/users", json=body, headers=world.admin.headers)
        assert response.status_code == 400, body
        assert field in str(response.json()), (field, response.json())


async def test_only_admins_manage_users(client: Client, world: World) -> None:
    body = {"email": "x@y.ec", "password": "a-long-password", "name": "X"}
    for actor in (world.supervisor_a, world.agent_a, world.outsider):
        assert (await client.post("/api/users", json=body, headers=actor.headers)).status_code == 403
        assert (await client.get("/api/users", headers=actor.headers)).status_code == 403
    listing = await client.get("/api/users", headers=world.admin.headers)
    assert {u["email"] for u in listing.json()} >= {world.admin.email, world.agent_b.email}


async def test_ensure_admin_creates_then_resets_password(session: AsyncSession) -> None:
    users = UserService(session=session)
    user, created = await users.ensure_admin(email="Boss@X.ec", password="first-password")
    assert created and user.is_admin and user.email == "boss@x.ec"
    again, created = await users.ensure_admin(email="boss@x.ec", password="second-password")
    assert not created and again.id == user.id
    assert await users.authenticate("boss@x.ec", "second-password") is not None
    assert await users.authenticate("boss@x.ec", "first-password") is None

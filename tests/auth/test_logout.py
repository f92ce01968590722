"""Logout revokes: every token of the user stops working, on every device, and a new login works again."""

from __future__ import annotations

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncSession

from tests.conftest import Actor, World
from ventanilla.auth.services import UserService
from ventanilla.db.models import User

Client = AsyncTestClient[Litestar]


async def _log_in(client: Client, actor: Actor) -> dict[str, str]:
    response = await client.post("/api/auth/login", json={"email": actor.email, "password": actor.password})
    assert response.status_code == 201
    return {"Authorization": f"Bearer {response.json()['accessToken']}"}


async def test_api_logout_ends_every_session_of_the_user(client: Client, world: World) -> None:
    phone, laptop = await _log_in(client, world.agent_a), await _log_in(client, world.agent_a)
    assert (await client.get("/api/me", headers=laptop)).status_code == 200

    logout = await client.post("/api/auth/logout", headers=phone)
    assert logout.status_code == 204 and logout.content == b""

    for headers in (phone, laptop, world.agent_a.headers):
        assert (await client.get("/api/me", headers=headers)).status_code == 401
    assert (await client.get("/api/me", headers=world.agent_b.headers)).status_code == 200  # other users untouched
    again = await _log_in(client, world.agent_a)
    assert (await client.get("/api/me", headers=again)).status_code == 200


async def test_logout_needs_a_valid_token(client: Client, world: World) -> None:
    assert (await client.post("/api/auth/logout")).status_code == 401
    await client.post("/api/auth/logout", headers=world.agent_a.headers)
    assert (await client.post("/api/auth/logout", headers=world.agent_a.headers)).status_code == 401


async def test_a_reset_password_ends_the_sessions_opened_with_the_old_one(
    client: Client, world: World, session: AsyncSession
) -> None:
    await UserService(session=session).ensure_admin(email=world.admin.email, password=world.admin.password)
    await session.commit()
    assert (await client.get("/api/me", headers=world.admin.headers)).status_code == 200  # same password: kept

    await UserService(session=session).ensure_admin(email=world.admin.email, password="a-brand-new-password")
    await session.commit()
    assert (await client.get("/api/me", headers=world.admin.headers)).status_code == 401
    assert (await session.get(User, world.admin.user_id)).token_version == 1

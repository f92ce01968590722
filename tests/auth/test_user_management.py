"""User management: edit, deactivate and reactivate, reset a password, unlock after failed logins, change one's own
password; and the rules that keep the instance reachable (never oneself, never the last active admin)."""

from __future__ import annotations

from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.conftest import World

Client = AsyncTestClient[Litestar]


def user_path(world: World, actor_id: object) -> str:
    return f"/api/users/{actor_id}"


async def login(client: Client, email: str, password: str) -> int:
    return (await client.post("/api/auth/login", json={"email": email, "password": password})).status_code


async def test_admin_edits_name_email_and_admin_flag(client: Client, world: World) -> None:
    path = user_path(world, world.agent_a.user_id)
    response = await client.patch(
        path,
        json={"name": "  Ana Pérez ", "email": "Ana.Perez@Example.com", "isAdmin": True},
        headers=world.admin.headers,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["name"], body["email"], body["isAdmin"], body["isActive"]) == (
        "Ana Pérez",
        "ana.perez@example.com",
        True,
        True,
    )
    assert len(body["memberships"]) == 1  # memberships untouched
    assert await login(client, "ana.perez@example.com", world.agent_a.password) == 201
    assert (await client.get("/api/me", headers=world.agent_a.headers)).status_code == 200  # edits keep sessions

    taken = await client.patch(path, json={"email": world.agent_b.email}, headers=world.admin.headers)
    assert taken.status_code == 409 and "email" in taken.json()["detail"]
    for body, field in (({"email": "nope"}, "email"), ({"name": ""}, "name"), ({"isActive": "no"}, "isActive")):
        bad = await client.patch(path, json=body, headers=world.admin.headers)
        assert bad.status_code == 400 and bad.json()["extra"][0]["key"] == field, bad.text
    missing = await client.patch(user_path(world, world.point_a), json={"name": "X"}, headers=world.admin.headers)
    assert missing.status_code == 404


async def test_a_deactivated_user_cannot_log_in_and_their_tokens_stop_working(client: Client, world: World) -> None:
    path = user_path(world, world.agent_a.user_id)
    assert (await client.get("/api/me", headers=world.agent_a.headers)).status_code == 200
    response = await client.patch(path, json={"isActive": False}, headers=world.admin.headers)
    assert response.status_code == 200 and response.json()["isActive"] is False
    assert (await client.get("/api/me", headers=world.agent_a.headers)).status_code == 401
    refused = await client.post(
        "/api/auth/login", json={"email": world.agent_a.email, "password": world.agent_a.password}
    )
    assert refused.status_code == 401 and "deactivated" in refused.json()["detail"]
    wrong = await client.post("/api/auth/login", json={"email": world.agent_a.email, "password": "not-the-password"})
    assert "deactivated" not in wrong.json()["detail"]  # said only to whoever knows the password

    assert (await client.patch(path, json={"isActive": True}, headers=world.admin.headers)).status_code == 200
    assert await login(client, world.agent_a.email, world.agent_a.password) == 201
    assert (await client.get("/api/me", headers=world.agent_a.headers)).status_code == 401  # old tokens stay dead


async def test_never_oneself_nor_the_last_active_admin(client: Client, world: World) -> None:
    admin = user_path(world, world.admin.user_id)
    own = await client.patch(admin, json={"isActive": False}, headers=world.admin.headers)
    assert own.status_code == 409 and "your own account" in own.json()["detail"]
    demote = await client.patch(admin, json={"isAdmin": False}, headers=world.admin.headers)
    assert demote.status_code == 409 and "last active administrator" in demote.json()["detail"]

    second = user_path(world, world.supervisor_a.user_id)
    assert (await client.patch(second, json={"isAdmin": True}, headers=world.admin.headers)).status_code == 200
    # Two admins: one may deactivate the other; then the one left is the last, and stays.
    assert (await client.patch(admin, json={"isActive": False}, headers=world.supervisor_a.headers)).status_code == 200
    last = await client.patch(second, json={"isAdmin": False}, headers=world.supervisor_a.headers)
    assert last.status_code == 409
    # An inactive admin does not count: reactivating it makes two again.
    assert (await client.patch(admin, json={"isActive": True}, headers=world.supervisor_a.headers)).status_code == 200
    assert (await client.patch(second, json={"isAdmin": False}, headers=world.supervisor_a.headers)).status_code == 200


async def test_admin_resets_a_password_which_ends_every_session(client: Client, world: World) -> None:
    path = f"{user_path(world, world.agent_a.user_id)}/password"
    short = await client.put(path, json={"password": "short"}, headers=world.admin.headers)
    assert short.status_code == 400 and short.json()["extra"][0]["key"] == "password"
    assert (
        await client.put(path, json={"password": "brand-new-password"}, headers=world.admin.headers)
    ).status_code == 204
    assert (await client.get("/api/me", headers=world.agent_a.headers)).status_code == 401
    assert await login(client, world.agent_a.email, world.agent_a.password) == 401
    assert await login(client, world.agent_a.email, "brand-new-password") == 201


async def test_admin_unlocks_a_user_stopped_by_failed_logins(client: Client, world: World) -> None:
    for _ in range(5):
        assert await login(client, world.agent_a.email, "wrong-password") == 401
    assert await login(client, world.agent_a.email, world.agent_a.password) == 429
    unlock = await client.delete(
        f"{user_path(world, world.agent_a.user_id)}/login-failures", headers=world.admin.headers
    )
    assert unlock.status_code == 204
    assert await login(client, world.agent_a.email, world.agent_a.password) == 201


async def test_everyone_changes_their_own_password(client: Client, world: World) -> None:
    body = {"currentPassword": "wrong-password", "newPassword": "my-new-password"}
    wrong = await client.put("/api/me/password", json=body, headers=world.agent_b.headers)
    assert wrong.status_code == 400 and wrong.json()["extra"][0]["key"] == "currentPassword"
    short = await client.put(
        "/api/me/password",
        json={"currentPassword": world.agent_b.password, "newPassword": "x"},
        headers=world.agent_b.headers,
    )
    assert short.status_code == 400 and short.json()["extra"][0]["key"] == "newPassword"

    body["currentPassword"] = world.agent_b.password
    changed = await client.put("/api/me/password", json=body, headers=world.agent_b.headers)
    assert changed.status_code == 200, changed.text
    fresh = {"Authorization": f"Bearer {changed.json()['accessToken']}"}
    assert (await client.get("/api/me", headers=fresh)).json()["email"] == world.agent_b.email
    assert (await client.get("/api/me", headers=world.agent_b.headers)).status_code == 401  # other sessions end
    assert await login(client, world.agent_b.email, world.agent_b.password) == 401
    assert await login(client, world.agent_b.email, "my-new-password") == 201


async def test_guessing_the_current_password_is_throttled(client: Client, world: World) -> None:
    body = {"currentPassword": "guess", "newPassword": "my-new-password"}
    codes = [
        (await client.put("/api/me/password", json=body, headers=world.outsider.headers)).status_code for _ in range(6)
    ]
    assert codes == [400] * 5 + [429]


async def test_only_admins_manage_other_users(client: Client, world: World) -> None:
    target = user_path(world, world.agent_b.user_id)
    for actor in (world.supervisor_a, world.agent_a, world.outsider):
        assert (await client.patch(target, json={"name": "X"}, headers=actor.headers)).status_code == 403
        assert (
            await client.put(f"{target}/password", json={"password": "a-long-password"}, headers=actor.headers)
        ).status_code == 403
        assert (await client.delete(f"{target}/login-failures", headers=actor.headers)).status_code == 403
    assert (await client.patch(target, json={"name": "X"})).status_code == 401
    assert (
        await client.put("/api/me/password", json={"currentPassword": "x", "newPassword": "yyyyyyyy"})
    ).status_code == 401

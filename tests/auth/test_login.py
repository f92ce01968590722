"""Login, tokens and throttling over HTTP."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import jwt
import pytest
import uvicorn
from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.conftest import TEST_JWT_SECRET, World
from tests.helpers import free_port
from ventanilla.auth.jwt import TOKEN_AUDIENCE, TOKEN_ISSUER
from ventanilla.auth.throttle import LoginThrottle
from ventanilla.cli import forwarded_header_options

Client = AsyncTestClient[Litestar]


async def test_login_returns_a_bearer_token_that_opens_me(client: Client, world: World) -> None:
    response = await client.post(
        "/api/auth/login", json={"email": "Supervisor.A@Example.com", "password": world.supervisor_a.password}
    )
    assert response.status_code == 201
    body = response.json()
    assert body["tokenType"] == "Bearer"
    assert body["expiresIn"] == 12 * 3600
    assert body["user"]["email"] == "supervisor.a@example.com"
    assert "passwordHash" not in body["user"]

    me = await client.get("/api/me", headers={"Authorization": f"Bearer {body['accessToken']}"})
    assert me.status_code == 200
    assert me.json()["memberships"] == [{"servicePointId": str(world.point_a), "role": "SUPERVISOR"}]


async def test_wrong_password_and_unknown_email_look_the_same(client: Client, world: World) -> None:
    wrong = await client.post("/api/auth/login", json={"email": world.agent_a.email, "password": "not-it"})
    unknown = await client.post("/api/auth/login", json={"email": "nobody@example.com", "password": "not-it"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json()["detail"] == unknown.json()["detail"] == "wrong email or password"


async def test_login_body_is_validated(client: Client) -> None:
    response = await client.post("/api/auth/login", json={"email": "a@b.ec"})
    assert response.status_code == 400
    assert response.json()["extra"][0]["key"] == "password"
    malformed = await client.post("/api/auth/login", content=b"{not json", headers={"Content-Type": "application/json"})
    assert malformed.status_code == 400


def _token(**claims: object) -> str:
    now = datetime.now(UTC)
    payload = {"iat": now, "exp": now + timedelta(hours=1), "iss": TOKEN_ISSUER, "aud": TOKEN_AUDIENCE, "ver": 0}
    payload.update(claims)
    return jwt.encode({k: v for k, v in payload.items() if v is not None}, TEST_JWT_SECRET, algorithm="HS256")


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


@pytest.mark.parametrize(
    "case",
    [
        "tampered",
        "expired",
        "alg_none",
        "wrong_issuer",
        "wrong_audience",
        "other_secret",
        "unknown_user",
        "no_version",
        "old_version",
    ],
)
async def test_bad_tokens_are_refused(client: Client, world: World, case: str) -> None:
    sub = str(world.admin.user_id)
    if case == "tampered":
        header, payload, signature = _token(sub=str(world.agent_a.user_id)).split(".")
        forged = json.loads(base64.urlsafe_b64decode(payload + "=="))
        forged["sub"] = sub  # an agent's token rewritten to claim the admin
        token = f"{header}.{_b64(forged)}.{signature}"
    elif case == "expired":
        token = _token(sub=sub, iat=datetime.now(UTC) - timedelta(hours=2), exp=datetime.now(UTC) - timedelta(hours=1))
    elif case == "alg_none":
        now = int(datetime.now(UTC).timestamp())
        claims = {"sub": sub, "iat": now, "exp": now + 3600, "iss": TOKEN_ISSUER, "aud": TOKEN_AUDIENCE, "ver": 0}
        token = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}."
    elif case == "wrong_issuer":
        token = _token(sub=sub, iss="someone-else")
    elif case == "wrong_audience":
        token = _token(sub=sub, aud="another-api")
    elif case == "other_secret":
        token = jwt.encode({"sub": sub, "exp": datetime.now(UTC) + timedelta(hours=1)}, "x" * 40, algorithm="HS256")
    elif case == "no_version":
        token = _token(sub=sub, ver=None)
    elif case == "old_version":
        token = _token(sub=sub, ver=-1)  # issued before a logout
    else:
        token = _token(sub="00000000-0000-0000-0000-000000000000")
    response = await client.get("/api/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401


async def test_valid_hand_made_token_is_accepted(client: Client, world: World) -> None:
    """The control for the refusals above: same construction, nothing wrong with it."""
    token = _token(sub=str(world.admin.user_id))
    response = await client.get("/api/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200


async def test_anonymous_requests_get_401(client: Client) -> None:
    for path in ("/api/me", "/api/service-points", "/api/users"):
        assert (await client.get(path)).status_code == 401


async def test_success_resets_the_clients_own_counter(client: Client, world: World) -> None:
    for _ in range(4):
        await client.post("/api/auth/login", json={"email": world.agent_a.email, "password": "guess"})
    ok = await client.post("/api/auth/login", json={"email": world.agent_a.email, "password": world.agent_a.password})
    assert ok.status_code == 201
    for _ in range(4):
        assert (
            await client.post("/api/auth/login", json={"email": world.agent_a.email, "password": "x"})
        ).status_code == 401


@pytest.fixture
async def behind_proxy(app: Litestar) -> AsyncIterator[str]:
    """The app served as `ventanilla serve` does with TRUSTED_PROXIES=127.0.0.1: tests pose as many clients."""
    server = uvicorn.Server(
        uvicorn.Config(
            app, host="127.0.0.1", port=free_port(), log_config=None, **forwarded_header_options(("127.0.0.1",))
        )
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    yield f"http://127.0.0.1:{server.config.port}"
    server.should_exit = True
    await task


def _from(address: str) -> dict[str, str]:
    return {"X-Forwarded-For": address}


async def test_wrong_passwords_from_one_client_do_not_lock_the_owner_out(
    behind_proxy: str, world: World, app: Litestar
) -> None:
    """The reported attack: anyone's five wrong passwords used to lock the account (admin too) for everyone."""
    app.state.login_throttle = LoginThrottle(clock=lambda: 1000.0)  # frozen: no failure ever leaves the window
    admin = {"email": world.admin.email, "password": world.admin.password}
    async with httpx.AsyncClient(base_url=behind_proxy, timeout=10) as http:
        for _ in range(5):
            wrong = await http.post("/api/auth/login", json=admin | {"password": "guess"}, headers=_from("203.0.113.7"))
            assert wrong.status_code == 401
        stopped = await http.post("/api/auth/login", json=admin, headers=_from("203.0.113.7"))
        assert stopped.status_code == 429 and int(stopped.headers["retry-after"]) == 15 * 60
        owner = await http.post("/api/auth/login", json=admin, headers=_from("198.51.100.20"))
        assert owner.status_code == 201
        agent = {"email": world.agent_a.email, "password": world.agent_a.password}
        colleague = await http.post("/api/auth/login", json=agent, headers=_from("203.0.113.7"))
        assert colleague.status_code == 201  # the same client, another account


async def test_spraying_from_one_address_is_stopped(behind_proxy: str, world: World, app: Litestar) -> None:
    app.state.login_throttle = LoginThrottle(clock=lambda: 1000.0)
    async with httpx.AsyncClient(base_url=behind_proxy, timeout=10) as http:
        for index in range(20):
            body = {"email": f"probe{index}@example.com", "password": "x"}
            assert (await http.post("/api/auth/login", json=body, headers=_from("203.0.113.7"))).status_code == 401
        body = {"email": world.agent_b.email, "password": world.agent_b.password}
        assert (await http.post("/api/auth/login", json=body, headers=_from("203.0.113.7"))).status_code == 429
        assert (await http.post("/api/auth/login", json=body, headers=_from("198.51.100.20"))).status_code == 201


async def test_guessing_from_many_addresses_slows_failing_clients_only(
    behind_proxy: str, world: World, app: Litestar
) -> None:
    app.state.login_throttle = LoginThrottle(clock=lambda: 1000.0)
    agent = {"email": world.agent_a.email, "password": world.agent_a.password}
    async with httpx.AsyncClient(base_url=behind_proxy, timeout=10) as http:
        for index in range(12):
            guess = agent | {"password": f"guess-{index}"}
            assert (await http.post("/api/auth/login", json=guess, headers=_from(f"10.0.0.{index}"))).status_code == 401
        slowed = await http.post("/api/auth/login", json=agent, headers=_from("10.0.0.3"))
        assert slowed.status_code == 429 and int(slowed.headers["retry-after"]) == 4  # 2 ** (12 - 10) s
        clean = await http.post("/api/auth/login", json=agent, headers=_from("192.0.2.50"))
        assert clean.status_code == 201

"""Login, tokens and throttling over HTTP."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.conftest import TEST_JWT_SECRET, World
from ventanilla.auth.jwt import TOKEN_AUDIENCE, TOKEN_ISSUER

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
    assert (await client.post("/api/auth/login", content=b"{not json")).status_code == 400


def _token(**claims: object) -> str:
    now = datetime.now(UTC)
    payload = {"iat": now, "exp": now + timedelta(hours=1), "iss": TOKEN_ISSUER, "aud": TOKEN_AUDIENCE}
    payload.update(claims)
    return jwt.encode(payload, TEST_JWT_SECRET, algorithm="HS256")


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


@pytest.mark.parametrize(
    "case", ["tampered", "expired", "alg_none", "wrong_issuer", "wrong_audience", "other_secret", "unknown_user"]
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
        claims = {"sub": sub, "iat": now, "exp": now + 3600, "iss": TOKEN_ISSUER, "aud": TOKEN_AUDIENCE}
        token = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}."
    elif case == "wrong_issuer":
        token = _token(sub=sub, iss="someone-else")
    elif case == "wrong_audience":
        token = _token(sub=sub, aud="another-api")
    elif case == "other_secret":
        token = jwt.encode({"sub": sub, "exp": datetime.now(UTC) + timedelta(hours=1)}, "x" * 40, algorithm="HS256")
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


async def test_account_is_throttled_after_repeated_failures(client: Client, world: World) -> None:
    for _ in range(5):
        response = await client.post("/api/auth/login", json={"email": world.agent_a.email, "password": "guess"})
        assert response.status_code == 401
    blocked = await client.post(
        "/api/auth/login", json={"email": world.agent_a.email, "password": world.agent_a.password}
    )
    assert blocked.status_code == 429
    assert 0 < int(blocked.headers["retry-after"]) <= 15 * 60
    # another account from the same address is not locked by this one
    other = await client.post(
        "/api/auth/login", json={"email": world.agent_b.email, "password": world.agent_b.password}
    )
    assert other.status_code == 201


async def test_address_is_throttled_across_accounts(client: Client, world: World) -> None:
    for index in range(20):
        response = await client.post("/api/auth/login", json={"email": f"probe{index}@example.com", "password": "x"})
        assert response.status_code == 401
    blocked = await client.post(
        "/api/auth/login", json={"email": world.agent_b.email, "password": world.agent_b.password}
    )
    assert blocked.status_code == 429


async def test_success_resets_the_account_counter(client: Client, world: World) -> None:
    for _ in range(4):
        await client.post("/api/auth/login", json={"email": world.agent_a.email, "password": "guess"})
    ok = await client.post("/api/auth/login", json={"email": world.agent_a.email, "password": world.agent_a.password})
    assert ok.status_code == 201
    for _ in range(4):
        assert (
            await client.post("/api/auth/login", json={"email": world.agent_a.email, "password": "x"})
        ).status_code == 401

"""Access rules outside the matrix: OPTIONS, the same-origin rule of the cookie session, JSON bodies, /metrics."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import replace

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from tests.conftest import World
from ventanilla.app import create_app
from ventanilla.config import Settings
from ventanilla.db.models import Faq

Client = AsyncTestClient[Litestar]
SITE = "http://testserver.local"  # the test client's own origin
METRICS_TOKEN = "scraper-secret-0123456789"


def _every_path(app: Litestar, world: World) -> list[str]:
    """Each route of the app with its parameters filled (ids of point A)."""
    fill = {"uuid": str(world.point_a), "str": "x", "path": "/x", "int": "1"}
    return sorted({re.sub(r"\{\w+:(\w+)\}", lambda m: fill[m.group(1)], route.path) for route in app.routes})


async def test_options_is_answered_cleanly_on_every_route(client: Client, app: Litestar, world: World) -> None:
    """It used to run the controllers' guards without a user: 500 and a traceback in the log."""
    paths = _every_path(app, world)
    assert len(paths) > 40
    for path in paths:
        anonymous = await client.options(path, follow_redirects=False)
        assert anonymous.status_code in (204, 303, 401), (path, anonymous.status_code, anonymous.text[:200])
        admin = await client.options(path, headers=world.admin.headers)
        assert admin.status_code == 204 and "OPTIONS" in admin.headers["allow"], path
        outsider = await client.options(path, headers=world.outsider.headers)
        assert outsider.status_code in (204, 403, 404), (path, outsider.status_code)
    users = await client.options("/api/users")
    assert users.status_code == 401
    assert (await client.options("/api/auth/login")).status_code == 204  # public paths stay public


async def _cookie_session(client: Client, world: World) -> None:
    login = await client.post(
        "/login",
        data={"email": world.agent_a.email, "password": world.agent_a.password},
        headers={"Origin": SITE},
        follow_redirects=False,
    )
    assert login.status_code == 303 and "ventanilla_token" in client.cookies


FAQ = {"question": "¿Abren el domingo?", "answer": "No.", "keywords": []}


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"Origin": SITE}, 201),
        ({"Referer": f"{SITE}/puntos"}, 201),  # no Origin: the Referer decides
        ({"Origin": "https://testserver.local"}, 201),  # TLS ended at a proxy not in TRUSTED_PROXIES
        ({"Origin": "https://evil.example"}, 403),
        ({"Origin": "http://testserver.local.evil.example"}, 403),
        ({"Origin": "http://testserver.local:8080"}, 403),
        ({"Origin": "null"}, 403),
        ({"Referer": "https://evil.example/page"}, 403),
        ({"Origin": SITE, "Sec-Fetch-Site": "cross-site"}, 403),
        ({}, 403),  # a cookie and nothing that says where the request comes from
    ],
)
async def test_cookie_requests_that_change_things_must_come_from_this_site(
    client: Client, world: World, session: AsyncSession, headers: dict[str, str], status: int
) -> None:
    await _cookie_session(client, world)
    response = await client.post(f"/api/service-points/{world.point_a}/faqs", json=FAQ, headers=headers)
    assert response.status_code == status, response.text
    assert await session.scalar(select(func.count()).select_from(Faq)) == (1 if status == 201 else 0)


async def test_a_cross_site_text_plain_post_reads_nothing(client: Client, world: World, session: AsyncSession) -> None:
    """The reported forgery: a form-like text/plain body holding JSON, sent with the visitor's cookie."""
    await _cookie_session(client, world)
    body = b'{"question": "x?", "answer": "y", "keywords": []}'
    forged = await client.post(
        f"/api/service-points/{world.point_a}/faqs",
        content=body,
        headers={"Content-Type": "text/plain", "Origin": "https://evil.example"},
    )
    assert forged.status_code == 403
    same_site = await client.post(
        f"/api/service-points/{world.point_a}/faqs",
        content=body,
        headers={"Content-Type": "text/plain", "Origin": SITE},
    )
    assert same_site.status_code == 415
    assert await session.scalar(select(func.count()).select_from(Faq)) == 0


async def test_bearer_requests_are_not_asked_for_an_origin_but_still_send_json(client: Client, world: World) -> None:
    url = f"/api/service-points/{world.point_a}/faqs"
    headers = world.agent_a.headers | {"Origin": "https://evil.example"}
    assert (await client.post(url, json=FAQ, headers=headers)).status_code == 201
    form = await client.post(url, data={"question": "x"}, headers=world.agent_a.headers)
    assert form.status_code == 415 and "application/json" in form.json()["detail"]
    json_suffix = {"Content-Type": "application/merge-patch+json"}
    assert (
        await client.post(url, json=FAQ | {"question": "¿Otra?"}, headers=world.agent_a.headers | json_suffix)
    ).status_code == 201


async def test_login_and_logout_forms_refuse_other_sites(client: Client, world: World) -> None:
    credentials = {"email": world.agent_a.email, "password": world.agent_a.password}
    forged_login = await client.post("/login", data=credentials, headers={"Origin": "https://evil.example"})
    assert forged_login.status_code == 403 and "ventanilla_token" not in client.cookies
    api_client_login = await client.post("/api/auth/login", json=credentials)  # no browser, no cookie: allowed
    assert api_client_login.status_code == 201

    await _cookie_session(client, world)
    forged_logout = await client.post("/logout", headers={"Origin": "https://evil.example"}, follow_redirects=False)
    assert forged_logout.status_code == 403
    assert (await client.get("/api/me")).status_code == 200  # still logged in
    logout = await client.post("/logout", headers={"Origin": SITE}, follow_redirects=False)
    assert logout.status_code == 303


@pytest.fixture
async def guarded_metrics(settings: Settings) -> AsyncIterator[Client]:
    async with AsyncTestClient(create_app(replace(settings, metrics_token=METRICS_TOKEN))) as client:
        yield client


async def test_metrics_need_the_metrics_token_when_it_is_set(guarded_metrics: Client, world: World) -> None:
    anonymous = await guarded_metrics.get("/metrics")
    assert anonymous.status_code == 401 and anonymous.headers["www-authenticate"] == "Bearer"
    for wrong in (
        "Bearer nope",
        f"Basic {METRICS_TOKEN}",
        f"Bearer {METRICS_TOKEN}x",
        world.admin.headers["Authorization"],
    ):
        assert (await guarded_metrics.get("/metrics", headers={"Authorization": wrong})).status_code == 401, wrong
    scraped = await guarded_metrics.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert scraped.status_code == 200 and "ventanilla_whatsapp_session_status" in scraped.text


async def test_metrics_are_open_without_a_metrics_token(client: Client) -> None:
    assert (await client.get("/metrics")).status_code == 200

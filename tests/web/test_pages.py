"""Page routes over HTTP: cookie login with the API's throttle, redirects, access rules and escaping."""

from __future__ import annotations

from dataclasses import replace
from uuid import uuid4

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncSession

from tests.conftest import Actor, World
from ventanilla.app import create_app
from ventanilla.config import Settings
from ventanilla.db.models import ServicePoint

Client = AsyncTestClient[Litestar]


SAME_ORIGIN = {"Origin": "http://testserver.local"}  # what the browser sends with the forms of this site


async def _log_in(client: Client, actor: Actor, next_page: str = "") -> None:
    response = await client.post(
        "/login",
        data={"email": actor.email, "password": actor.password, "next": next_page},
        headers=SAME_ORIGIN,
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text


async def test_anonymous_pages_redirect_to_login_and_the_api_still_answers_401(client: Client, world: World) -> None:
    home = await client.get("/", follow_redirects=False)
    assert (home.status_code, home.headers["location"]) == (303, "/login")
    inbox = await client.get(f"/puntos/{world.point_a}/inbox?c=1", follow_redirects=False)
    assert inbox.status_code == 303
    assert inbox.headers["location"] == f"/login?next=%2Fpuntos%2F{world.point_a}%2Finbox%3Fc%3D1"
    api = await client.get("/api/me")
    assert api.status_code == 401 and api.headers["content-type"].startswith("application/json")
    login = await client.get("/login")
    assert login.status_code == 200
    assert (
        '<label for="email">Correo</label>' in login.text and '<label for="password">Contraseña</label>' in login.text
    )


async def test_cookie_login_opens_pages_and_the_api_then_logout_closes_them(client: Client, world: World) -> None:
    response = await client.post(
        "/login",
        data={"email": " Agent.A@Example.com ", "password": world.agent_a.password, "next": f"/puntos/{world.point_a}"},
        follow_redirects=False,
    )
    assert (response.status_code, response.headers["location"]) == (303, f"/puntos/{world.point_a}")
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("ventanilla_token=")
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Max-Age=43200" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie  # development over plain http

    assert (await client.get("/api/me")).json()["email"] == world.agent_a.email  # the same token opens the API
    page = await client.get("/puntos")
    assert page.status_code == 200 and "Punto A" in page.text and "Punto B" not in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]

    token = client.cookies["ventanilla_token"]
    logout = await client.post("/logout", headers=SAME_ORIGIN, follow_redirects=False)
    assert (logout.status_code, logout.headers["location"]) == (303, "/login")
    assert 'ventanilla_token=""' in logout.headers["set-cookie"] or "Max-Age=0" in logout.headers["set-cookie"]
    assert (await client.get("/puntos", follow_redirects=False)).status_code == 303
    assert (await client.get("/api/me")).status_code == 401
    # the token itself is revoked, not only forgotten by this browser: a copy of it no longer works
    assert (await client.get("/api/me", headers={"Authorization": f"Bearer {token}"})).status_code == 401
    assert (await client.get("/api/me", headers=world.agent_a.headers)).status_code == 401  # nor do other sessions


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/", "/\\evil.example", "/login", ""])
async def test_login_only_returns_to_pages_of_this_site(client: Client, world: World, target: str) -> None:
    response = await client.post(
        "/login",
        data={"email": world.agent_a.email, "password": world.agent_a.password, "next": target},
        follow_redirects=False,
    )
    assert response.headers["location"] == "/puntos"


async def test_wrong_password_and_blank_form_show_the_form_again(client: Client, world: World) -> None:
    wrong = await client.post("/login", data={"email": world.agent_a.email, "password": "nope"})
    assert wrong.status_code == 401
    assert "Correo o contraseña incorrectos." in wrong.text and f'value="{world.agent_a.email}"' in wrong.text
    assert "set-cookie" not in wrong.headers
    blank = await client.post("/login", data={"email": "", "password": ""})
    assert blank.status_code == 400 and "Escribe tu correo y tu contraseña." in blank.text


async def test_the_login_page_and_the_api_share_one_throttle(client: Client, world: World) -> None:
    for _ in range(3):
        await client.post("/login", data={"email": world.agent_a.email, "password": "nope"})
    for _ in range(2):
        await client.post("/api/auth/login", json={"email": world.agent_a.email, "password": "nope"})
    page = await client.post("/login", data={"email": world.agent_a.email, "password": world.agent_a.password})
    assert page.status_code == 429 and int(page.headers["retry-after"]) > 0
    assert "Demasiados intentos fallidos" in page.text
    api = await client.post("/api/auth/login", json={"email": world.agent_a.email, "password": world.agent_a.password})
    assert api.status_code == 429


async def test_production_cookie_is_secure(settings: Settings, world: World) -> None:
    app = create_app(replace(settings, environment="production"))
    async with AsyncTestClient(app) as client:
        response = await client.post(
            "/login", data={"email": world.agent_a.email, "password": world.agent_a.password}, follow_redirects=False
        )
    assert "Secure" in response.headers["set-cookie"]


async def test_pages_follow_the_api_access_rules(client: Client, world: World) -> None:
    await _log_in(client, world.agent_b)
    for path in ("", "/inbox", "/envios", "/preguntas"):
        other = await client.get(f"/puntos/{world.point_a}{path}")
        missing = await client.get(f"/puntos/{uuid4()}{path}")
        assert other.status_code == missing.status_code == 404
        assert other.text == missing.text  # nothing tells a branch of someone else from no branch at all
        assert "No encontrado" in other.text and other.headers["content-type"].startswith("text/html")
    assert (await client.get(f"/puntos/{world.point_b}/inbox")).status_code == 200
    for path in ("/admin/puntos", "/admin/usuarios", "/admin/preguntas"):
        refused = await client.get(path)
        assert refused.status_code == 403 and "Sin permiso" in refused.text

    await _log_in(client, world.admin)
    for path in ("/admin/puntos", "/admin/usuarios", "/admin/preguntas", f"/puntos/{world.point_a}/inbox"):
        assert (await client.get(path)).status_code == 200, path


async def test_names_are_escaped(client: Client, world: World, session: AsyncSession) -> None:
    session.add(ServicePoint(name='<script>alert("x")</script>'))
    await session.commit()
    await _log_in(client, world.admin)
    page = await client.get("/puntos")
    assert "<script>alert" not in page.text
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page.text


async def test_static_files_are_public_and_the_simulator_panel_shows_in_simulator_mode(
    client: Client, world: World
) -> None:
    for name in ("app.js", "point.js", "inbox.js", "style.css"):
        assert (await client.get(f"/static/{name}")).status_code == 200, name  # before logging in
    await _log_in(client, world.agent_a)
    page = (await client.get(f"/puntos/{world.point_a}")).text
    assert "Simulador" in page and 'alt="Código QR"' in page

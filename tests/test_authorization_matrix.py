"""The contract's access rules as a matrix: every point-scoped route x every kind of caller.

Routes are read from the application itself, so a route added later is covered (or this test fails until it is
classified). Admins may do everything; members of point A may use A's WhatsApp, inbox, shipments and FAQs; a
member of B or a user with no membership gets exactly what a missing point gives (404); admin-only routes answer
403 to everyone else; anonymous callers 401.
"""

from __future__ import annotations

import re
from uuid import UUID

import pytest
from litestar import Litestar
from litestar.routes import HTTPRoute
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncSession

from tests.conftest import World
from ventanilla.api_keys.principal import SCOPE_OPT
from ventanilla.auth.jwt import PUBLIC_PATHS
from ventanilla.db.models import (
    CannedResponse,
    Conversation,
    DeliveryStatus,
    Direction,
    Faq,
    Media,
    MediaStatus,
    MemberRole,
    Membership,
    Message,
    SenderType,
    Shipment,
    ShipmentStatus,
    User,
)

Client = AsyncTestClient[Litestar]
ADMIN_ONLY = {
    ("POST", "/members"),
    ("DELETE", "/members/{user_id:uuid}"),
    ("DELETE", ""),
    ("GET", "/whatsapp/cloud"),
    ("PUT", "/whatsapp/cloud"),
}
SUPERVISOR_ONLY = {("PATCH", "")}
STREAMS = {("GET", "/events")}  # answers forever when allowed: its allowed side is tested in tests/live
BODIES = {
    ("PATCH", ""): {"name": "Punto A"},
    ("POST", "/members"): {"userId": "{agent_a}", "role": "AGENT"},
    ("POST", "/whatsapp/pair-code"): {"phoneNumber": "+593991234567"},
    ("POST", "/simulator/disconnect"): {"reason": "network"},
    ("POST", "/simulator/inbound"): {"from": "+593991112233", "text": "hola"},
    ("POST", "/simulator/inbound/batch"): [{"from": "+593991112233", "text": "hola"}],
    ("POST", "/simulator/phone-send"): {"to": "+593991112233", "text": "hola"},
    ("POST", "/shipments"): {"trackingNumber": "NEW123456", "status": "CREATED"},
    ("PATCH", "/shipments/{tracking_number:str}"): {"destination": "Loja"},
    ("POST", "/faqs"): {"question": "¿Pregunta?", "answer": "Respuesta.", "keywords": []},
    ("PATCH", "/faqs/{faq_id:uuid}"): {"answer": "Otra respuesta."},
    ("POST", "/canned-responses"): {"shortcut": "nueva", "content": "Respuesta rápida."},
    ("PATCH", "/canned-responses/{canned_id:uuid}"): {"content": "Otra respuesta rápida."},
    ("PATCH", "/conversations/{conversation_id:uuid}"): {"status": "HUMAN"},
    ("POST", "/conversations/{conversation_id:uuid}/messages"): {"content": "hola"},
    ("POST", "/conversations/{conversation_id:uuid}/notes"): {"content": "nota interna"},
    ("PUT", "/conversations/{conversation_id:uuid}/labels"): ["reclamo"],
    ("PUT", "/whatsapp/cloud"): {
        "phoneNumberId": "106540352242922",
        "accessToken": "token-of-the-matrix",
        "appSecret": "secret-of-the-matrix",
        "verifyToken": "verify-of-the-matrix",
    },
    ("POST", "/conversations/{conversation_id:uuid}/templates"): {"name": "aviso", "language": "es"},
}
PREFIX = "/api/service-points/{sp_id:uuid}"


async def _resources(session: AsyncSession, world: World, point: UUID, tag: str) -> dict[str, str]:
    conversation = Conversation(service_point_id=point, customer_phone="+593991112233")
    session.add(conversation)
    await session.flush()
    failed = Message(
        conversation_id=conversation.id,
        service_point_id=point,
        direction=Direction.OUT,
        sender_type=SenderType.BOT,
        content="hola",
        provider_message_id=f"OUT-{tag}",
        delivery_status=DeliveryStatus.FAILED,
    )
    faq = Faq(service_point_id=point, question="¿Horario?", answer="De 8 a 5.", keywords=["horario"])
    canned = CannedResponse(service_point_id=point, shortcut="saludo", content="Hola.")
    extra = User(email=f"extra.{tag.lower()}@example.com", name="Extra", password_hash="x")  # the one to remove
    extra.memberships = []
    session.add(extra)
    await session.flush()
    session.add(Membership(user_id=extra.id, service_point_id=point, role=MemberRole.AGENT))
    session.add_all(
        [
            failed,
            faq,
            canned,
            Shipment(service_point_id=point, tracking_number=f"{tag}123456", status=ShipmentStatus.CREATED),
        ]
    )
    await session.flush()
    media = Media(service_point_id=point, message_id=failed.id, status=MediaStatus.FAILED, source=b"handle")
    session.add(media)  # a download that failed: GET says 409, its retry is allowed
    await session.commit()
    return {
        "sp_id": str(point),
        "conversation_id": str(conversation.id),
        "message_id": str(failed.id),
        "faq_id": str(faq.id),
        "canned_id": str(canned.id),
        "tracking_number": f"{tag}123456",
        "user_id": str(extra.id),
        "media_id": str(media.id),
    }


def _scoped_routes(app: Litestar) -> list[tuple[str, str]]:
    routes = []
    for route in app.routes:
        if not route.path.startswith(PREFIX):
            continue
        for method in sorted(getattr(route, "methods", set()) - {"OPTIONS", "HEAD"}):
            routes.append((method, route.path.removeprefix(PREFIX)))
    return sorted(routes, key=lambda r: (r[0] == "DELETE", r[1], r[0]))  # destructive calls last


def _fill(path: str, values: dict[str, str]) -> str:
    for name, value in values.items():
        for kind in ("uuid", "str"):
            path = path.replace(f"{{{name}:{kind}}}", value)
    return path


def _body(method: str, suffix: str, world: World) -> object:
    body = BODIES.get((method, suffix))
    if isinstance(body, dict):
        return {k: (str(world.agent_a.user_id) if v == "{agent_a}" else v) for k, v in body.items()}
    return body


def _is_denied_as_missing(response) -> bool:
    return response.status_code == 404 and response.json()["detail"] == "service point not found"


async def test_every_scoped_route_for_every_caller(
    client: Client, app: Litestar, world: World, session: AsyncSession
) -> None:
    resources_a = await _resources(session, world, world.point_a, "AAA")
    routes = _scoped_routes(app)
    assert len(routes) >= 30, routes  # whatsapp, simulator, inbox, shipments, FAQs, members, live, the point itself
    callers = {"anonymous": {}, **{name: actor.headers for name, actor in world.actors().items()}}
    failures = []
    for method, suffix in routes:
        url = PREFIX.replace("{sp_id:uuid}", str(world.point_a)) + _fill(suffix, resources_a)
        for name, headers in callers.items():
            if name in ("admin", "supervisor_a", "agent_a") and (method, suffix) in STREAMS:
                continue
            response = await client.request(method, url, json=_body(method, suffix, world), headers=headers)
            expected_ok = {
                "anonymous": False,
                "admin": True,
                "supervisor_a": (method, suffix) not in ADMIN_ONLY,
                "agent_a": (method, suffix) not in ADMIN_ONLY | SUPERVISOR_ONLY,
                "agent_b": False,
                "outsider": False,
            }[name]
            if name == "anonymous":
                ok = response.status_code == 401
            elif expected_ok:
                ok = response.status_code not in (401, 403) and not _is_denied_as_missing(response)
            elif (method, suffix) in ADMIN_ONLY or name in ("supervisor_a", "agent_a"):
                ok = response.status_code == 403
            else:
                ok = _is_denied_as_missing(response)
            if not ok:
                failures.append(f"{name:12s} {method:6s} {suffix}: {response.status_code} {response.text[:120]}")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("caller", ["admin", "agent_a"])
async def test_resources_of_b_under_a_path_are_not_found(
    client: Client, world: World, session: AsyncSession, caller: str
) -> None:
    """An id of point B addressed under point A's path is 404, even for an admin."""
    resources_b = await _resources(session, world, world.point_b, "BBB")
    headers = world.actors()[caller].headers
    base = f"/api/service-points/{world.point_a}"
    conversation = f"{base}/conversations/{resources_b['conversation_id']}"
    for method, url, body in (
        ("GET", conversation, None),
        ("PATCH", conversation, {"status": "HUMAN"}),
        ("GET", f"{conversation}/messages", None),
        ("POST", f"{conversation}/messages", {"content": "hola"}),
        ("POST", f"{conversation}/messages/{resources_b['message_id']}/retry", None),
        ("POST", f"{conversation}/notes", {"content": "nota"}),
        ("PUT", f"{conversation}/labels", ["reclamo"]),
        ("POST", f"{conversation}/read", None),
        ("POST", f"{conversation}/typing", None),
        ("GET", f"{conversation}/shipments", None),
        ("GET", f"{base}/shipments/{resources_b['tracking_number']}", None),
        ("PATCH", f"{base}/shipments/{resources_b['tracking_number']}", {"destination": "X"}),
        ("DELETE", f"{base}/shipments/{resources_b['tracking_number']}", None),
        ("GET", f"{base}/faqs/{resources_b['faq_id']}", None),
        ("GET", f"{base}/media/{resources_b['media_id']}", None),
        ("POST", f"{base}/media/{resources_b['media_id']}/retry", None),
        ("PATCH", f"{base}/faqs/{resources_b['faq_id']}", {"answer": "X"}),
        ("DELETE", f"{base}/faqs/{resources_b['faq_id']}", None),
        ("PATCH", f"{base}/canned-responses/{resources_b['canned_id']}", {"content": "X"}),
        ("DELETE", f"{base}/canned-responses/{resources_b['canned_id']}", None),
    ):
        response = await client.request(method, url, json=body, headers=headers)
        assert response.status_code == 404, (caller, method, url, response.text)
    listing = await client.get(f"{base}/conversations", headers=headers)
    assert resources_b["conversation_id"] not in listing.text


# Routes about accounts rather than points: who may call each. Every route under these prefixes must be listed.
ACCOUNT_PREFIXES = ("/api/users", "/api/me")
ACCOUNT_ROUTES: dict[tuple[str, str], tuple[str, object]] = {
    ("GET", "/api/users"): ("admin", None),
    ("POST", "/api/users"): ("admin", {"email": "matrix@example.com", "password": "a-long-password", "name": "M"}),
    ("PATCH", "/api/users/{user_id:uuid}"): ("admin", {"name": "Otro nombre"}),
    ("PUT", "/api/users/{user_id:uuid}/password"): ("admin", {"password": "a-long-password"}),
    ("DELETE", "/api/users/{user_id:uuid}/login-failures"): ("admin", None),
    ("GET", "/api/me"): ("anyone", None),
    ("PUT", "/api/me/password"): ("anyone", {"currentPassword": "not-mine", "newPassword": "a-long-password"}),
    ("GET", "/api/me/availability"): ("anyone", None),
    ("PUT", "/api/me/availability"): ("anyone", {"status": "AWAY"}),
}


async def test_account_routes_for_every_caller(client: Client, app: Litestar, world: World) -> None:
    routes = sorted(
        (method, route.path)
        for route in app.routes
        if route.path.startswith(ACCOUNT_PREFIXES)
        for method in getattr(route, "methods", set()) - {"OPTIONS", "HEAD"}
    )
    undeclared = [route for route in routes if route not in ACCOUNT_ROUTES]
    assert not undeclared, f"declare these in ACCOUNT_ROUTES: {undeclared}"
    callers = {"anonymous": {}, **{name: actor.headers for name, actor in world.actors().items() if name != "admin"}}
    callers["admin"] = world.admin.headers  # last: its calls change the target user
    failures = []
    for method, path in routes:
        who, body = ACCOUNT_ROUTES[(method, path)]
        url = path.replace("{user_id:uuid}", str(world.agent_b.user_id))
        for name, headers in callers.items():
            response = await client.request(method, url, json=body, headers=headers)
            if name == "anonymous":
                ok = response.status_code == 401
            elif who == "anyone" or name == "admin":
                ok = response.status_code not in (401, 403, 404, 405)
            else:
                ok = response.status_code == 403
            if not ok:
                failures.append(f"{name:12s} {method:6s} {path}: {response.status_code} {response.text[:120]}")
    assert not failures, "\n".join(failures)


# Reports: any signed-in user, limited to their points; a point that is not theirs is "not found". Every route
# under the prefix must be listed. The point's canned-responses page follows the point pages' rule.
REPORT_ROUTES = {
    ("GET", "/api/reports/summary"),
    ("GET", "/api/reports/daily"),
    ("GET", "/api/reports/conversations.csv"),
}


async def test_report_routes_for_every_caller(client: Client, app: Litestar, world: World) -> None:
    routes = {
        (method, route.path)
        for route in app.routes
        if route.path.startswith("/api/reports")
        for method in getattr(route, "methods", set()) - {"OPTIONS", "HEAD"}
    }
    assert routes == REPORT_ROUTES, f"declare these in REPORT_ROUTES: {routes - REPORT_ROUTES}"
    point_a = {"servicePointId": str(world.point_a)}
    failures = []
    for method, path in sorted(routes):
        for name, actor in {"anonymous": None, **world.actors()}.items():
            headers = actor.headers if actor else {}
            mine = await client.request(method, path, headers=headers)
            of_a = await client.request(method, path, params=point_a, headers=headers)
            if name == "anonymous":
                ok = mine.status_code == of_a.status_code == 401
            elif name in ("admin", "supervisor_a", "agent_a"):
                ok = mine.status_code == of_a.status_code == 200
            else:
                ok = mine.status_code == 200 and _is_denied_as_missing(of_a)
            if not ok:
                failures.append(f"{name:12s} {method} {path}: {mine.status_code} / A: {of_a.status_code}")
    page = f"/puntos/{world.point_a}/respuestas"
    for name, actor in world.actors().items():
        status = (await client.get(page, headers=actor.headers)).status_code
        if status != (200 if name in ("admin", "supervisor_a", "agent_a") else 404):
            failures.append(f"{name:12s} GET {page}: {status}")
    assert not failures, "\n".join(failures)


# API keys: a route answers a key only when its handler declares a scope (`opt={"scope": ...}`) the key holds; every
# other route, anywhere in the app, is 403 to a key. A key of point B meets point A's routes as a member of B would.
ALL_SCOPES = ["messages:read", "messages:send", "shipments:read", "shipments:write"]
# Scoped routes outside any point (tracking numbers are company-wide): any key with the scope may call them; what
# they do for shipments outside the key's points is tested with the route (tests/alerts).
COMPANY_WIDE = {
    ("POST", "/api/shipments/events"): [
        {"trackingNumber": "AAA123456", "status": "IN_TRANSIT", "at": "2026-01-01T00:00:00Z"}
    ]
}
PARAMETER_STAND_INS = {"uuid": "00000000-0000-0000-0000-000000000001", "str": "x", "int": "1", "path": "/x"}


def _every_authenticated_route(app: Litestar) -> list[tuple[str, str, str | None]]:
    """(method, path, declared scope) of every HTTP route the auth middleware guards."""
    public = [re.compile(pattern) for pattern in PUBLIC_PATHS]
    routes = []
    for route in app.routes:
        if not isinstance(route, HTTPRoute) or any(p.search(route.path) for p in public):
            continue
        for method, (handler, _) in route.route_handler_map.items():
            if method in ("OPTIONS", "HEAD") or handler.opt.get("exclude_from_auth"):
                continue
            routes.append((method, route.path, handler.opt.get(SCOPE_OPT)))
    return sorted(routes, key=lambda r: (r[0] == "DELETE", r[1], r[0]))


def _stand_in(path: str, values: dict[str, str]) -> str:
    path = _fill(path, values)
    return re.sub(r"\{\w+:(\w+)\}", lambda m: PARAMETER_STAND_INS[m.group(1)], path)


async def _key(client: Client, world: World, points: list[UUID] | None) -> dict[str, str]:
    body = {
        "name": "Matriz",
        "scopes": ALL_SCOPES,
        "servicePointIds": None if points is None else [str(p) for p in points],
    }
    response = await client.post("/api/api-keys", json=body, headers=world.admin.headers)
    assert response.status_code == 201, response.text
    return {"Authorization": f"Bearer {response.json()['key']}"}


async def test_every_route_for_api_keys(client: Client, app: Litestar, world: World, session: AsyncSession) -> None:
    resources_a = await _resources(session, world, world.point_a, "AAA")
    routes = _every_authenticated_route(app)
    declared = {(method, path) for method, path, scope in routes if scope is not None}
    assert {("GET", PREFIX + "/conversations"), ("POST", PREFIX + "/shipments")} <= declared, declared
    outside = {route for route in declared if not route[1].startswith(PREFIX)}
    assert outside <= set(COMPANY_WIDE), "a scope on a route outside a point needs a test"
    assert set(ALL_SCOPES) >= {scope for *_, scope in routes if scope is not None}
    key_a, key_b = await _key(client, world, [world.point_a]), await _key(client, world, [world.point_b])
    failures = []
    for method, path, scope in routes:
        url = _stand_in(path.replace("{sp_id:uuid}", str(world.point_a)), resources_a)
        body = COMPANY_WIDE.get((method, path)) or _body(method, path.removeprefix(PREFIX), world)
        of_a = await client.request(method, url, json=body, headers=key_a)
        of_b = await client.request(method, url, json=body, headers=key_b)
        if (method, path) in COMPANY_WIDE:
            ok = of_a.status_code == of_b.status_code == 202
        elif scope is None:
            ok = of_a.status_code == of_b.status_code == 403
        else:
            ok = of_a.status_code not in (401, 403) and not _is_denied_as_missing(of_a) and _is_denied_as_missing(of_b)
        if not ok:
            failures.append(
                f"{method:6s} {path} ({scope}): A {of_a.status_code} / B {of_b.status_code} {of_a.text[:80]}"
            )
    assert not failures, "\n".join(failures)

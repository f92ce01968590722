"""Canned responses of a point (members) and global ones (admins), with the contract's access rules."""

from __future__ import annotations

import uuid

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from tests.conftest import World
from ventanilla.db.models import CannedResponse

Client = AsyncTestClient[Litestar]
GLOBAL = "/api/canned-responses"


def point_canned(point: uuid.UUID, suffix: str = "") -> str:
    return f"/api/service-points/{point}/canned-responses{suffix}"


async def add_canned(
    session: AsyncSession, point: uuid.UUID | None, shortcut: str, content: str = "Hola."
) -> uuid.UUID:
    canned = CannedResponse(service_point_id=point, shortcut=shortcut, content=content)
    session.add(canned)
    await session.commit()
    return canned.id


async def test_point_crud_with_globals_in_the_listing(client: Client, world: World, session: AsyncSession) -> None:
    await add_canned(session, None, "horario", "Atendemos de 08:00 a 18:00.")
    await add_canned(session, world.point_b, "saludo", "Hola desde B.")
    created = await client.post(
        point_canned(world.point_a),
        json={"shortcut": "saludo", "content": " ¡Hola! ¿En qué te ayudo?\n"},
        headers=world.agent_a.headers,
    )
    assert created.status_code == 201, created.text
    canned = created.json()
    assert (canned["shortcut"], canned["content"]) == ("saludo", "¡Hola! ¿En qué te ayudo?")
    assert (canned["servicePointId"], canned["global"]) == (str(world.point_a), False)

    listing = (await client.get(point_canned(world.point_a), headers=world.supervisor_a.headers)).json()
    assert [(c["shortcut"], c["global"]) for c in listing] == [("horario", True), ("saludo", False)]
    only_sa = await client.get(point_canned(world.point_a), params={"q": "SA"}, headers=world.agent_a.headers)
    assert [c["shortcut"] for c in only_sa.json()] == ["saludo"]
    wildcard = await client.get(point_canned(world.point_a), params={"q": "%"}, headers=world.agent_a.headers)
    assert wildcard.json() == []  # a prefix, not a LIKE pattern

    path = point_canned(world.point_a, f"/{canned['id']}")
    edited = await client.patch(path, json={"content": "Buenas tardes."}, headers=world.agent_a.headers)
    assert edited.status_code == 200, edited.text
    assert (edited.json()["shortcut"], edited.json()["content"]) == ("saludo", "Buenas tardes.")
    renamed = await client.patch(path, json={"shortcut": "buenas_tardes-2"}, headers=world.supervisor_a.headers)
    assert renamed.json()["shortcut"] == "buenas_tardes-2"
    assert (await client.delete(path, headers=world.agent_a.headers)).status_code == 204
    assert (await client.patch(path, json={"content": "x"}, headers=world.agent_a.headers)).status_code == 404
    listing = (await client.get(point_canned(world.point_a), headers=world.agent_a.headers)).json()
    assert [c["shortcut"] for c in listing] == ["horario"]


async def test_a_point_may_reuse_a_global_shortcut_and_its_own_comes_first(
    client: Client, world: World, session: AsyncSession
) -> None:
    await add_canned(session, None, "saludo", "Hola de parte de la empresa.")
    created = await client.post(
        point_canned(world.point_a), json={"shortcut": "saludo", "content": "Hola de A."}, headers=world.agent_a.headers
    )
    assert created.status_code == 201
    listing = (await client.get(point_canned(world.point_a), headers=world.agent_a.headers)).json()
    assert [(c["content"], c["global"]) for c in listing] == [
        ("Hola de A.", False),
        ("Hola de parte de la empresa.", True),
    ]


async def test_duplicate_shortcuts_are_409_naming_the_shortcut(
    client: Client, world: World, session: AsyncSession
) -> None:
    await add_canned(session, world.point_a, "saludo")
    other = await add_canned(session, world.point_a, "despedida")
    await add_canned(session, None, "horario")
    await add_canned(session, world.point_b, "envio")  # another point's shortcut is free at A
    body = {"shortcut": "saludo", "content": "Otra vez."}
    duplicate = await client.post(point_canned(world.point_a), json=body, headers=world.agent_a.headers)
    assert duplicate.status_code == 409, duplicate.text
    assert duplicate.json()["detail"].startswith("shortcut:")
    renamed = await client.patch(
        point_canned(world.point_a, f"/{other}"), json={"shortcut": "saludo"}, headers=world.agent_a.headers
    )
    assert renamed.status_code == 409 and renamed.json()["detail"].startswith("shortcut:")
    global_duplicate = await client.post(
        GLOBAL, json={"shortcut": "horario", "content": "x"}, headers=world.admin.headers
    )
    assert global_duplicate.status_code == 409 and global_duplicate.json()["detail"].startswith("shortcut:")
    free = await client.post(
        point_canned(world.point_a), json={"shortcut": "envio", "content": "x"}, headers=world.agent_a.headers
    )
    assert free.status_code == 201
    session.expire_all()
    shortcuts = await session.scalars(
        select(CannedResponse.shortcut).where(CannedResponse.service_point_id == world.point_a)
    )
    assert sorted(shortcuts) == ["despedida", "envio", "saludo"]


BAD_BODIES: list[tuple[dict[str, object], str]] = [
    ({"content": "a"}, "shortcut"),
    ({"shortcut": "saludo"}, "content"),
    ({"shortcut": "", "content": "a"}, "shortcut"),
    ({"shortcut": "Saludo", "content": "a"}, "shortcut"),
    ({"shortcut": "con espacio", "content": "a"}, "shortcut"),
    ({"shortcut": "/saludo", "content": "a"}, "shortcut"),
    ({"shortcut": "saludo\n", "content": "a"}, "shortcut"),
    ({"shortcut": "s\u0000", "content": "a"}, "shortcut"),
    ({"shortcut": "s" * 33, "content": "a"}, "shortcut"),
    ({"shortcut": "saludo", "content": ""}, "content"),
    ({"shortcut": "saludo", "content": " \n "}, "content"),
    ({"shortcut": "saludo", "content": "hola\u0000"}, "content"),
    ({"shortcut": "saludo", "content": "a" * 4097}, "content"),
    ({"shortcut": 7, "content": "a"}, "shortcut"),
    ({"shortcut": "saludo", "content": "a", "servicePointId": None}, "servicePointId"),
]


async def test_bad_input_names_the_field(client: Client, world: World, session: AsyncSession) -> None:
    own = await add_canned(session, world.point_a, "propia")
    global_id = await add_canned(session, None, "global")
    for body, field in BAD_BODIES:
        for path, actor in ((point_canned(world.point_a), world.agent_a), (GLOBAL, world.admin)):
            response = await client.post(path, json=body, headers=actor.headers)
            assert response.status_code == 400, (path, body, response.text)
            assert response.json()["extra"][0]["key"] == field, (body, response.json())
    for path, actor in (
        (point_canned(world.point_a, f"/{own}"), world.agent_a),
        (f"{GLOBAL}/{global_id}", world.admin),
    ):
        for body, field in (({"shortcut": "MAL"}, "shortcut"), ({"content": "\u0000"}, "content"), ({"x": 1}, "x")):
            response = await client.patch(path, json=body, headers=actor.headers)
            assert response.status_code == 400, (path, body, response.text)
            assert response.json()["extra"][0]["key"] == field
    nul_query = await client.get(point_canned(world.point_a), params={"q": "a\u0000"}, headers=world.agent_a.headers)
    assert nul_query.status_code == 400
    long_query = await client.get(point_canned(world.point_a), params={"q": "a" * 33}, headers=world.agent_a.headers)
    assert long_query.status_code == 400
    assert (
        await client.post(point_canned(world.point_a, ""), json=[], headers=world.agent_a.headers)
    ).status_code == 400
    session.expire_all()
    assert len((await session.scalars(select(CannedResponse))).all()) == 2
    longest = await client.post(
        point_canned(world.point_a), json={"shortcut": "s" * 32, "content": "a" * 4096}, headers=world.agent_a.headers
    )
    assert longest.status_code == 201


async def test_other_points_and_global_ones_cannot_be_changed_under_a_point(
    client: Client, world: World, session: AsyncSession
) -> None:
    b_canned = await add_canned(session, world.point_b, "de-b", "De B.")
    global_canned = await add_canned(session, None, "global", "Global.")
    for actor in (world.agent_a, world.supervisor_a, world.admin):
        for canned_id in (b_canned, global_canned):
            for method in ("PATCH", "DELETE"):
                body = {"content": "cambiada"} if method == "PATCH" else None
                response = await client.request(
                    method, point_canned(world.point_a, f"/{canned_id}"), json=body, headers=actor.headers
                )
                missing = await client.request(
                    method, point_canned(world.point_a, f"/{uuid.uuid4()}"), json=body, headers=actor.headers
                )
                assert response.status_code == missing.status_code == 404
                assert response.json() == missing.json()
    listing = (await client.get(point_canned(world.point_a), headers=world.agent_a.headers)).json()
    assert [c["shortcut"] for c in listing] == ["global"]
    session.expire_all()
    assert {c.shortcut: c.content for c in await session.scalars(select(CannedResponse))} == {
        "de-b": "De B.",
        "global": "Global.",
    }


async def test_point_access(client: Client, world: World, session: AsyncSession) -> None:
    own = await add_canned(session, world.point_a, "saludo")
    for actor in (world.agent_b, world.outsider):
        assert (await client.get(point_canned(world.point_a), headers=actor.headers)).status_code == 404
        created = await client.post(
            point_canned(world.point_a), json={"shortcut": "x", "content": "a"}, headers=actor.headers
        )
        assert created.status_code == 404
        path = point_canned(world.point_a, f"/{own}")
        assert (await client.patch(path, json={"content": "b"}, headers=actor.headers)).status_code == 404
        assert (await client.delete(path, headers=actor.headers)).status_code == 404
    assert (await client.get(point_canned(world.point_a))).status_code == 401
    assert (await client.get(point_canned(uuid.uuid4()), headers=world.admin.headers)).status_code == 404
    admin_listing = await client.get(point_canned(world.point_a), headers=world.admin.headers)
    assert [c["shortcut"] for c in admin_listing.json()] == ["saludo"]


async def test_global_ones_are_admin_only(client: Client, world: World, session: AsyncSession) -> None:
    point_canned_id = await add_canned(session, world.point_a, "de-a")
    created = await client.post(
        GLOBAL, json={"shortcut": "gracias", "content": "¡Gracias!"}, headers=world.admin.headers
    )
    assert created.status_code == 201
    canned = created.json()
    assert (canned["global"], canned["servicePointId"]) == (True, None)
    assert [c["id"] for c in (await client.get(GLOBAL, headers=world.admin.headers)).json()] == [canned["id"]]
    assert (await client.get(GLOBAL, params={"q": "x"}, headers=world.admin.headers)).json() == []
    path = f"{GLOBAL}/{canned['id']}"
    edited = await client.patch(path, json={"content": "¡Muchas gracias!"}, headers=world.admin.headers)
    assert edited.json()["content"] == "¡Muchas gracias!"
    for point in (world.point_a, world.point_b):
        listed = (await client.get(point_canned(point), headers=world.admin.headers)).json()
        assert "¡Muchas gracias!" in [c["content"] for c in listed]

    for actor in (world.supervisor_a, world.agent_a, world.outsider):
        assert (await client.get(GLOBAL, headers=actor.headers)).status_code == 403
        assert (
            await client.post(GLOBAL, json={"shortcut": "x", "content": "a"}, headers=actor.headers)
        ).status_code == 403
        assert (await client.patch(path, json={"content": "a"}, headers=actor.headers)).status_code == 403
        assert (await client.delete(path, headers=actor.headers)).status_code == 403
    assert (await client.get(GLOBAL)).status_code == 401
    # a point's own is not global: 404 under the global path, even for an admin
    point_path = f"{GLOBAL}/{point_canned_id}"
    assert (await client.patch(point_path, json={"content": "x"}, headers=world.admin.headers)).status_code == 404
    assert (await client.delete(point_path, headers=world.admin.headers)).status_code == 404
    assert (await client.delete(path, headers=world.admin.headers)).status_code == 204
    assert (await client.get(GLOBAL, headers=world.admin.headers)).json() == []


async def test_deleting_a_point_deletes_its_canned_responses(
    client: Client, world: World, session: AsyncSession
) -> None:
    await add_canned(session, world.point_b, "de-b")
    await add_canned(session, None, "global")
    assert (await client.delete(f"/api/service-points/{world.point_b}", headers=world.admin.headers)).status_code == 204
    session.expire_all()
    assert list(await session.scalars(select(CannedResponse.shortcut))) == ["global"]


async def test_the_database_refuses_what_the_api_refuses(session: AsyncSession, world: World) -> None:
    """The check constraints and the unique index hold for writes that do not come through the API."""
    for shortcut, content in (("Mayus", "a"), ("ok", ""), ("ok", "a" * 4097), ("a" * 33, "a")):
        session.add(CannedResponse(service_point_id=world.point_a, shortcut=shortcut, content=content))
        try:
            await session.flush()
        except DBAPIError:  # a check constraint (23514), or the column's length (22001)
            await session.rollback()
        else:  # pragma: no cover - the failure message is the useful part
            raise AssertionError(f"stored {shortcut!r}")
    session.add_all([CannedResponse(service_point_id=None, shortcut="dos", content="a") for _ in range(2)])
    try:
        await session.flush()
    except IntegrityError:
        await session.rollback()
    else:  # pragma: no cover
        raise AssertionError("two global canned responses with one shortcut")

"""FAQs of a point (members) and global FAQs (admins), with the contract's access rules."""

from __future__ import annotations

import uuid

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tests.conftest import World
from ventanilla.db.models import Faq

Client = AsyncTestClient[Litestar]


def point_faqs(point: uuid.UUID, suffix: str = "") -> str:
    return f"/api/service-points/{point}/faqs{suffix}"


async def add_faq(session: AsyncSession, point: uuid.UUID | None, question: str) -> uuid.UUID:
    faq = Faq(service_point_id=point, question=question, answer="Respuesta.", keywords=["uno"])
    session.add(faq)
    await session.commit()
    return faq.id


async def test_point_faq_crud_and_globals_in_listing(client: Client, world: World, session: AsyncSession) -> None:
    global_id = await add_faq(session, None, "¿Hacen envíos internacionales?")
    await add_faq(session, world.point_b, "Horario de B")
    body = {
        "question": " ¿Cuál es el horario? ",
        "answer": "De 08:00 a 18:00.",
        "keywords": [" Horario ", "horario", "hora"],
    }
    created = await client.post(point_faqs(world.point_a), json=body, headers=world.agent_a.headers)
    assert created.status_code == 201
    faq = created.json()
    assert faq["question"] == "¿Cuál es el horario?"
    assert faq["keywords"] == ["Horario", "hora"]
    assert (faq["servicePointId"], faq["global"]) == (str(world.point_a), False)

    listing = (await client.get(point_faqs(world.point_a), headers=world.supervisor_a.headers)).json()
    assert [(f["question"], f["global"], f["servicePointId"]) for f in listing] == [
        ("¿Cuál es el horario?", False, str(world.point_a)),
        ("¿Hacen envíos internacionales?", True, None),
    ]
    assert (await client.get(point_faqs(world.point_a, f"/{global_id}"), headers=world.agent_a.headers)).json()[
        "global"
    ]

    path = point_faqs(world.point_a, f"/{faq['id']}")
    assert (await client.get(path, headers=world.agent_a.headers)).json() == faq
    edited = await client.patch(
        path, json={"answer": "De 09:00 a 17:00.", "keywords": []}, headers=world.agent_a.headers
    )
    assert edited.status_code == 200
    assert (edited.json()["answer"], edited.json()["keywords"], edited.json()["question"]) == (
        "De 09:00 a 17:00.",
        [],
        "¿Cuál es el horario?",
    )
    assert (await client.delete(path, headers=world.agent_a.headers)).status_code == 204
    assert (await client.get(path, headers=world.agent_a.headers)).status_code == 404


BAD_BODIES: list[tuple[dict[str, object], str]] = [
    ({"answer": "a"}, "question"),
    ({"question": "", "answer": "a"}, "question"),
    ({"question": "   ", "answer": "a"}, "question"),
    ({"question": "q", "answer": "a" * 4001}, "answer"),
    ({"question": "q", "answer": "a", "keywords": [f"k{n}" for n in range(21)]}, "keywords"),
    ({"question": "q", "answer": "a", "keywords": ["ok", "k" * 61]}, "keywords[1]"),
    ({"question": "q", "answer": "a", "keywords": "horario"}, "keywords"),
    ({"question": "q", "answer": "a", "servicePointId": None}, "servicePointId"),
]


async def test_bad_input_names_the_field(client: Client, world: World) -> None:
    for body, field in BAD_BODIES:
        for path, actor in ((point_faqs(world.point_a), world.agent_a), ("/api/faqs", world.admin)):
            response = await client.post(path, json=body, headers=actor.headers)
            assert response.status_code == 400, body
            assert response.json()["extra"][0]["key"] == field, body


async def test_other_points_and_global_faqs_cannot_be_changed_under_a_point(
    client: Client, world: World, session: AsyncSession
) -> None:
    b_faq = await add_faq(session, world.point_b, "FAQ de B")
    global_faq = await add_faq(session, None, "FAQ global")
    for actor in (world.agent_a, world.admin):
        for faq_id, methods in ((b_faq, ("GET", "PATCH", "DELETE")), (global_faq, ("PATCH", "DELETE"))):
            for method in methods:
                body = {"answer": "cambiada"} if method == "PATCH" else None
                response = await client.request(
                    method, point_faqs(world.point_a, f"/{faq_id}"), json=body, headers=actor.headers
                )
                missing = await client.request(
                    method, point_faqs(world.point_a, f"/{uuid.uuid4()}"), json=body, headers=actor.headers
                )
                assert response.status_code == missing.status_code == 404
                assert response.json() == missing.json()
    listing = (await client.get(point_faqs(world.point_a), headers=world.agent_a.headers)).json()
    assert [f["question"] for f in listing] == ["FAQ global"]
    session.expire_all()
    assert {f.question: f.answer for f in await session.scalars(select(Faq))} == {
        "FAQ de B": "Respuesta.",
        "FAQ global": "Respuesta.",
    }


async def test_point_faq_access(client: Client, world: World, session: AsyncSession) -> None:
    faq_id = await add_faq(session, world.point_a, "FAQ de A")
    for actor in (world.agent_b, world.outsider):
        assert (await client.get(point_faqs(world.point_a), headers=actor.headers)).status_code == 404
        assert (await client.get(point_faqs(world.point_a, f"/{faq_id}"), headers=actor.headers)).status_code == 404
        created = await client.post(
            point_faqs(world.point_a), json={"question": "q", "answer": "a"}, headers=actor.headers
        )
        assert created.status_code == 404
    assert (await client.get(point_faqs(world.point_a))).status_code == 401
    assert (await client.get(point_faqs(uuid.uuid4()), headers=world.admin.headers)).status_code == 404
    for actor in (world.admin, world.supervisor_a):
        assert (await client.get(point_faqs(world.point_a, f"/{faq_id}"), headers=actor.headers)).status_code == 200


async def test_global_faqs_are_admin_only(client: Client, world: World, session: AsyncSession) -> None:
    point_faq = await add_faq(session, world.point_a, "FAQ de A")
    created = await client.post(
        "/api/faqs",
        json={"question": "¿Cuánto cuesta?", "answer": "Desde USD 3,50.", "keywords": ["precio"]},
        headers=world.admin.headers,
    )
    assert created.status_code == 201
    faq = created.json()
    assert (faq["global"], faq["servicePointId"]) == (True, None)
    assert [f["id"] for f in (await client.get("/api/faqs", headers=world.admin.headers)).json()] == [faq["id"]]
    path = f"/api/faqs/{faq['id']}"
    assert (await client.get(path, headers=world.admin.headers)).json() == faq
    edited = await client.patch(path, json={"keywords": ["precio", "tarifa"]}, headers=world.admin.headers)
    assert edited.json()["keywords"] == ["precio", "tarifa"]
    listed_under_a = await client.get(point_faqs(world.point_a), headers=world.agent_a.headers)
    assert {f["question"] for f in listed_under_a.json()} == {"FAQ de A", "¿Cuánto cuesta?"}

    for actor in (world.supervisor_a, world.agent_a, world.outsider):
        assert (await client.get("/api/faqs", headers=actor.headers)).status_code == 403
        assert (
            await client.post("/api/faqs", json={"question": "q", "answer": "a"}, headers=actor.headers)
        ).status_code == 403
        assert (await client.patch(path, json={"answer": "x"}, headers=actor.headers)).status_code == 403
        assert (await client.delete(path, headers=actor.headers)).status_code == 403
    assert (await client.get("/api/faqs")).status_code == 401

    # a point's FAQ is not a global one
    assert (
        await client.patch(f"/api/faqs/{point_faq}", json={"answer": "x"}, headers=world.admin.headers)
    ).status_code == 404
    assert (await client.delete(f"/api/faqs/{point_faq}", headers=world.admin.headers)).status_code == 404

    assert (await client.delete(path, headers=world.admin.headers)).status_code == 204
    assert (await client.get("/api/faqs", headers=world.admin.headers)).json() == []

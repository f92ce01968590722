"""Point settings over HTTP: hours, time zone, auto-resolve, assignment timeout, CSAT; who may change them."""

from __future__ import annotations

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncSession

from tests.conftest import World
from tests.rows import add_conversation
from ventanilla.db.models import Conversation, ConversationStatus

Client = AsyncTestClient[Litestar]
HOURS = {"mon": [["14:00", "18:00"], ["08:00", "12:00"]], "sat": [["09:00", "13:00"]]}


async def test_supervisor_changes_settings_and_everyone_reads_them(client: Client, world: World) -> None:
    path = f"/api/service-points/{world.point_a}"
    defaults = (await client.get(path, headers=world.agent_a.headers)).json()
    assert {k: defaults[k] for k in ("timezone", "businessHours", "autoResolveHours", "assignmentTimeoutMinutes")} == {
        "timezone": "America/Guayaquil",
        "businessHours": None,
        "autoResolveHours": 24,
        "assignmentTimeoutMinutes": 5,
    }
    assert defaults["csatEnabled"] is False and defaults["waitingCount"] == 0
    body = {
        "name": "Punto A Centro",
        "timezone": "Asia/Tokyo",
        "businessHours": HOURS,
        "autoResolveHours": 48,
        "assignmentTimeoutMinutes": 3,
        "csatEnabled": True,
    }
    changed = await client.patch(path, json=body, headers=world.supervisor_a.headers)
    assert changed.status_code == 200, changed.text
    expected = body | {"businessHours": {"mon": [["08:00", "12:00"], ["14:00", "18:00"]], "sat": [["09:00", "13:00"]]}}
    assert changed.json() == changed.json() | expected
    assert (await client.get(path, headers=world.agent_a.headers)).json() == changed.json()
    always = await client.patch(path, json={"businessHours": None}, headers=world.admin.headers)
    assert always.json()["businessHours"] is None and always.json()["timezone"] == "Asia/Tokyo"


BAD = [
    ({"timezone": "Mars/Olympus"}, "timezone"),
    ({"timezone": ""}, "timezone"),
    ({"timezone": "/etc/passwd"}, "timezone"),
    ({"businessHours": {"mon": [["25:00", "26:00"]]}}, "businessHours.mon[0][0]"),
    ({"businessHours": {"mon": [["8:00", "18:00"]]}}, "businessHours.mon[0][0]"),
    ({"businessHours": {"mon": [["18:00", "08:00"]]}}, "businessHours.mon[0]"),
    ({"businessHours": {"tue": [["08:00", "12:00"], ["11:00", "13:00"]]}}, "businessHours.tue[1]"),
    ({"businessHours": {"wed": [["08:00"]]}}, "businessHours.wed[0]"),
    ({"businessHours": {"thu": [[f"{h:02d}:00", f"{h:02d}:30"] for h in range(5)]}}, "businessHours.thu"),
    ({"businessHours": {"lunes": [["08:00", "18:00"]]}}, "businessHours.lunes"),
    ({"businessHours": {}}, "businessHours"),
    ({"autoResolveHours": 0}, "autoResolveHours"),
    ({"autoResolveHours": 8761}, "autoResolveHours"),
    ({"assignmentTimeoutMinutes": 1441}, "assignmentTimeoutMinutes"),
    ({"assignmentTimeoutMinutes": "5"}, "assignmentTimeoutMinutes"),
    ({"csatEnabled": "yes"}, "csatEnabled"),
]


async def test_bad_settings_name_the_field(client: Client, world: World) -> None:
    path = f"/api/service-points/{world.point_a}"
    for body, field in BAD:
        response = await client.patch(path, json=body, headers=world.supervisor_a.headers)
        assert response.status_code == 400, (body, response.text)
        assert response.json()["extra"][0]["key"] == field, (body, response.json())
    unchanged = (await client.get(path, headers=world.supervisor_a.headers)).json()
    assert unchanged["timezone"] == "America/Guayaquil" and unchanged["businessHours"] is None


async def test_agents_and_other_branches_cannot_change_settings(client: Client, world: World) -> None:
    path = f"/api/service-points/{world.point_a}"
    for body in ({"businessHours": HOURS}, {"timezone": "Asia/Tokyo"}, {"csatEnabled": True}):
        assert (await client.patch(path, json=body, headers=world.agent_a.headers)).status_code == 403
        assert (await client.patch(path, json=body, headers=world.agent_b.headers)).status_code == 404
    number = await client.patch(path, json={"phoneNumber": "+593200000009"}, headers=world.supervisor_a.headers)
    assert number.status_code == 403  # the number stays admin-only
    assert (await client.get(path, headers=world.admin.headers)).json()["businessHours"] is None


async def test_points_list_counts_waiting_customers(client: Client, world: World, session: AsyncSession) -> None:
    waiting = [await add_conversation(session, world.point_a, f"+59398000000{i}") for i in range(3)]
    for index, conversation_id in enumerate(waiting):
        conversation = await session.get(Conversation, conversation_id)
        assert conversation is not None
        conversation.status = ConversationStatus.HUMAN
        if index < 2:  # the third was answered already
            conversation.waiting_since = conversation.last_message_at
    await session.commit()
    listed = {
        p["name"]: p["waitingCount"]
        for p in (await client.get("/api/service-points", headers=world.admin.headers)).json()
    }
    assert listed == {"Punto A": 2, "Punto B": 0}
    page = await client.get("/puntos", headers=world.supervisor_a.headers)
    assert page.status_code == 200
    assert "2 esperando" in page.text

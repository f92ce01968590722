"""End to end through the running app: a customer asks for a person while the point is closed, hears when someone
will answer, and the background assigner gives the conversation to the ONLINE agent once the point opens."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.conftest import World
from tests.flow import link, say, wait_phone
from tests.whatsapp.conftest import FAST, eventually
from ventanilla.app import create_app
from ventanilla.assignment.assigner import AssignmentPolicy
from ventanilla.assignment.hours import DAY_NAMES, DAYS
from ventanilla.config import Settings
from ventanilla.delivery.worker import DeliveryPolicy
from ventanilla.pipeline import PipelinePolicy

Client = AsyncTestClient[Litestar]


@pytest.fixture
def app(settings: Settings) -> Litestar:
    return create_app(
        settings,
        session_policy=FAST,
        pipeline_policy=PipelinePolicy(sweep_seconds=0.5, stale_seconds=0.5),
        delivery_policy=DeliveryPolicy(poll_seconds=0.05, retry_base_seconds=0.05, retry_max_seconds=0.1),
        assignment_policy=AssignmentPolicy(first_run_seconds=0.05, every_seconds=0.1),
    )


async def test_closed_point_tells_the_customer_and_assigns_at_opening(client: Client, world: World) -> None:
    base = f"/api/service-points/{world.point_a}"
    await link(client, world, world.point_a)
    today = datetime.now(UTC).astimezone(ZoneInfo("America/Guayaquil")).weekday()
    open_day = (today + 2) % 7  # open only the day after tomorrow: closed now
    hours = {"businessHours": {DAYS[open_day]: [["08:00", "18:00"]]}}
    assert (await client.patch(base, json=hours, headers=world.supervisor_a.headers)).status_code == 200
    online = await client.put("/api/me/availability", json={"status": "ONLINE"}, headers=world.agent_a.headers)
    assert online.status_code == 200

    await say(client, world, world.point_a, "quiero hablar con una persona")
    [reply] = await wait_phone(client, world, world.point_a, 1)
    assert reply.startswith("Te comunico con un asesor")
    assert reply.endswith(
        f"Nuestro horario de atención es {DAY_NAMES[open_day]} de 08:00 a 18:00. "
        f"Una persona te responderá el {DAY_NAMES[open_day]} a las 08:00."
    )

    async def waiting() -> list[dict]:
        response = await client.get(f"{base}/conversations?waiting=true", headers=world.supervisor_a.headers)
        return response.json()["items"]

    async def one_waiting() -> bool:
        return len(await waiting()) == 1

    await eventually(one_waiting, what="the handoff")
    [conversation] = await waiting()
    await eventually(lambda: _points_count(client, world, 1), what="the waiting count")
    for _ in range(5):  # several rounds of the assigner pass: closed, nobody is assigned
        assert (await waiting())[0]["assignedToUserId"] is None
        await client.put("/api/me/availability", json={"status": "ONLINE"}, headers=world.agent_a.headers)

    assert (await client.patch(base, json={"businessHours": None}, headers=world.admin.headers)).status_code == 200

    async def assigned() -> bool:
        return (await waiting())[0]["assignedToUserId"] == str(world.agent_a.user_id)

    await eventually(assigned, what="the automatic assignment")
    detail = (await client.get(f"{base}/conversations/{conversation['id']}", headers=world.agent_a.headers)).json()
    assert [(e["kind"], e["reason"]) for e in detail["events"]][-1] == ("ASSIGNED", "asignación automática")
    # the agent answers: no longer waiting, and the assigner leaves it alone
    await client.post(
        f"{base}/conversations/{conversation['id']}/messages", json={"content": "Hola"}, headers=world.agent_a.headers
    )
    assert await waiting() == []
    await eventually(lambda: _points_count(client, world, 0), what="no one waiting")


async def _points_count(client: Client, world: World, count: int) -> bool:
    points = (await client.get("/api/service-points", headers=world.agent_a.headers)).json()
    return [p["waitingCount"] for p in points] == [count]

"""The report endpoints on the hand-computed dataset of `tests/reports/dataset.py`: every figure exact, who may see
what, and the refusals of a bad period."""

from __future__ import annotations

import csv
import io

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncSession

from tests.conftest import World
from tests.reports.dataset import C2_PHONE, DAYS, SUMMARY, Dataset, hand_dataset

Client = AsyncTestClient[Litestar]


@pytest.fixture
async def data(world: World, session: AsyncSession) -> Dataset:
    return await hand_dataset(session, world.point_a, world.point_b, world.agent_a.user_id)


def _period(data: Dataset, **extra: str) -> dict[str, str]:
    return {"from": data.first_day.isoformat(), "to": data.last_day.isoformat(), **extra}


async def test_summary_figures_match_the_hand_computed_dataset(client: Client, world: World, data: Dataset) -> None:
    response = await client.get(
        "/api/reports/summary",
        params=_period(data, servicePointId=str(world.point_a)),
        headers=world.supervisor_a.headers,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert {key: body[key] for key in SUMMARY} == SUMMARY
    assert body["from"] == "2026-03-10" and body["to"] == "2026-03-12"
    assert body["servicePointIds"] == [str(world.point_a)]

    # One day alone: day 1 has C3 (taken by a reply, 0 s) and C4 (300 s).
    one_day = await client.get(
        "/api/reports/summary",
        params={"from": "2026-03-11", "to": "2026-03-11", "servicePointId": str(world.point_a)},
        headers=world.agent_a.headers,
    )
    day = one_day.json()
    assert (day["conversations"], day["handoffs"], day["botContainmentRate"]) == (2, 2, 0.0)
    assert day["firstResponseSeconds"] == {"p50": 150, "p90": 270}
    assert day["resolutionSeconds"] == {"p50": 600, "p90": 600}  # C4 is still open: no resolution time


async def test_daily_series_gives_every_day_of_the_period(client: Client, world: World, data: Dataset) -> None:
    response = await client.get(
        "/api/reports/daily",
        params={"from": "2026-03-09", "to": "2026-03-13", "servicePointId": str(world.point_a)},
        headers=world.agent_a.headers,
    )
    assert response.status_code == 200, response.text
    days = response.json()["days"]
    assert [day["date"] for day in days] == [f"2026-03-{n:02d}" for n in range(9, 14)]
    # C8 wrote at 21:00 local time on the 9th (02:00 UTC on the 10th); C9 on the 13th.
    assert [day["conversations"] for day in (days[0], days[4])] == [1, 1]
    for day, (conversations, bot_only, handed_off, rate, response_times, csat) in zip(days[1:4], DAYS, strict=True):
        assert day["conversations"] == conversations, day
        assert (day["botOnly"], day["handedOff"], day["botContainmentRate"]) == (bot_only, handed_off, rate), day
        assert day["firstResponseSeconds"] == response_times, day
        assert day["csat"] == csat, day


async def test_without_a_point_members_get_their_points_and_admins_all(
    client: Client, world: World, data: Dataset
) -> None:
    async def conversations(headers: dict[str, str]) -> int:
        response = await client.get("/api/reports/summary", params=_period(data), headers=headers)
        assert response.status_code == 200, response.text
        return response.json()["conversations"]

    assert await conversations(world.agent_a.headers) == SUMMARY["conversations"]
    assert await conversations(world.agent_b.headers) == 1  # point B's only conversation
    assert await conversations(world.admin.headers) == SUMMARY["conversations"] + 1
    assert await conversations(world.outsider.headers) == 0  # no points: nothing to count


PATHS = ("summary", "daily", "conversations.csv")


async def test_another_points_report_is_not_found(client: Client, world: World, data: Dataset) -> None:
    for path in PATHS:
        url, params = f"/api/reports/{path}", _period(data, servicePointId=str(world.point_a))
        for caller in (world.agent_b, world.outsider):
            response = await client.get(url, params=params, headers=caller.headers)
            assert response.status_code == 404, response.text
            assert response.json()["detail"] == "service point not found"
        assert (await client.get(url, params=params, headers=world.admin.headers)).status_code == 200
        assert (await client.get(url, params=params)).status_code == 401


BAD_INPUT = [
    ({"from": "2026-03-12", "to": "2026-03-10"}, "from"),
    ({"from": "2025-03-10", "to": "2026-03-12"}, "from"),  # 368 days
    ({"from": "2026-02-30"}, "from"),
    ({"to": "mañana"}, "to"),
    ({"servicePointId": "punto-a"}, "servicePointId"),
]


async def test_a_bad_period_is_refused_naming_the_parameter(client: Client, world: World) -> None:
    for path in PATHS:
        for params, key in BAD_INPUT:
            response = await client.get(f"/api/reports/{path}", params=params, headers=world.admin.headers)
            assert response.status_code == 400, (path, params, response.text)
            assert [problem["key"] for problem in response.json()["extra"]] == [key]


async def test_a_year_is_the_longest_period_and_the_default_is_the_last_30_days(client: Client, world: World) -> None:
    year = await client.get(
        "/api/reports/daily", params={"from": "2024-01-01", "to": "2024-12-31"}, headers=world.admin.headers
    )
    assert year.status_code == 200, year.text
    assert len(year.json()["days"]) == 366
    default = (await client.get("/api/reports/daily", headers=world.admin.headers)).json()
    assert len(default["days"]) == 30 and default["days"][-1]["date"] == default["to"]


async def test_csv_has_one_row_per_conversation_of_the_period(client: Client, world: World, data: Dataset) -> None:
    response = await client.get(
        "/api/reports/conversations.csv",
        params=_period(data, servicePointId=str(world.point_a)),
        headers=world.agent_a.headers,
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert 'filename="conversaciones-2026-03-10-a-2026-03-12.csv"' in response.headers["content-disposition"]
    raw = response.content.decode("utf-8")
    assert raw.startswith("\ufeffSucursal;Conversación;") and "\r\n" in raw
    rows = list(csv.DictReader(io.StringIO(raw.removeprefix("\ufeff")), delimiter=";"))
    assert [row["Conversación"] for row in rows] == [
        str(data.conversations[name]) for name in ("C1", "C2", "C3", "C4", "C5", "C7")
    ]  # oldest first; C8, C9 and point B's are outside
    c2 = rows[1]
    assert C2_PHONE not in raw  # masked, as in the logs
    assert c2["Cliente"] == "59399****002"
    assert c2["Enlace"].endswith(f"/puntos/{world.point_a}/inbox?c={data.conversations['C2']}")
    assert c2["Primer mensaje del cliente"] == "10/03/2026 10:00"  # the point's time
    assert c2["Última actividad"] == "10/03/2026 10:04"  # the note at 10:00:30 is not activity
    assert (c2["Mensajes del cliente"], c2["Respuestas del bot"], c2["Respuestas de agentes"]) == ("2", "1", "2")
    assert (c2["Derivaciones a persona"], c2["Primera respuesta (s)"], c2["Resolución (s)"]) == ("1", "120", "1800")
    assert (c2["Atendida por"], c2["Estado actual"], c2["Calificación (1-5)"]) == ("agent_a", "Resuelta", "5")
    c1, c7 = rows[0], rows[5]
    assert (c1["Derivaciones a persona"], c1["Primera respuesta (s)"], c1["Estado actual"]) == ("0", "", "Bot")
    assert c7["Primer mensaje del cliente"] == "12/03/2026 23:30"

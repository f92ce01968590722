"""Page cursors: anything we did not issue is the same 400 naming the parameter, never a 500."""

from __future__ import annotations

import base64
import json
from uuid import UUID

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncSession

from tests.conftest import World
from tests.rows import add_conversation
from ventanilla.pagination import INVALID_CURSOR

Client = AsyncTestClient[Litestar]
ID = "492e5536-08f1-4349-a70a-1d2162a84f0e"  # fixed: parallel workers must collect the same test ids
NOW = "2026-11-28T10:00:00Z"


def _cursor(value: object) -> str:
    raw = value if isinstance(value, bytes) else json.dumps(value).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


CONVERSATION_CURSORS = [
    {"as_of": NOW, "key": "2026-11-28T10:00:00", "id": ID},  # naive time
    {"as_of": "2026-11-28T10:00:00", "key": NOW, "id": ID},
    {"as_of": "0000-01-01T00:00:00Z", "key": NOW, "id": ID},
    {"as_of": "10000-01-01T00:00:00Z", "key": NOW, "id": ID},
    {"as_of": 1_764_324_000, "key": NOW, "id": ID},  # a number is not a time here
    {"as_of": NOW, "key": NOW, "id": 10**40},
    {"as_of": NOW, "key": NOW, "id": "not-a-uuid"},
    {"as_of": NOW, "key": NOW, "id": ID, "extra": 1},
    {"as_of": NOW, "key": NOW},
    {"as_of": f"{NOW}\u0000", "key": NOW, "id": ID},
    [NOW, NOW, ID],
    "cursor",
    None,
    b"\xff\xfe",
    b"{",
]
MESSAGE_CURSORS = [
    {"timestamp": "2026-11-28T10:00:00", "id": ID},
    {"timestamp": "9999-12-31T24:00:00Z", "id": ID},
    {"timestamp": True, "id": ID},
    {"timestamp": NOW, "id": ID, "more": []},
    {"id": ID},
]
SHIPMENT_CURSORS = [
    {"tracking_number": "abc123456"},
    {"tracking_number": "ABC123456\u0000"},
    {"tracking_number": 123456},
    {"tracking_number": "ABC123456", "status": "CREATED"},
    {},
]


def _point(point: UUID) -> str:
    return f"/api/service-points/{point}"


async def _assert_refused(client: Client, world: World, url: str, key: str) -> None:
    response = await client.get(url, headers=world.agent_a.headers)
    assert response.status_code == 400, (url, response.text)
    assert response.json()["extra"][0]["key"] == key, response.text
    assert response.json()["extra"][0]["message"] in (INVALID_CURSOR, "must not contain the NUL character (\\u0000)")


@pytest.mark.parametrize("value", CONVERSATION_CURSORS, ids=repr)
async def test_conversation_cursors_not_issued_by_us_are_refused(client: Client, world: World, value: object) -> None:
    await _assert_refused(client, world, f"{_point(world.point_a)}/conversations?cursor={_cursor(value)}", "cursor")


async def test_message_and_shipment_cursors_not_issued_by_us_are_refused(
    client: Client, world: World, session: AsyncSession
) -> None:
    conversation = await add_conversation(session, world.point_a)
    messages = f"{_point(world.point_a)}/conversations/{conversation}/messages"
    for value in MESSAGE_CURSORS:
        await _assert_refused(client, world, f"{messages}?before={_cursor(value)}", "before")
    for value in SHIPMENT_CURSORS:
        await _assert_refused(client, world, f"{_point(world.point_a)}/shipments?cursor={_cursor(value)}", "cursor")
    for garbage in ("%00", "%F0%9F%98%80", "a" * 199, "===="):
        await _assert_refused(client, world, f"{messages}?before={garbage}", "before")


async def test_times_are_positions_while_they_stay_in_the_calendar(client: Client, world: World) -> None:
    """Any offset and far times are positions like any other (an empty page), unless in UTC they leave the years
    1 to 9999."""
    base = f"{_point(world.point_a)}/conversations"
    for at in ("0001-01-01T00:00:00-01:00", "9999-12-31T23:59:59+05:00", "2026-11-28T10:00:00.123456+05:45"):
        cursor = _cursor({"as_of": at, "key": at, "id": ID})
        response = await client.get(f"{base}?cursor={cursor}", headers=world.agent_a.headers)
        assert response.status_code == 200, (at, response.text)
        assert response.json() == {"items": [], "nextCursor": None}
    for at in ("0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-23:59"):
        await _assert_refused(client, world, f"{base}?cursor={_cursor({'as_of': at, 'key': at, 'id': ID})}", "cursor")


async def test_every_cursor_is_held_to_the_same_rules(client: Client, world: World) -> None:
    """The bot's audit log declares plain datetimes in its cursor; naive or out-of-calendar times are still refused."""
    for at in ("2026-11-28T10:00:00", "0001-01-01T00:00:00+14:00"):
        cursor = _cursor({"created_at": at, "id": ID})
        response = await client.get(f"/api/tool-calls?cursor={cursor}", headers=world.admin.headers)
        assert response.status_code == 400, response.text
        assert response.json()["extra"][0] == {"key": "cursor", "message": INVALID_CURSOR, "source": "query"}
    valid = _cursor({"created_at": NOW, "id": ID})
    assert (await client.get(f"/api/tool-calls?cursor={valid}", headers=world.admin.headers)).status_code == 200

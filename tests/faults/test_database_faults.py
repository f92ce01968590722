"""The database going away under traffic, for real: connections killed, connections refused for 20 s.

Messages arrive the way the network hands them over (the simulator's sockets over HTTP, which need no database,
since WhatsApp's network does not wait for ours). Each test checks nothing lost, nothing answered or sent twice.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tests.conftest import World
from tests.flow import received
from tests.ledger import assert_exactly_once, settled
from tests.outage import Outage
from tests.whatsapp.conftest import eventually
from ventanilla.config import Settings
from ventanilla.db.models import Message

Client = AsyncTestClient[Litestar]


def _plan(points: tuple[str, ...], batches: int, size: int, tag: str) -> list[tuple[str, list[dict]]]:
    return [
        (
            points[number % len(points)],
            [
                {
                    "from": f"+59398{number:03d}{customer:04d}",
                    "text": "¿dónde está ABC123456?",
                    "messageId": f"{tag}{number}-{customer}",
                }
                for customer in range(size)
            ],
        )
        for number in range(batches)
    ]


async def _deliver(client: Client, world: World, point: str, batch: list[dict]) -> None:
    """Until the socket takes it (202): what the network does with a message it could not hand over."""
    for _ in range(200):
        response = await client.post(
            f"/api/service-points/{point}/simulator/inbound/batch", json=batch, headers=world.admin.headers
        )
        if response.status_code == 202:
            return
        assert response.status_code in (500, 503), response.text
        await asyncio.sleep(0.05)
    raise AssertionError("the batch was never taken")


async def _phones(client: Client, world: World) -> dict:
    points = (world.point_a, world.point_b)

    async def sent() -> dict:
        return {point: await received(client, world, point) for point in points}

    for _ in range(50):  # reading the record needs the database for the token: tolerate a last hiccup
        try:
            return await sent()
        except Exception:
            await asyncio.sleep(0.1)
    return await sent()


async def test_connections_killed_during_traffic_lose_nothing(
    client: Client, linked: World, outage: Outage, database_url: str
) -> None:
    plan = _plan((str(linked.point_a), str(linked.point_b)), batches=12, size=25, tag="K")
    stop = asyncio.Event()

    async def kill_connections() -> int:
        kills = 0
        while not stop.is_set():
            await outage.terminate()
            kills += 1
            await asyncio.sleep(0.1)
        return kills

    killer = asyncio.create_task(kill_connections())
    for point, batch in plan:
        await _deliver(client, linked, point, batch)
    delivered = {m["messageId"] for _, batch in plan for m in batch}
    await eventually(lambda: settled(database_url, len(delivered)), timeout=60, what="every message answered, sent")
    stop.set()
    assert await killer > 5
    await assert_exactly_once(database_url, delivered, await _phones(client, linked))


@pytest.mark.slow
async def test_twenty_seconds_without_the_database_lose_nothing(
    client: Client, linked: World, outage: Outage, database_url: str, settings: Settings
) -> None:
    """Messages keep arriving while PostgreSQL refuses every connection for 20 s: each is acknowledged within the
    retry window (it is on disk), and all are stored, answered and sent once when the database is back."""
    before = _plan((str(linked.point_a), str(linked.point_b)), batches=2, size=10, tag="B")
    during = _plan((str(linked.point_a), str(linked.point_b)), batches=20, size=10, tag="D")
    for point, batch in before:
        await _deliver(client, linked, point, batch)
    journal = Path(settings.data_dir) / "journal"
    loop = asyncio.get_running_loop()
    async with outage.refusing():
        started = loop.time()
        for point, batch in during:
            taken = loop.time()
            response = await client.post(
                f"/api/service-points/{point}/simulator/inbound/batch", json=batch, headers=linked.admin.headers
            )
            assert response.status_code == 202, response.text  # the socket took it: it is somewhere safe
            assert loop.time() - taken < 5
            await asyncio.sleep(0.5)
        assert sum(1 for _ in journal.glob("*.jsonl")) >= 1
        assert (await client.get("/health")).status_code == 200
        assert (await client.get("/ready")).status_code == 503
        await asyncio.sleep(max(0.0, 20 - (loop.time() - started)))
    delivered = {m["messageId"] for _, batch in before + during for m in batch}
    await eventually(lambda: settled(database_url, len(delivered)), timeout=60, what="the journal replayed, answered")
    assert not list(journal.glob("*.jsonl"))
    metrics = (await client.get("/metrics", headers=linked.admin.headers)).text
    assert "ventanilla_inbound_journaled_total" in metrics and "ventanilla_journal_messages 0.0" in metrics
    await assert_exactly_once(database_url, delivered, await _phones(client, linked))


async def test_while_the_database_is_away_the_api_says_503_and_the_phone_side_keeps_working(
    client: Client, linked: World, outage: Outage, database_url: str
) -> None:
    async with outage.refusing():
        for path in ("/api/service-points", f"/api/service-points/{linked.point_a}/conversations", "/api/me"):
            response = await client.get(path, headers=linked.agent_a.headers)
            assert response.status_code == 503, (path, response.text)
            assert response.headers["retry-after"] == "5"
        login = await client.post("/api/auth/login", json={"email": linked.agent_a.email, "password": "x" * 12})
        assert login.status_code == 503
        assert (await client.get("/health")).status_code == 200
        batch = [{"from": "+593980000001", "text": "hola", "messageId": "AWAY1"}]
        response = await client.post(
            f"/api/service-points/{linked.point_a}/simulator/inbound/batch", json=batch, headers=linked.admin.headers
        )
        assert response.status_code == 202  # the network's side needs no database: the message is on disk
    await eventually(lambda: settled(database_url, stored=1), timeout=20, what="the journaled message answered")
    await assert_exactly_once(database_url, {"AWAY1"}, await _phones(client, linked))


async def test_a_poison_row_in_a_batch_sinks_nothing(
    client: Client, linked: World, database_url: str, session: AsyncSession
) -> None:
    """The review's batch: a NUL and a phone with a newline between good messages, plus a sender that is no
    number. All are acknowledged; the good and the fixable ones are stored and answered, the other is set aside."""
    batch = [
        {"from": "+593990000001", "text": "hola", "messageId": "P1"},
        {"from": "+593990000002", "text": "a\u0000b", "messageId": "P2"},
        {"from": "+593423456780\n", "text": "ABC123456", "messageId": "P3"},
        {"from": "no-es-un-número", "text": "hola", "messageId": "P4"},
        {"from": "+593990000005", "text": "gracias", "messageId": "P5"},
    ]
    response = await client.post(
        f"/api/service-points/{linked.point_a}/simulator/inbound/batch", json=batch, headers=linked.admin.headers
    )
    assert response.status_code == 202
    await eventually(lambda: settled(database_url, stored=4), timeout=20, what="the batch answered")
    await assert_exactly_once(
        database_url, {"P1", "P2", "P3", "P5"}, {linked.point_a: await received(client, linked, linked.point_a)}
    )
    texts = dict((await session.execute(select(Message.provider_message_id, Message.content))).all())
    assert texts["P2"] == "ab"
    quarantine = (await client.get("/api/quarantine", headers=linked.admin.headers)).json()["items"]
    assert [item["providerMessageId"] for item in quarantine] == ["P4"]
    assert (await client.get("/api/quarantine", headers=linked.agent_a.headers)).status_code == 403
    metrics = (await client.get("/metrics", headers=linked.admin.headers)).text
    assert f'ventanilla_inbound_quarantined_total{{service_point="{linked.point_a}"}} 1.0' in metrics

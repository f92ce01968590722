"""Nothing lost, nothing sent twice: kill -9 amid traffic, a redelivery storm, replies held while unlinked."""

from __future__ import annotations

import asyncio
from pathlib import Path
from uuid import UUID

import httpx
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from tests.conftest import World
from tests.flow import link, phone, say
from tests.helpers import Server, link_over_http, login_headers
from tests.ledger import assert_exactly_once, settled
from tests.whatsapp.conftest import eventually
from ventanilla.db.models import (
    Conversation,
    DeliveryStatus,
    Direction,
    Message,
    SenderType,
    ServicePoint,
    Shipment,
    ShipmentStatus,
)

Client = AsyncTestClient[Litestar]


@pytest.fixture
def server(tmp_path: Path, database_url: str):
    server = Server(tmp_path, database_url)
    yield server
    server.stop()


async def _send_batches(
    http: httpx.AsyncClient, headers: dict[str, str], plan: list[tuple[str, list[dict]]]
) -> list[tuple[str, list[dict]]]:
    """Send every batch; return those the server never acknowledged (to be redelivered, as WhatsApp does)."""
    unacknowledged = []
    for point, batch in plan:
        try:
            response = await http.post(
                f"/api/service-points/{point}/simulator/inbound/batch", json=batch, headers=headers
            )
            if response.status_code != 202:
                unacknowledged.append((point, batch))
        except httpx.TransportError:
            unacknowledged.append((point, batch))
    return unacknowledged


async def _in_full_swing(session: AsyncSession) -> bool:
    """Some messages stored, some replies sent, and more on their way."""
    session.expire_all()
    stored = await session.scalar(select(func.count()).select_from(Message).where(Message.direction == Direction.IN))
    sent = await session.scalar(
        select(func.count()).select_from(Message).where(Message.delivery_status == DeliveryStatus.SENT)
    )
    return stored >= 300 and sent >= 50


async def test_kill_9_in_the_middle_of_traffic_loses_nothing_and_sends_nothing_twice(
    server: Server, session: AsyncSession, database_url: str
) -> None:
    north = ServicePoint(name="Norte", phone_number="+593200000011")
    south = ServicePoint(name="Sur", phone_number="+593200000012")
    session.add_all([north, south])
    await session.flush()
    session.add(Shipment(service_point_id=north.id, tracking_number="ABC123456", status=ShipmentStatus.IN_TRANSIT))
    await session.commit()
    points = [str(north.id), str(south.id)]
    # 1,200 messages from 600 customers, 2 each, in batches of 50, alternating points
    plan: list[tuple[str, list[dict]]] = []
    for batch_number in range(24):
        point = points[batch_number % 2]
        batch = [
            {
                "from": f"+5939{batch_number:03d}{customer:05d}",
                "text": "¿dónde está ABC123456?",
                "messageId": f"M{batch_number:03d}-{customer:02d}-{repeat}",
            }
            for customer in range(25)
            for repeat in range(2)
        ]
        plan.append((point, batch))

    server.start()
    async with httpx.AsyncClient(base_url=server.base, timeout=30) as http:
        headers = await login_headers(http)
        for point in points:
            await link_over_http(http, headers, point)
        traffic = [asyncio.create_task(_send_batches(http, headers, plan[i::3])) for i in range(3)]
        await eventually(lambda: _in_full_swing(session), timeout=30, what="traffic in full swing")
        server.kill()  # no goodbye: whatever was in flight is cut
        unacknowledged = [item for task in traffic for item in await task]
        assert 0 < len(unacknowledged) < len(plan)  # the kill really cut the traffic in the middle

    server.start()  # linked points resume by themselves; unanswered messages are picked up again
    async with httpx.AsyncClient(base_url=server.base, timeout=30) as http:
        headers = await login_headers(http)
        for point in points:
            for _ in range(200):
                if (await http.get(f"/api/service-points/{point}/whatsapp", headers=headers)).json()[
                    "status"
                ] == "CONNECTED":
                    break
                await asyncio.sleep(0.05)
        assert await _send_batches(http, headers, unacknowledged) == []  # WhatsApp redelivers what was not acked

        delivered = {m["messageId"] for _, batch in plan for m in batch}  # every id the network delivered
        await eventually(lambda: settled(database_url, len(delivered)), timeout=60, what="every message answered")
        record = {
            point: (await http.get(f"/api/service-points/{point}/simulator/sent", headers=headers)).json()
            for point in points
        }

    await assert_exactly_once(database_url, delivered, {UUID(point): record[point] for point in points})
    output = server.stop()
    assert "Traceback" not in output, output[-3000:]


async def test_redelivery_storm_of_one_id_from_20_clients(
    live_server: str, world: World, session: AsyncSession
) -> None:
    async with httpx.AsyncClient(base_url=live_server, timeout=30) as http:
        await link_over_http(http, world.admin.headers, str(world.point_a))
        body = {"from": "+593991112233", "text": "hola", "messageId": "STORM-1"}
        url = f"/api/service-points/{world.point_a}/simulator/inbound"

        async def deliver() -> int:
            async with httpx.AsyncClient(base_url=live_server, timeout=30) as own:  # 20 separate connections
                return (await own.post(url, json=body, headers=world.admin.headers)).status_code

        assert await asyncio.gather(*(deliver() for _ in range(20))) == [202] * 20

        async def answered() -> bool:
            return (
                len(
                    (
                        await http.get(
                            f"/api/service-points/{world.point_a}/simulator/sent", headers=world.admin.headers
                        )
                    ).json()
                )
                == 1
            )

        await eventually(answered, what="the one answer")
        await asyncio.sleep(0.5)
        sent = (
            await http.get(f"/api/service-points/{world.point_a}/simulator/sent", headers=world.admin.headers)
        ).json()
    assert len(sent) == 1
    counts = dict((await session.execute(select(Message.direction, func.count()).group_by(Message.direction))).all())
    assert counts == {Direction.IN: 1, Direction.OUT: 1}


async def test_replies_queued_while_unlinked_leave_in_order_after_relinking(
    client: Client, world: World, session: AsyncSession
) -> None:
    await link(client, world, world.point_a)
    await say(client, world, world.point_a, "quiero hablar con una persona")
    await eventually(lambda: _count(session, Direction.OUT, 1), what="the handoff reply")
    conversation_id = await session.scalar(select(Conversation.id))
    await client.post(f"/api/service-points/{world.point_a}/whatsapp/logout", headers=world.admin.headers)
    path = f"/api/service-points/{world.point_a}/conversations/{conversation_id}/messages"
    for text in ("uno", "dos", "tres"):
        assert (await client.post(path, json={"content": text}, headers=world.agent_a.headers)).status_code == 201
    await asyncio.sleep(0.4)
    waiting = (
        await session.execute(
            select(Message.delivery_status, Message.attempts).where(Message.sender_type == SenderType.AGENT)
        )
    ).all()
    assert waiting == [(DeliveryStatus.PENDING, 0)] * 3  # held, not attempted, not dropped
    await link(client, world, world.point_a)

    async def all_out() -> bool:
        return len(await phone(client, world, world.point_a)) == 4

    await eventually(all_out, what="the three replies")
    assert (await phone(client, world, world.point_a))[1:] == ["uno", "dos", "tres"]


async def _count(session: AsyncSession, direction: Direction, expected: int) -> bool:
    session.expire_all()
    statement = select(func.count()).select_from(Message).where(Message.direction == direction)
    return await session.scalar(statement) == expected

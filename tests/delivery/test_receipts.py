"""Receipts from the customer's phone, end to end through the simulator: SENT -> DELIVERED -> READ, never back,
only for the point's own messages, and counted."""

from __future__ import annotations

import asyncio

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from tests.conftest import World
from tests.flow import fast_app, received, say, wait_phone
from tests.outage import Outage
from tests.rows import add_conversation
from tests.whatsapp.conftest import eventually
from ventanilla.config import Settings
from ventanilla.db.models import DeliveryStatus, Direction, Message, SenderType
from ventanilla.delivery.feedback import Feedback
from ventanilla.metrics import Metrics
from ventanilla.whatsapp.transport import Receipt

Client = AsyncTestClient[Litestar]


@pytest.fixture
def app(settings: Settings) -> Litestar:
    return fast_app(settings)


async def _reply(client: Client, world: World, session: AsyncSession) -> tuple[str, Message]:
    """The bot's reply to a customer of point A, once SENT: its provider id (as the phone lists it) and its row."""
    await say(client, world, world.point_a, "hola")
    await wait_phone(client, world, world.point_a, 1)
    [sent] = await received(client, world, world.point_a)

    async def recorded() -> bool:
        session.expire_all()
        row = await session.scalar(select(Message).where(Message.provider_message_id == sent["messageId"]))
        return row is not None and row.delivery_status is DeliveryStatus.SENT

    await eventually(recorded, what="the reply recorded as SENT")
    row = await session.scalar(select(Message).where(Message.provider_message_id == sent["messageId"]))
    assert row is not None
    return sent["messageId"], row


async def _ack(client: Client, world: World, point: object, message_id: str, status: str) -> int:
    response = await client.post(
        f"/api/service-points/{point}/simulator/receipt",
        json={"messageId": message_id, "status": status},
        headers=world.admin.headers,
    )
    return response.status_code


async def _status(client: Client, world: World, row: Message) -> str:
    url = f"/api/service-points/{world.point_a}/conversations/{row.conversation_id}/messages"
    items = (await client.get(url, headers=world.agent_a.headers)).json()["items"]
    return next(item["deliveryStatus"] for item in items if item["id"] == str(row.id))


async def test_receipts_move_a_reply_forward_and_never_back(
    client: Client, linked: World, session: AsyncSession
) -> None:
    provider_id, row = await _reply(client, linked, session)
    assert await _status(client, linked, row) == "SENT"

    assert await _ack(client, linked, linked.point_a, provider_id, "DELIVERED") == 202
    assert await _status(client, linked, row) == "DELIVERED"
    assert await _ack(client, linked, linked.point_a, provider_id, "READ") == 202
    assert await _status(client, linked, row) == "READ"
    assert await _ack(client, linked, linked.point_a, provider_id, "DELIVERED") == 202  # late: changes nothing
    assert await _status(client, linked, row) == "READ"

    metrics = (await client.get("/metrics")).text
    assert f'ventanilla_receipts_total{{service_point="{linked.point_a}",status="READ"}} 1.0' in metrics


async def test_a_point_can_only_acknowledge_its_own_messages(
    client: Client, linked: World, session: AsyncSession
) -> None:
    provider_id, row = await _reply(client, linked, session)
    assert await _ack(client, linked, linked.point_b, provider_id, "READ") == 404  # B's phone never got it
    assert await _ack(client, linked, linked.point_a, "3EB0NOTOURS", "READ") == 404
    assert await _status(client, linked, row) == "SENT"
    for body in ({"messageId": provider_id, "status": "SEEN"}, {"messageId": provider_id}, {"status": "READ"}):
        response = await client.post(
            f"/api/service-points/{linked.point_a}/simulator/receipt", json=body, headers=linked.admin.headers
        )
        assert response.status_code == 400, body
    response = await client.post(
        f"/api/service-points/{linked.point_a}/simulator/receipt",
        json={"messageId": provider_id, "status": "READ"},
        headers=linked.agent_b.headers,
    )
    assert response.status_code == 404  # another branch's agent does not even see the point


async def test_a_receipt_during_an_outage_is_recorded_once_the_database_is_back(
    client: Client, linked: World, session: AsyncSession, outage: Outage
) -> None:
    provider_id, row = await _reply(client, linked, session)
    await session.invalidate()  # its connection dies in the outage
    async with outage.refusing():
        assert await _ack(client, linked, linked.point_a, provider_id, "READ") == 202  # the phone needs no database

    async def read() -> bool:
        return await _status(client, linked, row) == "READ"

    await eventually(read, timeout=10, what="the receipt recorded after the outage")


async def test_a_receipt_the_database_refuses_fails_alone(engine: AsyncEngine, world: World) -> None:
    """Written together, a receipt whose id the database cannot even read (a NUL from a broken peer) takes no other
    receipt of the batch with it."""
    maker = async_sessionmaker(engine, expire_on_commit=False)
    async with maker() as session:
        conversation_id = await add_conversation(session, world.point_a)
        session.add(
            Message(
                conversation_id=conversation_id,
                service_point_id=world.point_a,
                direction=Direction.OUT,
                sender_type=SenderType.BOT,
                content="hola",
                provider_message_id="3EB0GOOD",
                delivery_status=DeliveryStatus.SENT,
            )
        )
        await session.commit()
    receipts = Feedback(maker, Metrics())
    results = await asyncio.gather(
        receipts.apply(world.point_a, Receipt(("3EB0GOOD",), read=True)),
        receipts.apply(world.point_a, Receipt(("3EB0\x00BAD",), read=True)),
        return_exceptions=True,
    )
    assert results[0] is None and isinstance(results[1], Exception)
    async with maker() as session:
        status = await session.scalar(select(Message.delivery_status).where(Message.provider_message_id == "3EB0GOOD"))
    assert status is DeliveryStatus.READ

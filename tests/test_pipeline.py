"""End to end through the simulator with the offline bot: customer -> socket -> pipeline -> bot -> outbox -> phone."""

from __future__ import annotations

import asyncio

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from tests.conftest import World
from tests.flow import CUSTOMER, fast_app, link, received, say, wait_phone
from tests.whatsapp.conftest import eventually
from ventanilla.config import Settings
from ventanilla.db.models import (
    Conversation,
    ConversationEvent,
    Direction,
    Message,
    Shipment,
    ShipmentStatus,
    ToolCall,
)

Client = AsyncTestClient[Litestar]


@pytest.fixture
def app(settings: Settings) -> Litestar:
    return fast_app(settings)


async def test_tracking_question_gets_the_right_label_and_no_other(client: Client, linked: World) -> None:
    await say(client, linked, linked.point_a, "hola, ¿dónde está mi paquete #abc-123 456?")
    [reply] = await wait_phone(client, linked, linked.point_a, 1)
    assert "En tránsito" in reply and "ABC123456" in reply
    for other in ("Registrado", "Disponible para retiro", "En reparto", "Entregado", "Devuelto", "Con novedad"):
        assert other not in reply
    assert "Secreta" not in reply  # recipients' names never leave the database
    phone = await received(client, linked, linked.point_a)
    assert phone[0]["to"] == CUSTOMER
    assert await received(client, linked, linked.point_b) == []  # answered through A's socket only


async def test_missing_and_unknown_numbers(client: Client, linked: World) -> None:
    await say(client, linked, linked.point_a, "quiero saber dónde está mi paquete")
    [ask] = await wait_phone(client, linked, linked.point_a, 1)
    assert "ABC123456" in ask  # asks for the number with the example
    await say(client, linked, linked.point_a, "es XYZ999999")
    _, unknown = await wait_phone(client, linked, linked.point_a, 2)
    assert "XYZ999999" in unknown and "En tránsito" not in unknown


async def test_faqs_come_from_the_right_branch(client: Client, linked: World) -> None:
    await say(client, linked, linked.point_a, "¿a qué hora abren?")
    await say(client, linked, linked.point_b, "¿a qué hora abren?")
    [a] = await wait_phone(client, linked, linked.point_a, 1)
    [b] = await wait_phone(client, linked, linked.point_b, 1)
    assert "Punto A atiende" in a and "Punto B" not in a
    assert "Punto B atiende" in b and "Punto A" not in b


async def test_handoff_turns_human_and_the_bot_stays_silent(
    client: Client, linked: World, session: AsyncSession
) -> None:
    await say(client, linked, linked.point_a, "quiero hablar con un asesor por favor")
    [handoff] = await wait_phone(client, linked, linked.point_a, 1)
    assert "asesor" in handoff.lower() or "agente" in handoff.lower()
    conversation = await session.scalar(select(Conversation).where(Conversation.service_point_id == linked.point_a))
    assert conversation is not None and conversation.status == "HUMAN"
    assert conversation.handoff_reason and conversation.waiting_since is not None
    events = (
        await session.scalars(select(ConversationEvent).where(ConversationEvent.conversation_id == conversation.id))
    ).all()
    assert [e.kind for e in events] == ["HANDOFF_REQUESTED"]
    await say(client, linked, linked.point_a, "¿hola? ¿ABC123456?")
    await asyncio.sleep(0.5)
    assert len(await received(client, linked, linked.point_a)) == 1  # no bot reply any more
    stored = await session.scalar(
        select(func.count())
        .select_from(Message)
        .where(Message.conversation_id == conversation.id, Message.direction == Direction.IN)
    )
    assert stored == 2  # but the message is stored


async def test_redelivered_message_is_answered_once(client: Client, linked: World, session: AsyncSession) -> None:
    first = await say(client, linked, linked.point_a, "ABC123456", message_id="WAMID-1")
    await asyncio.gather(*(say(client, linked, linked.point_a, "ABC123456", message_id="WAMID-1") for _ in range(5)))
    assert first == "WAMID-1"
    await wait_phone(client, linked, linked.point_a, 1)
    await asyncio.sleep(0.5)
    assert len(await received(client, linked, linked.point_a)) == 1
    audits = await session.scalar(select(func.count()).select_from(ToolCall))
    assert audits >= 1


async def test_messages_of_one_conversation_are_answered_in_order(client: Client, linked: World) -> None:
    for count, text in enumerate(["hola", "ABC123456", "XYZ999999", "gracias"], start=1):
        await say(client, linked, linked.point_a, text)
        replies = await wait_phone(client, linked, linked.point_a, count)
    assert "ABC123456" in replies[1] and "XYZ999999" in replies[2]


async def test_unanswered_messages_are_resumed_after_a_restart(
    world: World, settings: Settings, session: AsyncSession
) -> None:
    """A message stored but never handled (the process died before the bot answered) is answered at next start.

    No server runs while the message is left behind: one starts afterwards, as after a crash.
    """
    conversation = Conversation(service_point_id=world.point_a, customer_phone=CUSTOMER)
    session.add_all(
        [
            conversation,
            Shipment(service_point_id=world.point_a, tracking_number="ABC123456", status=ShipmentStatus.IN_TRANSIT),
        ]
    )
    await session.flush()
    session.add(
        Message(
            conversation_id=conversation.id,
            service_point_id=world.point_a,
            direction=Direction.IN,
            sender_type="CUSTOMER",
            content="ABC123456",
            provider_message_id="LEFT-BEHIND",
        )
    )
    await session.commit()
    async with AsyncTestClient(fast_app(settings)) as restarted:
        await link(restarted, world, world.point_a)  # the reply waited in the outbox for the point to connect
        [reply] = await wait_phone(restarted, world, world.point_a, 1)
    assert "En tránsito" in reply


async def test_tool_calls_are_audited_and_visible_to_admins(client: Client, linked: World) -> None:
    await say(client, linked, linked.point_a, "¿dónde está ABC123456?")
    await wait_phone(client, linked, linked.point_a, 1)
    response = await client.get(f"/api/tool-calls?servicePointId={linked.point_a}", headers=linked.admin.headers)
    assert response.status_code == 200
    [call] = [c for c in response.json()["items"] if c["tool"] == "consultar_guia"]
    assert call["engine"] == "offline" and call["outcome"] == "ok"
    assert call["arguments"] == {"trackingNumber": "ABC123456"}
    assert "Secreta" not in str(call["result"]) and call["latencyMs"] >= 0
    other = await client.get(f"/api/tool-calls?servicePointId={linked.point_b}", headers=linked.admin.headers)
    assert other.json()["items"] == []
    for actor in (linked.supervisor_a, linked.agent_a):
        assert (await client.get("/api/tool-calls", headers=actor.headers)).status_code == 403


async def test_metrics_count_the_flow(client: Client, linked: World) -> None:
    await say(client, linked, linked.point_a, "ABC123456")
    await say(client, linked, linked.point_a, "quiero hablar con una persona")
    await wait_phone(client, linked, linked.point_a, 2)
    text = (await client.get("/metrics")).text
    point = str(linked.point_a)
    assert f'ventanilla_inbound_messages_total{{service_point="{point}"}} 2.0' in text
    assert f'ventanilla_bot_answers_total{{engine="offline",service_point="{point}"}} 2.0' in text
    assert f'ventanilla_handoffs_total{{service_point="{point}"}} 1.0' in text
    assert 'ventanilla_tool_calls_total{outcome="ok",tool="consultar_guia"}' in text
    assert f'ventanilla_whatsapp_session_status{{service_point="{point}",status="CONNECTED"}} 1.0' in text
    assert "ventanilla_bot_decision_seconds_bucket" in text

    async def sent_counted() -> bool:
        metrics = (await client.get("/metrics")).text
        return f'ventanilla_outbound_messages_total{{outcome="sent",service_point="{point}"}} 2.0' in metrics

    await eventually(sent_counted, what="sent counted")

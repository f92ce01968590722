"""End to end through the simulator with the GPT path: the real openai SDK against the scripted local model."""

from __future__ import annotations

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tests.conftest import World
from tests.fakes.openai_server import FakeOpenAI, completion, error, tool_call
from tests.flow import CUSTOMER, fast_app, received, say, wait_phone, with_model
from ventanilla.config import Settings
from ventanilla.db.models import Conversation, ToolCall

Client = AsyncTestClient[Litestar]


@pytest.fixture
def app(settings: Settings, model: FakeOpenAI) -> Litestar:
    return fast_app(with_model(settings, model))


async def test_tracking_through_the_model_carries_the_label_from_the_tool(
    client: Client, linked: World, model: FakeOpenAI, session: AsyncSession
) -> None:
    model.script(
        completion(tool_calls=[tool_call("consultar_guia", {"trackingNumber": "#abc-123 456"})]),
        completion("Tu envío ABC123456 está En tránsito hacia Quito."),
    )
    await say(client, linked, linked.point_a, "¿Dónde está mi paquete #abc-123 456?")
    [reply] = await wait_phone(client, linked, linked.point_a, 1)
    assert reply == "Tu envío ABC123456 está En tránsito hacia Quito."
    second_request = model.requests[1]
    [tool_message] = second_request.messages("tool")
    assert "En tránsito" in tool_message["content"] and "Secreta" not in tool_message["content"]
    [audit] = (await session.scalars(select(ToolCall))).all()
    assert (audit.engine, audit.tool, audit.outcome) == ("openai", "consultar_guia", "ok")


async def test_an_invented_status_is_never_sent(client: Client, linked: World, model: FakeOpenAI) -> None:
    model.script(
        completion(tool_calls=[tool_call("consultar_guia", {"trackingNumber": "ABC123456"})]),
        completion("¡Buenas noticias! Tu envío ABC123456 ya fue Entregado."),  # the tool said En tránsito
    )
    await say(client, linked, linked.point_a, "ABC123456")
    [reply] = await wait_phone(client, linked, linked.point_a, 1)
    assert "Entregado" not in reply and "En tránsito" in reply


async def test_a_request_for_a_person_hands_over_and_the_bot_stays_silent(
    client: Client, linked: World, model: FakeOpenAI, session: AsyncSession
) -> None:
    model.script(completion(tool_calls=[tool_call("transferir_a_humano", {"reason": "El cliente pidió un asesor"})]))
    await say(client, linked, linked.point_a, "quiero hablar con alguien")
    [reply] = await wait_phone(client, linked, linked.point_a, 1)
    conversation = await session.scalar(select(Conversation))
    assert conversation is not None and conversation.status == "HUMAN"
    assert conversation.handoff_reason == "El cliente pidió un asesor"
    await say(client, linked, linked.point_a, "¿hola?")
    await wait_phone(client, linked, linked.point_a, 1)
    assert len(model.requests) == 1  # nobody asked the model about the second message
    assert reply


async def test_a_model_that_keeps_failing_falls_back_to_the_offline_engine(
    client: Client, linked: World, model: FakeOpenAI, session: AsyncSession
) -> None:
    model.repeat(error(500), 10)
    await say(client, linked, linked.point_a, "¿dónde está ABC123456?")
    [reply] = await wait_phone(client, linked, linked.point_a, 1)
    assert "En tránsito" in reply  # answered anyway, from the database
    [audit] = (await session.scalars(select(ToolCall))).all()
    assert audit.engine == "offline"
    metrics = (await client.get("/metrics")).text
    assert 'ventanilla_bot_fallbacks_total{reason="api_status_500"}' in metrics
    assert (await received(client, linked, linked.point_a))[0]["to"] == CUSTOMER

"""The OpenAI engine with the real SDK against a scripted local server: every script ends in an answer or a
handoff, never silence or an exception, and what the server received is checked too."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from dataclasses import replace

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from tests.bot.conftest import A_HOURS, EXCEPTION_MEANING, INTERNATIONAL, RECIPIENT, SENDER, BotWorld, bot_request
from tests.fakes.openai_server import FakeOpenAI, completion, error, tool_call
from ventanilla.bot import Bot, BotDecision, Turn
from ventanilla.bot.orchestrator import MAX_TOOL_ROUNDS, REASON_NO_ANSWER, REASON_TOO_MANY_ROUNDS
from ventanilla.bot.replies import ASK_TRACKING_NUMBER, HANDOFF, MAX_REPLY_CHARS
from ventanilla.config import Settings
from ventanilla.db.models import SenderType

TIMEOUT = 1.0


@pytest.fixture
async def bot(openai_settings: Settings, bot_engine: AsyncEngine) -> AsyncIterator[Bot]:
    bot = Bot(openai_settings, async_sessionmaker(bot_engine), timeout=TIMEOUT, max_retries=1)
    yield bot
    await bot.close()


def outcomes(decision: BotDecision) -> list[tuple[str, str]]:
    return [(call.tool, call.outcome) for call in decision.tool_calls]


def tool_messages(fake: FakeOpenAI, index: int) -> dict[str, dict]:
    """The tool results the bot sent back in request `index`, by tool_call_id, decoded."""
    return {m["tool_call_id"]: json.loads(m["content"]) for m in fake.requests[index].messages("tool")}


def assert_no_personal_data(fake: FakeOpenAI, decision: BotDecision) -> None:
    for text in [*(json.dumps(r.body, ensure_ascii=False) for r in fake.requests), decision.reply]:
        assert SENDER not in text and RECIPIENT not in text


async def test_tool_call_then_answer(bot: Bot, fake_openai: FakeOpenAI, bot_world: BotWorld) -> None:
    answer = "Tu envío ABC123456 está En tránsito hacia Guayaquil; llegaría el 01/12/2026."
    fake_openai.script(
        completion(tool_calls=[tool_call("consultar_guia", {"trackingNumber": "abc-123 456"}, "call_1")]),
        completion(answer),
    )
    history = [Turn(SenderType.CUSTOMER, "hola"), Turn(SenderType.BOT, "¡Hola! ¿En qué te ayudo?")]
    decision = await bot.decide(bot_request(bot_world.point_b, "¿dónde está mi paquete abc-123 456?", history))

    assert decision.reply == answer and decision.handoff_reason is None
    assert decision.engine == "openai" and decision.fallback_reason is None
    assert outcomes(decision) == [("consultar_guia", "ok")]
    first, second = fake_openai.requests
    assert first.headers["authorization"] == "Bearer sk-test-dummy"
    assert first.body["model"] == "fake-model"
    assert first.tool_names == ["consultar_guia", "consultar_faq", "transferir_a_humano"]
    for tool in first.body["tools"]:
        parameters = tool["function"]["parameters"]
        assert tool["function"]["strict"] is True and parameters["additionalProperties"] is False
        assert set(parameters["required"]) == set(parameters["properties"])
    assert [m["role"] for m in first.body["messages"]] == ["system", "user", "assistant", "user"]
    assert "ABC123456" in first.body["messages"][0]["content"]  # the example number in the system prompt
    assert second.messages("assistant")[-1]["tool_calls"][0]["id"] == "call_1"
    result = tool_messages(fake_openai, 1)["call_1"]
    assert result["found"] is True and result["shipment"]["status"] == "En tránsito"
    assert_no_personal_data(fake_openai, decision)


async def test_two_parallel_tool_calls(bot: Bot, fake_openai: FakeOpenAI, bot_world: BotWorld) -> None:
    fake_openai.script(
        completion(
            tool_calls=[
                tool_call("consultar_guia", {"trackingNumber": "ABC123456"}, "call_a"),
                tool_call("consultar_faq", {"query": "a qué hora abren"}, "call_b"),
            ]
        ),
        completion("Tu envío está En tránsito. Atendemos de lunes a viernes de 08:00 a 18:00."),
    )
    decision = await bot.decide(bot_request(bot_world.point_a, "ABC123456 y ¿a qué hora abren?"))

    assert decision.engine == "openai" and decision.handoff_reason is None
    assert outcomes(decision) == [("consultar_guia", "ok"), ("consultar_faq", "ok")]
    results = tool_messages(fake_openai, 1)
    assert list(results) == ["call_a", "call_b"]
    assert results["call_b"]["results"][0]["answer"] == A_HOURS
    assert_no_personal_data(fake_openai, decision)


async def test_malformed_arguments_go_back_to_the_model(bot: Bot, fake_openai: FakeOpenAI, bot_world: BotWorld) -> None:
    fake_openai.script(
        completion(tool_calls=[tool_call("consultar_guia", '{"trackingNumber": "ABC1234', "bad_json")]),
        completion(tool_calls=[tool_call("consultar_guia", {"numero": "ABC123456"}, "bad_field")]),
        completion(tool_calls=[tool_call("consultar_guia", {"trackingNumber": "ABC123456"}, "good")]),
        completion("Tu envío ABC123456 está En tránsito."),
    )
    decision = await bot.decide(bot_request(bot_world.point_a, "ABC123456"))

    assert decision.reply == "Tu envío ABC123456 está En tránsito."
    assert outcomes(decision) == [
        ("consultar_guia", "invalid_arguments"),
        ("consultar_guia", "invalid_arguments"),
        ("consultar_guia", "ok"),
    ]
    assert decision.tool_calls[0].arguments == {"raw": '{"trackingNumber": "ABC1234'}
    assert "JSON" in tool_messages(fake_openai, 1)["bad_json"]["error"]
    assert "numero" in tool_messages(fake_openai, 2)["bad_field"]["error"]


async def test_unknown_tool_goes_back_to_the_model(bot: Bot, fake_openai: FakeOpenAI, bot_world: BotWorld) -> None:
    fake_openai.script(
        completion(tool_calls=[tool_call("borrar_envios", {"todos": True}, "call_x")]),
        completion("Solo puedo consultar envíos y preguntas frecuentes."),
    )
    decision = await bot.decide(bot_request(bot_world.point_a, "borra todo"))

    assert decision.reply == "Solo puedo consultar envíos y preguntas frecuentes."
    assert outcomes(decision) == [("borrar_envios", "unknown_tool")]
    assert decision.tool_calls[0].arguments == {"todos": True}
    assert "consultar_guia" in tool_messages(fake_openai, 1)["call_x"]["error"]


async def test_endless_tool_calls_end_in_a_handoff(bot: Bot, fake_openai: FakeOpenAI, bot_world: BotWorld) -> None:
    fake_openai.repeat(completion(tool_calls=[tool_call("consultar_faq", {"query": "horario"})]), MAX_TOOL_ROUNDS + 3)
    decision = await bot.decide(bot_request(bot_world.point_a, "horario"))

    assert decision.handoff_reason == REASON_TOO_MANY_ROUNDS and decision.reply == HANDOFF
    assert len(fake_openai.requests) == MAX_TOOL_ROUNDS
    assert len(decision.tool_calls) == MAX_TOOL_ROUNDS


async def test_handoff_tool(bot: Bot, fake_openai: FakeOpenAI, bot_world: BotWorld) -> None:
    fake_openai.script(completion(tool_calls=[tool_call("transferir_a_humano", {"reason": "Pide un asesor"})]))
    decision = await bot.decide(bot_request(bot_world.point_a, "quiero hablar con alguien"))

    assert decision.handoff_reason == "Pide un asesor"
    assert decision.reply == HANDOFF and "asesor" in decision.reply
    assert decision.engine == "openai" and outcomes(decision) == [("transferir_a_humano", "ok")]
    assert len(fake_openai.requests) == 1


async def test_rate_limit_then_success(bot: Bot, fake_openai: FakeOpenAI, bot_world: BotWorld) -> None:
    fake_openai.script(error(429, "rate limited"), completion("¡Hola! ¿En qué te ayudo?"))
    decision = await bot.decide(bot_request(bot_world.point_a, "hola"))

    assert decision.engine == "openai" and decision.fallback_reason is None
    assert decision.reply == "¡Hola! ¿En qué te ayudo?"
    assert len(fake_openai.requests) == 2


async def test_server_errors_fall_back_to_offline(
    bot: Bot, fake_openai: FakeOpenAI, bot_world: BotWorld, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    fake_openai.repeat(error(500), 2)
    decision = await bot.decide(bot_request(bot_world.point_a, "mi guía es abc-123 456"))

    assert decision.engine == "offline" and decision.fallback_reason == "api_status_500"
    assert "*En tránsito*" in decision.reply and decision.handoff_reason is None
    assert outcomes(decision) == [("consultar_guia", "ok")]
    assert len(fake_openai.requests) == 2  # the first try and the SDK's one retry
    assert fake_openai.pending == 0
    assert "fallback" in caplog.text and "api_status_500" in caplog.text  # counted and explained, without
    assert "abc-123" not in caplog.text and "sk-test-dummy" not in caplog.text  # the message or the key


async def test_timeout_falls_back_to_offline(
    openai_settings: Settings, bot_engine: AsyncEngine, fake_openai: FakeOpenAI, bot_world: BotWorld
) -> None:
    bot = Bot(openai_settings, async_sessionmaker(bot_engine), timeout=0.3, max_retries=0)
    fake_openai.script(completion("demasiado tarde", delay=1.0))
    decision = await bot.decide(bot_request(bot_world.point_a, "¿Envían al exterior?"))
    await bot.close()

    assert decision.engine == "offline" and decision.fallback_reason == "timeout"
    assert decision.reply == INTERNATIONAL


async def test_slow_rounds_are_bounded_by_the_turn_budget(
    openai_settings: Settings, bot_engine: AsyncEngine, fake_openai: FakeOpenAI, bot_world: BotWorld
) -> None:
    """Each request answers within its timeout, but the turn as a whole must not drag on."""
    bot = Bot(openai_settings, async_sessionmaker(bot_engine), timeout=0.5, max_retries=0)
    fake_openai.repeat(completion(tool_calls=[tool_call("consultar_faq", {"query": "horario"})], delay=0.3), 4)
    decision = await bot.decide(bot_request(bot_world.point_a, "hola"))
    await bot.close()

    assert decision.engine == "offline" and decision.fallback_reason == "timeout"
    assert decision.tool_calls[0].tool == "consultar_faq"  # the model's lookups before the failure stay audited


async def test_invented_status_is_not_sent(bot: Bot, fake_openai: FakeOpenAI, bot_world: BotWorld) -> None:
    fake_openai.script(
        completion(tool_calls=[tool_call("consultar_guia", {"trackingNumber": "ABC123456"})]),
        completion("¡Buenas noticias! Tu envío ABC123456 ya fue Entregado."),
    )
    decision = await bot.decide(bot_request(bot_world.point_a, "ABC123456"))

    assert "Entregado" not in decision.reply
    assert "Tu envío ABC123456 está: *En tránsito*." in decision.reply
    assert decision.engine == "openai" and decision.handoff_reason is None


async def test_status_from_memory_is_replaced_by_a_fresh_lookup(
    bot: Bot, fake_openai: FakeOpenAI, bot_world: BotWorld
) -> None:
    fake_openai.script(completion("Como te dije, tu envío sigue Disponible para retiro."))
    history = [Turn(SenderType.CUSTOMER, "mi guía es abc-123 456"), Turn(SenderType.BOT, "Está En tránsito.")]
    decision = await bot.decide(bot_request(bot_world.point_a, "¿y ahora?", history))

    assert decision.reply.startswith("Tu envío ABC123456 está: *En tránsito*.")
    assert outcomes(decision) == [("consultar_guia", "ok")]  # the guardrail's own lookup, audited


async def test_status_without_any_lookup_is_not_sent(bot: Bot, fake_openai: FakeOpenAI, bot_world: BotWorld) -> None:
    fake_openai.script(completion("Tu paquete está en reparto y llega hoy."))
    decision = await bot.decide(bot_request(bot_world.point_a, "¿ya sale mi paquete?"))

    assert decision.reply == ASK_TRACKING_NUMBER


async def test_status_quoted_from_a_faq_is_allowed(bot: Bot, fake_openai: FakeOpenAI, bot_world: BotWorld) -> None:
    fake_openai.script(
        completion(tool_calls=[tool_call("consultar_faq", {"query": "qué significa novedad"})]),
        completion(EXCEPTION_MEANING),
    )
    decision = await bot.decide(bot_request(bot_world.point_a, "¿qué significa que mi envío tiene novedad?"))

    assert decision.reply == EXCEPTION_MEANING


async def test_not_found_is_reported_plainly(bot: Bot, fake_openai: FakeOpenAI, bot_world: BotWorld) -> None:
    fake_openai.script(
        completion(tool_calls=[tool_call("consultar_guia", {"trackingNumber": "ZZZ999999"}, "call_z")]),
        completion("Tu envío ZZZ999999 está Registrado."),  # contradicts the tool
    )
    decision = await bot.decide(bot_request(bot_world.point_a, "ZZZ999999"))

    assert tool_messages(fake_openai, 1)["call_z"]["found"] is False
    assert "No encontré ninguna guía con el número ZZZ999999" in decision.reply
    assert "Registrado" not in decision.reply


async def test_faq_scope_in_what_the_model_sees(bot: Bot, fake_openai: FakeOpenAI, bot_world: BotWorld) -> None:
    fake_openai.script(
        completion(tool_calls=[tool_call("consultar_faq", {"query": "¿tienen parqueadero?"}, "call_p")]),
        completion("No tengo esa información; ¿quieres que te comunique con un asesor?"),
    )
    decision = await bot.decide(bot_request(bot_world.point_b, "¿tienen parqueadero?"))

    assert tool_messages(fake_openai, 1)["call_p"]["results"] == []
    assert outcomes(decision) == [("consultar_faq", "not_found")]


async def test_empty_answer_is_a_handoff(bot: Bot, fake_openai: FakeOpenAI, bot_world: BotWorld) -> None:
    fake_openai.script(completion(None))
    decision = await bot.decide(bot_request(bot_world.point_a, "hola"))

    assert decision.handoff_reason == REASON_NO_ANSWER and decision.reply == HANDOFF


async def test_long_answer_is_capped(bot: Bot, fake_openai: FakeOpenAI, bot_world: BotWorld) -> None:
    fake_openai.script(completion("Respuesta muy larga. " * 100))
    decision = await bot.decide(bot_request(bot_world.point_a, "cuéntame todo"))

    assert len(decision.reply) <= MAX_REPLY_CHARS and decision.reply.endswith("…")


async def test_history_and_agent_turns_reach_the_model(bot: Bot, fake_openai: FakeOpenAI, bot_world: BotWorld) -> None:
    fake_openai.script(completion("De nada."))
    history = [
        Turn(SenderType.CUSTOMER, "hola"),
        Turn(SenderType.BOT, "¡Hola!"),
        Turn(SenderType.AGENT, "Soy Ana, ya revisé tu caso."),
    ]
    await bot.decide(bot_request(bot_world.point_a, "gracias", history))

    messages = fake_openai.requests[0].body["messages"][1:]
    assert [(m["role"], m["content"]) for m in messages] == [
        ("user", "hola"),
        ("assistant", "¡Hola!"),
        ("assistant", "[Asesor] Soy Ana, ya revisé tu caso."),
        ("user", "gracias"),
    ]


async def test_without_a_key_the_offline_engine_answers(
    bot_settings: Settings, bot_engine: AsyncEngine, fake_openai: FakeOpenAI, bot_world: BotWorld
) -> None:
    bot = Bot(replace(bot_settings, openai_base_url=fake_openai.url), async_sessionmaker(bot_engine))
    decision = await bot.decide(bot_request(bot_world.point_a, "a qué hora abren"))

    assert decision.engine == "offline" and decision.fallback_reason is None
    assert decision.reply == A_HOURS
    assert fake_openai.requests == []

"""The offline engine on real-sounding Spanish messages: tracking, FAQs, handoffs, small talk, branch scoping."""

from __future__ import annotations

import time
from dataclasses import dataclass

import pytest

from tests.bot.conftest import (
    A_ADDRESS,
    A_HOURS,
    A_PARKING,
    B_HOURS,
    GLOBAL_ADDRESS,
    INTERNATIONAL,
    PICKUP,
    PRICE,
    RECIPIENT,
    SENDER,
    BotWorld,
    bot_request,
)
from ventanilla.bot import Bot, BotDecision, Turn
from ventanilla.bot.offline import (
    REASON_COMPLAINT,
    REASON_INSULTS,
    REASON_NOT_UNDERSTOOD,
    REASON_PERSON,
    REASON_REPEATED_COMPLAINTS,
    REASON_SHOUTING,
)
from ventanilla.bot.replies import ASK_TRACKING_NUMBER, GREETING, HANDOFF, HELP, NOT_UNDERSTOOD, THANKS
from ventanilla.db.models import SenderType

CUSTOMER, BOT = SenderType.CUSTOMER, SenderType.BOT
IN_TRANSIT = "Tu envío ABC123456 está: *En tránsito*."


@dataclass(frozen=True)
class Case:
    text: str
    says: tuple[str, ...] = ()
    handoff: str | None = None
    history: tuple[Turn, ...] = ()
    tools: tuple[tuple[str, str], ...] = ()


def track(outcome: str = "ok") -> tuple[str, str]:
    return ("consultar_guia", outcome)


FAQ_OK = ("consultar_faq", "ok")

CASES = {
    # tracking numbers, in every way customers write them
    "number with dash and space": Case(
        "mi guía es abc-123 456", (IN_TRANSIT, "De Quito a Guayaquil", "01/12/2026"), tools=(track(),)
    ),
    "number with hash": Case("#ABC123456", (IN_TRANSIT,), tools=(track(),)),
    "letters apart": Case("ABC 123456", (IN_TRANSIT,), tools=(track(),)),
    "dots, greeting, long sentence": Case(
        "Hola, buenas tardes. Quisiera saber el estado de mi envío ABC.123.456 por favor",
        ("¡Hola!", IN_TRANSIT),
        tools=(track(),),
    ),
    "lower case, no spaces": Case("abc123456?", (IN_TRANSIT,), tools=(track(),)),
    "another branch's shipment": Case("Guía GYE200001", ("GYE200001 está: *Entregado*",), tools=(track(),)),
    "two numbers": Case("tengo dos: ABC123456 y gye-200001", (IN_TRANSIT, "*Entregado*"), tools=(track(), track())),
    "unknown number": Case(
        "mi guía es ZZZ999999", ("No encontré", "ZZZ999999", "ABC123456"), tools=(track("not_found"),)
    ),
    "number given earlier": Case(
        "¿y cuándo llega mi paquete?",
        (IN_TRANSIT,),
        history=(Turn(CUSTOMER, "mi guía es ABC123456"), Turn(BOT, IN_TRANSIT)),
        tools=(track(),),
    ),
    # tracking without a number: ask for it, with the example
    "where is my parcel": Case("¿Dónde está mi paquete?", (ASK_TRACKING_NUMBER,)),
    "track my shipment": Case("quiero rastrear mi envío", (ASK_TRACKING_NUMBER,)),
    "not arrived": Case("todavía no me llega mi pedido", (ASK_TRACKING_NUMBER,)),
    "greeting and status": Case("buenos días, cuál es el estado de mi encomienda", ("¡Hola!", ASK_TRACKING_NUMBER)),
    # FAQs phrased many ways
    "opening hours, colloquial": Case("a qué hora abren", (A_HOURS,), tools=(FAQ_OK,)),
    "opening hours, plural": Case("Horarios de atención?", (A_HOURS,), tools=(FAQ_OK,)),
    "opening hours, greeting": Case("Hola! cuál es su horario", ("¡Hola!", A_HOURS), tools=(FAQ_OK,)),
    "price": Case("cuánto cuesta mandar una caja a Cuenca", (PRICE,), tools=(FAQ_OK,)),
    "price, other words": Case("precio de envío", (PRICE,), tools=(FAQ_OK,)),
    "pickup documents": Case("qué documentos necesito para retirar", (PICKUP,), tools=(FAQ_OK,)),
    "another person is not a handoff": Case("¿Puede retirar otra persona mi paquete?", (PICKUP,), tools=(FAQ_OK,)),
    "abroad": Case("¿Envían al exterior?", (INTERNATIONAL,), tools=(FAQ_OK,)),
    "abroad, key phrase": Case("hacen envios a otro pais?", (INTERNATIONAL,), tools=(FAQ_OK,)),
    "address, stop words only": Case("¿dónde?", (A_ADDRESS,), tools=(FAQ_OK,)),
    "address, accents missing": Case("donde estan ubicados", (A_ADDRESS,), tools=(FAQ_OK,)),
    "parking, synonym keyword": Case("tienen estacionamiento?", (A_PARKING,), tools=(FAQ_OK,)),
    # a person, asked for
    "asesor": Case("quiero hablar con un asesor", (HANDOFF,), REASON_PERSON),
    "persona": Case("Necesito hablar con una persona por favor", (HANDOFF,), REASON_PERSON),
    "humano": Case("pásame con un humano", (HANDOFF,), REASON_PERSON),
    "agente, alone": Case("AGENTE", (HANDOFF,), REASON_PERSON),
    "not a robot": Case("no quiero hablar con un robot", (HANDOFF,), REASON_PERSON),
    "formal complaint": Case("quiero poner un reclamo", (HANDOFF,), REASON_COMPLAINT),
    # anger
    "insult": Case("son unos inútiles", (HANDOFF,), REASON_INSULTS),
    "insult with a number": Case("ladrones!! ABC123456", (HANDOFF,), REASON_INSULTS),
    "shouting": Case("DÓNDE ESTÁ MI PAQUETE QUE PAGUÉ HACE UNA SEMANA", (HANDOFF,), REASON_SHOUTING),
    "repeated complaint": Case(
        "sigo esperando y nadie me responde",
        (HANDOFF,),
        REASON_REPEATED_COMPLAINTS,
        history=(Turn(CUSTOMER, "todavía no me llega el paquete"), Turn(BOT, ASK_TRACKING_NUMBER)),
    ),
    # small talk
    "hello": Case("Hola", (GREETING,)),
    "good morning": Case("Buenos días!!", (GREETING,)),
    "greeting in capitals is not shouting": Case("HOLA BUENAS TARDES", (GREETING,)),
    "thanks": Case("ok, muchas gracias", (THANKS,)),
    "thumbs up": Case("👍", (THANKS,)),
    "help": Case("ayuda", (HELP,)),
    # not understood: once a help text, twice a person
    "gibberish": Case("asdf qwerty", (NOT_UNDERSTOOD,), tools=(("consultar_faq", "not_found"),)),
    "gibberish again": Case(
        "zxcv",
        (HANDOFF,),
        REASON_NOT_UNDERSTOOD,
        history=(Turn(CUSTOMER, "asdf qwerty"), Turn(BOT, NOT_UNDERSTOOD)),
        tools=(("consultar_faq", "not_found"),),
    ),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
async def test_offline_engine(offline_bot: Bot, bot_world: BotWorld, case: Case) -> None:
    decision = await offline_bot.decide(bot_request(bot_world.point_a, case.text, case.history))
    assert_well_formed(decision)
    for expected in case.says:
        assert expected in decision.reply
    assert decision.handoff_reason == case.handoff
    assert [(call.tool, call.outcome) for call in decision.tool_calls] == list(case.tools)


def assert_well_formed(decision: BotDecision) -> None:
    assert decision.engine == "offline" and decision.fallback_reason is None
    assert decision.reply.strip() and len(decision.reply) <= 700
    assert all(call.latency_ms >= 0 for call in decision.tool_calls)
    for text in (decision.reply, repr(decision.tool_calls)):
        assert SENDER not in text and RECIPIENT not in text


async def test_tracking_audit_record(offline_bot: Bot, bot_world: BotWorld) -> None:
    decision = await offline_bot.decide(bot_request(bot_world.point_b, "mi guía es abc-123 456"))
    (call,) = decision.tool_calls
    assert call.arguments == {"trackingNumber": "ABC123456"}
    assert call.result == {
        "found": True,
        "trackingNumber": "ABC123456",
        "shipment": {
            "trackingNumber": "ABC123456",
            "status": "En tránsito",
            "lastUpdate": call.result["shipment"]["lastUpdate"],
            "origin": "Quito",
            "destination": "Guayaquil",
            "eta": "2026-12-01",
        },
    }


async def test_own_faq_never_answers_on_another_branch(offline_bot: Bot, bot_world: BotWorld) -> None:
    on_a = await offline_bot.decide(bot_request(bot_world.point_a, "¿tienen parqueadero?"))
    on_b = await offline_bot.decide(bot_request(bot_world.point_b, "¿tienen parqueadero?"))
    assert on_a.reply == A_PARKING
    assert on_b.reply == NOT_UNDERSTOOD
    assert on_b.tool_calls[0].outcome == "not_found" and A_PARKING not in repr(on_b.tool_calls)


async def test_each_branch_gets_its_own_answer(offline_bot: Bot, bot_world: BotWorld) -> None:
    assert (await offline_bot.decide(bot_request(bot_world.point_a, "a qué hora abren"))).reply == A_HOURS
    on_b = await offline_bot.decide(bot_request(bot_world.point_b, "a qué hora abren"))
    assert on_b.reply == B_HOURS and A_HOURS not in repr(on_b.tool_calls)


async def test_global_faq_answers_on_both_branches(offline_bot: Bot, bot_world: BotWorld) -> None:
    for point in (bot_world.point_a, bot_world.point_b):
        assert (await offline_bot.decide(bot_request(point, "¿Envían al exterior?"))).reply == INTERNATIONAL


async def test_own_faq_wins_over_global(offline_bot: Bot, bot_world: BotWorld) -> None:
    on_a = await offline_bot.decide(bot_request(bot_world.point_a, "¿Dónde queda la sucursal?"))
    on_b = await offline_bot.decide(bot_request(bot_world.point_b, "¿Dónde queda la sucursal?"))
    assert on_a.reply == A_ADDRESS
    assert [faq["answer"] for faq in on_a.tool_calls[0].result["results"]] == [A_ADDRESS, GLOBAL_ADDRESS]
    assert on_b.reply == GLOBAL_ADDRESS


async def test_a_pasted_page_is_answered_promptly(offline_bot: Bot, bot_world: BotWorld) -> None:
    """The rules read the start of the text: a 60,000-character message must not stall the engine."""
    started = time.perf_counter()
    decision = await offline_bot.decide(bot_request(bot_world.point_a, "hablar " * 10_000))
    assert decision.reply and time.perf_counter() - started < 2

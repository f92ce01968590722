"""The Spanish sentences customers read, shared by both engines so a fallback sounds like the bot it replaces.

Tracking replies are built only from tool results, which is what lets the guardrail fall back on them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import msgspec

from ventanilla.bot.decision import AlertRequest, ToolCallRecord
from ventanilla.bot.tools import CONSULTAR_GUIA, TrackingResult
from ventanilla.shipments.tracking import EXAMPLE_TRACKING_NUMBER

MAX_REPLY_CHARS = 700  # a WhatsApp message people actually read
ELLIPSIS = "…"

HANDOFF = "Te comunico con un asesor de la sucursal; te responderá por este mismo chat en cuanto pueda."
ASK_TRACKING_NUMBER = (
    "Para consultar tu envío necesito el número de guía: son letras seguidas de números, por ejemplo "
    f"{EXAMPLE_TRACKING_NUMBER}. ¿Me lo envías?"
)
HELP = (
    "Puedo ayudarte con:\n"
    f"• El estado de tu envío: envíame tu número de guía (por ejemplo, {EXAMPLE_TRACKING_NUMBER}).\n"
    "• Preguntas frecuentes: horarios, dirección, precios, requisitos para retirar.\n"
    "• Si prefieres hablar con una persona, escribe «asesor»."
)
GREETING = "¡Hola! Soy el asistente virtual de la sucursal. " + HELP
THANKS = "¡Con gusto! Si necesitas algo más, aquí estoy."
NOT_UNDERSTOOD_OPENING = "Disculpa, no entendí tu mensaje."
NOT_UNDERSTOOD = f"{NOT_UNDERSTOOD_OPENING} {HELP}"
TRY_LATER = "Disculpa, no pude consultar la información en este momento. "
HOLD_ON = "Un momento, por favor: estoy revisando tus mensajes y te respondo enseguida."
# What the bot cannot read asks for text; a second one in a row goes to a person (see `attachments`).
PHOTO_WITHOUT_NUMBER = "No pude leer un número de guía en la imagen. ¿Me lo escribes?"
PHOTO_UNREADABLE = "No pude abrir la imagen. ¿Me escribes tu consulta o tu número de guía?"
VOICE_NOTE = "Por ahora no puedo escuchar notas de voz. ¿Me escribes tu consulta?"
VOICE_NOT_UNDERSTOOD = "No logré entender la nota de voz. ¿Me escribes tu consulta?"
CANNOT_OPEN = "No puedo abrir este tipo de mensaje. ¿Me escribes tu consulta en un mensaje de texto?"
LOCATION = "¡Gracias por tu ubicación! ¿En qué te ayudo? Escríbeme tu consulta o tu número de guía."
ASKED_FOR_TEXT = frozenset(
    {PHOTO_WITHOUT_NUMBER, PHOTO_UNREADABLE, VOICE_NOTE, VOICE_NOT_UNDERSTOOD, CANNOT_OPEN, LOCATION}
)


@dataclass(frozen=True)
class Answer:
    """What an engine decided: the text, and the reason when the conversation must go to a person."""

    reply: str
    handoff_reason: str | None = None
    alerts: AlertRequest | None = None


def handoff(reason: str) -> Answer:
    return Answer(HANDOFF, reason)


def cap(reply: str, limit: int = MAX_REPLY_CHARS) -> str:
    """At most `limit` characters, cut at a word boundary."""
    reply = reply.strip()
    if len(reply) <= limit:
        return reply
    cut = reply[: limit - len(ELLIPSIS)]
    if " " in cut[limit // 2 :]:
        cut = cut[: cut.rindex(" ")]
    return cut.rstrip(" ,;:.") + ELLIPSIS


def tracking_reply(records: Sequence[ToolCallRecord]) -> str | None:
    """What the tracking lookups of this turn said, one line per number; None when there was none."""
    lines: list[str] = []
    for record in records:
        if record.tool != CONSULTAR_GUIA or record.result is None:
            continue
        if record.outcome == "invalid_arguments":
            lines.append(ASK_TRACKING_NUMBER)
        elif record.outcome in ("ok", "not_found"):
            lines.append(_tracking_line(msgspec.convert(record.result, TrackingResult)))
    return "\n".join(dict.fromkeys(lines)) or None


def _tracking_line(result: TrackingResult) -> str:
    if result.shipment is None:
        return (
            f"No encontré ninguna guía con el número {result.tracking_number}. Revisa que esté bien escrito "
            f"(por ejemplo, {EXAMPLE_TRACKING_NUMBER}) y envíamelo de nuevo."
        )
    shipment = result.shipment
    parts = [f"Tu envío {shipment.tracking_number} está: *{shipment.status}*."]
    if shipment.origin and shipment.destination:
        parts.append(f"De {shipment.origin} a {shipment.destination}.")
    elif shipment.destination:
        parts.append(f"Destino: {shipment.destination}.")
    if shipment.eta is not None:
        parts.append(f"Entrega estimada: {shipment.eta:%d/%m/%Y}.")
    return " ".join(parts)

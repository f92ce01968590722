"""Shipment alerts in the conversation, by deterministic rules: "avísame" subscribes, "no más avisos" stops.

Opt-in only: the customer names the shipment (in this message or an earlier one), or accepts the bot's offer right
after a lookup, and the bot looks it up first, so only shipments that exist are subscribed. The bot decides; the
pipeline writes the subscription in the decision's transaction.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from ventanilla.alerts import texts
from ventanilla.bot import intents
from ventanilla.bot.decision import AlertRequest, BotRequest
from ventanilla.bot.replies import Answer, tracking_reply
from ventanilla.bot.tools import Toolbox
from ventanilla.db.models import SHIPMENT_STATUS_LABELS, SenderType, ShipmentStatus

# Offered after a lookup of one shipment that may still change; a "sí" right after it accepts.
# Statuses after which nothing more happens to a shipment (as the lookups show them): no offer then.
FINAL_STATUS_LABELS = frozenset(SHIPMENT_STATUS_LABELS[s] for s in (ShipmentStatus.DELIVERED, ShipmentStatus.RETURNED))
OFFER = "¿Quieres que te avise por aquí cada vez que cambie de estado? Escribe «avísame»."

_STOP = re.compile(
    r"\bno mas avisos?\b|\bya no (me )?(avises|avisen|mandes avisos|envies avisos)\b|\bno (me )?(avises|avisen) mas\b"
    r"|\b(deja|dejen) de avisarme\b"
)
_START = re.compile(
    r"\b(avisame|avisenme|me avisas|me avisan|avisarme|quiero que me (avisen|avises)|quiero (recibir )?avisos)\b"
)
_ACCEPT = re.compile(r"\W*(si+|claro|dale|ok|okay|de acuerdo|por favor|bueno)(\W+(si+|por favor|gracias|claro))*\W*")


def stops_alerts(folded: str) -> bool:
    return _STOP.search(folded) is not None


def wants_alerts(folded: str, request: BotRequest) -> bool:
    """Asked in words, or "sí" to the offer the bot's previous message made."""
    if _START.search(folded):
        return True
    last_bot = next((turn.text for turn in reversed(request.history) if turn.sender == SenderType.BOT), "")
    return last_bot.endswith(OFFER) and _ACCEPT.fullmatch(folded) is not None


async def alert_answer(
    request: BotRequest, text: str, folded: str, earlier: Sequence[str], toolbox: Toolbox
) -> Answer | None:
    """The answer when the turn is about alerts; None otherwise (or when a lookup failed: the caller answers)."""
    if stops_alerts(folded):
        return Answer(texts.UNSUBSCRIBED, alerts=AlertRequest(cancel_all=True))
    if not wants_alerts(folded, request):
        return None
    numbers = intents.tracking_numbers(text) or intents.latest_tracking_numbers(earlier)
    if not numbers:
        return Answer(texts.WHICH_SHIPMENT)
    results = [await toolbox.track(number) for number in numbers]
    if any(result.record.outcome == "error" for result in results):
        return None
    found = tuple(number for number, result in zip(numbers, results, strict=True) if result.record.outcome == "ok")
    lookup = tracking_reply([result.record for result in results]) or ""
    if not found:
        return Answer(lookup)
    confirmation = texts.subscribed(" y ".join(found))
    return Answer(f"{lookup}\n{confirmation}".strip(), alerts=AlertRequest(subscribe=found))


async def decide_alerts(request: BotRequest, toolbox: Toolbox) -> Answer | None:
    """`alert_answer` ahead of the model: what starts or stops messages to a customer is decided by these rules,
    never by the model's reading of the text."""
    text = request.text[: intents.MAX_ANALYZED_CHARS]
    earlier = [t.text[: intents.MAX_ANALYZED_CHARS] for t in request.history if t.sender == SenderType.CUSTOMER]
    return await alert_answer(request, text, intents.fold(text), earlier, toolbox)

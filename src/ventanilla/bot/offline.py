"""The offline engine: deterministic Spanish rules doing the model's jobs with the same tools.

It answers when no API key is configured and whenever the model cannot (timeouts, API errors), so it must be
good enough on its own: hand over to a person first (asked for, angry customer), then tracking (written, or printed
on a photo of the label and read by OCR), then the small talk, then FAQs; and hand over when it fails to understand
twice in a row rather than loop on a help text. What it cannot read (a voice note, a document, a photo without a
number) gets a request for text, and a person the second time in a row.
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from ventanilla.bot import intents
from ventanilla.bot.alerts import FINAL_STATUS_LABELS, OFFER, alert_answer
from ventanilla.bot.attachments import only_attachments, photos, unreadable
from ventanilla.bot.decision import BotRequest, ToolCallRecord
from ventanilla.bot.ocr import PhotoReader
from ventanilla.bot.replies import (
    ASK_TRACKING_NUMBER,
    GREETING,
    HELP,
    NOT_UNDERSTOOD,
    NOT_UNDERSTOOD_OPENING,
    THANKS,
    TRY_LATER,
    Answer,
    handoff,
    tracking_reply,
)
from ventanilla.bot.tools import FaqResults, Toolbox, TrackingResult
from ventanilla.db.models import SenderType

REASON_PERSON = "El cliente pidió hablar con una persona."
REASON_COMPLAINT = "El cliente quiere presentar un reclamo."
REASON_INSULTS = "Cliente molesto: usa insultos."
REASON_SHOUTING = "Cliente molesto: escribe en mayúsculas."
REASON_REPEATED_COMPLAINTS = "Cliente molesto: reclama de nuevo."
REASON_NOT_UNDERSTOOD = "El bot no entendió al cliente dos veces seguidas."
REASON_LOOKUP_FAILED = "El bot no pudo consultar la información."
HELLO = "¡Hola! "


async def decide_offline(request: BotRequest, toolbox: Toolbox, reader: PhotoReader | None = None) -> Answer:
    text = request.text[: intents.MAX_ANALYZED_CHARS]
    folded = intents.fold(text)
    earlier = [t.text[: intents.MAX_ANALYZED_CHARS] for t in request.history if t.sender == SenderType.CUSTOMER]
    if reason := _handoff_reason(text, folded, earlier):
        return handoff(reason)
    if (about_alerts := await alert_answer(request, text, folded, earlier, toolbox)) is not None:
        return about_alerts
    hello = HELLO if intents.greets(folded) else ""
    numbers = intents.tracking_numbers(text)
    if not numbers and reader is not None and (printed := await _printed_numbers(request, reader)):
        return await _track_printed(printed, toolbox, hello)
    if only_attachments(request):
        return unreadable(request, "offline")
    if not numbers and intents.asks_about_tracking(folded):
        numbers = intents.latest_tracking_numbers(earlier)  # "¿y dónde está mi paquete?" after giving the number
        if not numbers:
            return Answer(hello + ASK_TRACKING_NUMBER)
    if numbers:
        return await _track(numbers, toolbox, hello)
    if intents.only_greets(folded):
        return Answer(GREETING)
    if intents.only_thanks(folded):
        return Answer(THANKS)
    if intents.asks_for_help(folded):
        return Answer(hello + HELP)
    return await _faq(text, toolbox, hello, request)


def _handoff_reason(text: str, folded: str, earlier: Sequence[str]) -> str | None:
    if intents.wants_person(folded):
        return REASON_PERSON
    if intents.wants_to_complain(folded):
        return REASON_COMPLAINT
    if intents.insults(folded):
        return REASON_INSULTS
    if intents.shouting(text):
        return REASON_SHOUTING
    if intents.complains(folded) and intents.complained_before(earlier):
        return REASON_REPEATED_COMPLAINTS
    return None


async def _track(numbers: Sequence[str], toolbox: Toolbox, hello: str) -> Answer:
    results = [await toolbox.track(number) for number in numbers]
    if any(result.record.outcome == "error" for result in results):
        return _lookup_failed()
    answer = tracking_reply([result.record for result in results]) or ASK_TRACKING_NUMBER
    return Answer(hello + answer + _offer([result.record for result in results]))


def _offer(records: Sequence[ToolCallRecord]) -> str:
    """Alerts are offered after a lookup of one shipment found that may still change (see `bot.alerts`)."""
    if len(records) != 1 or records[0].outcome != "ok" or records[0].result is None:
        return ""
    shipment = msgspec.convert(records[0].result, TrackingResult).shipment
    if shipment is None or shipment.status in FINAL_STATUS_LABELS:
        return ""
    return "\n" + OFFER


async def _printed_numbers(request: BotRequest, reader: PhotoReader) -> list[str]:
    """Tracking numbers printed on the turn's photos, in order, at most MAX_NUMBERS."""
    found: list[str] = []
    for photo in photos(request):
        assert photo.path is not None
        text = await reader.read(photo.path)
        for number in intents.tracking_numbers(text or "", printed=True):
            if number not in found:
                found.append(number)
    return found[: intents.MAX_NUMBERS]


async def _track_printed(numbers: Sequence[str], toolbox: Toolbox, hello: str) -> Answer:
    """Like `_track`, but a label carries other codes: when some number is a shipment, only those are answered."""
    results = [await toolbox.track(number) for number in numbers]
    if any(result.record.outcome == "error" for result in results):
        return _lookup_failed()
    records = [result.record for result in results]
    shipments = [record for record in records if record.outcome == "ok"]
    return Answer(hello + (tracking_reply(shipments or records) or ASK_TRACKING_NUMBER))


async def _faq(text: str, toolbox: Toolbox, hello: str, request: BotRequest) -> Answer:
    result = await toolbox.search_faq(text)
    if result.record.outcome == "error":
        return _lookup_failed()
    if result.record.outcome == "ok":
        return Answer(hello + msgspec.json.decode(result.content, type=FaqResults).results[0].answer)
    last_bot = next((turn.text for turn in reversed(request.history) if turn.sender == SenderType.BOT), "")
    if last_bot.startswith(NOT_UNDERSTOOD_OPENING):
        return handoff(REASON_NOT_UNDERSTOOD)
    return Answer(NOT_UNDERSTOOD)


def _lookup_failed() -> Answer:
    answer = handoff(REASON_LOOKUP_FAILED)
    return Answer(TRY_LATER + answer.reply, answer.handoff_reason)

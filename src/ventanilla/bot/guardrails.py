"""Checks on the model's final answer before a customer reads it.

A status the tools did not return in this turn is the costliest lie a parcel bot can tell ("Entregado" when the
parcel is lost), so such an answer is replaced by one built from tool results: this turn's lookups, or a lookup
of the number the customer gave when the model did none (it answered from memory), or a request for the number.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence

import msgspec

from ventanilla.bot.decision import BotRequest, ToolCallRecord
from ventanilla.bot.intents import MAX_ANALYZED_CHARS, fold, latest_tracking_numbers
from ventanilla.bot.replies import ASK_TRACKING_NUMBER, cap, tracking_reply
from ventanilla.bot.tools import CONSULTAR_GUIA, Toolbox
from ventanilla.db.models import SHIPMENT_STATUS_LABELS, SenderType

log = logging.getLogger(__name__)

_LABELS = {label: re.compile(rf"(?<!\w){re.escape(fold(label))}(?!\w)") for label in SHIPMENT_STATUS_LABELS.values()}


def unsupported_statuses(reply: str, records: Sequence[ToolCallRecord]) -> set[str]:
    """Status labels named in `reply` that no successful tool call of this turn returned (FAQ texts count)."""
    returned = fold(" ".join(msgspec.json.encode(r.result).decode() for r in records if r.outcome == "ok"))
    folded_reply = fold(reply)
    return {
        label for label, pattern in _LABELS.items() if pattern.search(folded_reply) and not pattern.search(returned)
    }


async def checked_reply(candidate: str, request: BotRequest, toolbox: Toolbox) -> str:
    """The model's answer if it only states what the tools returned, else an answer built from tool results."""
    if not unsupported_statuses(candidate, toolbox.records):
        return cap(candidate)
    log.warning("bot guardrail: the model named a shipment status no tool returned; answer replaced")
    if not any(record.tool == CONSULTAR_GUIA for record in toolbox.records):
        texts = [turn.text for turn in request.history if turn.sender == SenderType.CUSTOMER] + [request.text]
        for number in latest_tracking_numbers([text[:MAX_ANALYZED_CHARS] for text in texts]):
            await toolbox.track(number)
    return cap(tracking_reply(toolbox.records) or ASK_TRACKING_NUMBER)

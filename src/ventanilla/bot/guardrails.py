"""Checks on the model's final answer before a customer reads it.

A status the tools did not return in this turn is the costliest lie a parcel bot can tell ("Entregado" when the
parcel is lost), so such an answer is replaced by one built from the tool results themselves.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence

import msgspec

from ventanilla.bot.decision import ToolCallRecord
from ventanilla.bot.intents import fold
from ventanilla.bot.replies import ASK_TRACKING_NUMBER, cap, tracking_reply
from ventanilla.db.models import SHIPMENT_STATUS_LABELS

log = logging.getLogger(__name__)

_LABELS = {label: re.compile(rf"(?<!\w){re.escape(fold(label))}(?!\w)") for label in SHIPMENT_STATUS_LABELS.values()}


def unsupported_statuses(reply: str, records: Sequence[ToolCallRecord]) -> set[str]:
    """Status labels named in `reply` that no successful tool call of this turn returned (FAQ texts count)."""
    returned = fold(" ".join(msgspec.json.encode(r.result).decode() for r in records if r.outcome == "ok"))
    folded_reply = fold(reply)
    return {
        label for label, pattern in _LABELS.items() if pattern.search(folded_reply) and not pattern.search(returned)
    }


def checked_reply(candidate: str, records: Sequence[ToolCallRecord]) -> str:
    """The model's answer if it only states what the tools returned, else an answer built from the tool results."""
    if unsupported_statuses(candidate, records):
        log.warning("bot guardrail: the model named a shipment status no tool returned; answer replaced")
        return cap(tracking_reply(records) or ASK_TRACKING_NUMBER)
    return cap(candidate)

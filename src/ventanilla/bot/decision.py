"""What the pipeline hands the bot and what it gets back: the whole interface between them.

The bot decides and never writes; the pipeline stores the reply, the handoff and the tool calls in one transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal
from uuid import UUID

from ventanilla.db.models import SenderType

Engine = Literal["openai", "offline"]
Outcome = Literal["ok", "not_found", "invalid_arguments", "unknown_tool", "error"]


@dataclass(frozen=True)
class Turn:
    """One earlier message of the conversation, as the bot sees it."""

    sender: SenderType
    text: str


@dataclass(frozen=True)
class BotRequest:
    """The inbound messages to answer in one turn (those a customer sent while the bot was still thinking come
    together); the point and conversation come from the pipeline, never from the model."""

    service_point_id: UUID
    conversation_id: UUID
    message_ids: Sequence[UUID]  # in the order the customer sent them
    text: str  # their texts, one per line
    history: Sequence[Turn]  # earlier messages, oldest first
    allow_model: bool = True  # False once the point has spent its daily model calls: the offline engine answers

    @property
    def message_id(self) -> UUID:
        """The latest message of the turn: the one the audit and the logs name."""
        return self.message_ids[-1]


@dataclass(frozen=True)
class ToolCallRecord:
    """One tool call for the `tool_call` audit table: what was looked up, what came back, how long it took."""

    engine: Engine  # the engine that made the call (a fallback turn has calls of both)
    tool: str
    arguments: dict[str, Any]
    outcome: Outcome
    result: dict[str, Any] | None
    latency_ms: int


@dataclass(frozen=True)
class BotDecision:
    """The reply to send, and whether the conversation now waits for a person. Every text in it, the tool calls'
    included, is storable (`ventanilla.text.storable`): the bot cleans what the model and the tools produced."""

    reply: str  # never empty, at most MAX_REPLY_CHARS
    handoff_reason: str | None
    engine: Engine
    fallback_reason: str | None  # why the offline engine answered although an API key is configured
    tool_calls: Sequence[ToolCallRecord]
    model_calls: int = 0  # requests made to the model in this turn (what the daily cap counts)

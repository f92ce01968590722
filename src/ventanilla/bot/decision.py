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
    """The inbound message to answer; the point and conversation come from the pipeline, never from the model."""

    service_point_id: UUID
    conversation_id: UUID
    message_id: UUID
    text: str
    history: Sequence[Turn]  # earlier messages, oldest first


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
    """The reply to send, and whether the conversation now waits for a person."""

    reply: str  # never empty, at most MAX_REPLY_CHARS
    handoff_reason: str | None
    engine: Engine
    fallback_reason: str | None  # why the offline engine answered although an API key is configured
    tool_calls: Sequence[ToolCallRecord]

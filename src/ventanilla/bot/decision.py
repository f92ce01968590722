"""What the pipeline hands the bot and what it gets back: the whole interface between them.

The bot decides and never writes; the pipeline stores the reply, the handoff and the tool calls in one transaction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from uuid import UUID

from ventanilla.db.models import MessageType, SenderType

Engine = Literal["openai", "offline"]
Outcome = Literal["ok", "not_found", "invalid_arguments", "unknown_tool", "error"]


@dataclass(frozen=True)
class Turn:
    """One earlier message of the conversation, as the bot sees it."""

    sender: SenderType
    text: str  # the text, a media message's caption, or a voice note's transcript
    type: MessageType = MessageType.TEXT  # what the message held: the bot knows it asked for text after a file


@dataclass(frozen=True)
class Attachment:
    """What a message of the turn held besides its caption: a file the bot may read (a photo of a label, a voice
    note), or something it cannot (a document, a sticker, a location...)."""

    message_id: UUID
    type: MessageType
    mime_type: str | None = None  # sniffed from the bytes once the file is stored
    path: Path | None = None  # the stored file; None when there is none to read (failed, expired, not a file)
    voice: bool = False  # a voice note recorded in the chat, not an audio file
    transcript: str | None = None  # a voice note already transcribed (a turn tried again)


@dataclass(frozen=True)
class BotRequest:
    """The inbound messages to answer in one turn (those a customer sent while the bot was still thinking come
    together); the point and conversation come from the pipeline, never from the model."""

    service_point_id: UUID
    conversation_id: UUID
    message_ids: Sequence[UUID]  # in the order the customer sent them
    text: str  # their texts (a media message's caption), one per line
    history: Sequence[Turn]  # earlier messages, oldest first
    allow_model: bool = True  # False once the point has spent its daily model calls: the offline engine answers
    attachments: Sequence[Attachment] = ()  # the turn's photos, voice notes and other non-text, in order

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
    transcripts: Mapping[UUID, str] = field(default_factory=dict)  # voice notes heard this turn, by message id
    alerts: AlertRequest | None = None  # the customer asked to start or stop shipment alerts


@dataclass(frozen=True)
class AlertRequest:
    """What the customer asked of shipment alerts: subscribe this conversation to `subscribe` (tracking numbers of
    shipments the bot found this turn), or cancel every active subscription of the conversation."""

    subscribe: tuple[str, ...] = ()
    cancel_all: bool = False

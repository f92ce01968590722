"""The OpenAI engine: chat completions with tool calling on the official SDK. The only module that imports openai.

The model chooses which tools to call and writes the answer; the code decides everything else: the tools only
see the request's service point, a turn has at most MAX_TOOL_ROUNDS tool rounds, the final answer goes through
the guardrails, and any API failure (after the SDK's own retries) becomes `ModelUnavailable` so the offline
engine can answer instead.

A photo goes to the model as an image input beside the text (it reads the label and calls the tools like for a
written number); a voice note is transcribed first and answered like text. What the model cannot see (a document,
a sticker) costs no call: the customer is asked for text.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from collections.abc import Awaitable
from datetime import date
from pathlib import Path
from typing import Any, TypeVar
from uuid import UUID

import msgspec
import openai
from httpx2 import Limits, Response
from openai import AsyncOpenAI, DefaultAioHttpClient

from ventanilla.bot.attachments import only_attachments, photos, unreadable
from ventanilla.bot.decision import Attachment, BotRequest, Turn
from ventanilla.bot.guardrails import checked_reply
from ventanilla.bot.images import UnreadableImage, for_model
from ventanilla.bot.prompts import AGENT_PREFIX, PHOTO_WITHOUT_CAPTION, UNSEEN, attachment_label, system_prompt
from ventanilla.bot.replies import Answer, handoff
from ventanilla.bot.tools import TOOL_SPECS, Toolbox, tool_parameters
from ventanilla.config import Settings
from ventanilla.db.models import MessageType, SenderType
from ventanilla.text import storable

log = logging.getLogger(__name__)
_T = TypeVar("_T")

MAX_TOOL_ROUNDS = 4
MAX_HISTORY_TURNS = 12
MAX_TURN_CHARS = 1000  # per message sent to the model: bounds cost and latency whatever customers paste
TURN_BUDGET_FACTOR = 2  # a whole turn (all rounds and retries) may take this many request timeouts
KEEPALIVE_SECONDS = 30.0  # a conversation's next turn usually comes within this: its connection is still open
REASON_TOO_MANY_ROUNDS = "El bot no llegó a una respuesta después de varias consultas."
REASON_NO_ANSWER = "El modelo no dio ninguna respuesta."
_ROLES = {SenderType.CUSTOMER: "user", SenderType.BOT: "assistant", SenderType.AGENT: "assistant"}
MAX_PHOTOS = 3  # per turn: a customer who sends an album gets the first ones read
MAX_AUDIO_BYTES = 25 * 1024 * 1024  # the transcription API's limit
MAX_TRANSCRIPT_CHARS = 4000  # a few minutes of speech; what is stored and shown to agents
# The transcription API names the format by the file's extension.
AUDIO_EXTENSIONS = {
    "audio/ogg": "ogg",
    "audio/mpeg": "mp3",
    "audio/mp4": "m4a",
    "audio/aac": "m4a",
    "audio/x-wav": "wav",
    "audio/wav": "wav",
    "audio/webm": "webm",
    "audio/flac": "flac",
    "audio/amr": "amr",
}


JSON_HEADERS = {"Content-Type": "application/json"}


class _Request(msgspec.Struct):
    model: str
    messages: list[dict[str, Any]]
    tools: msgspec.Raw  # encoded once: the same for every request


class _Function(msgspec.Struct):
    name: str
    arguments: str


class _Custom(msgspec.Struct):
    name: str
    input: str


class _ToolCall(msgspec.Struct, omit_defaults=True):
    """A tool call as the API sends it, and as it is sent back in the next round's history."""

    id: str
    type: str = "function"
    function: _Function | None = None
    custom: _Custom | None = None

    def name_and_arguments(self) -> tuple[str, str]:
        if self.function is not None:
            return self.function.name, self.function.arguments
        if self.custom is not None:
            return self.custom.name, self.custom.input
        return "", ""


class _Message(msgspec.Struct):
    content: str | None = None
    refusal: str | None = None
    tool_calls: list[_ToolCall] | None = None


class _Choice(msgspec.Struct):
    message: _Message


class _Completion(msgspec.Struct):
    """The part of a chat completion the engine reads; anything else the API adds is ignored."""

    choices: list[_Choice] = []


_ENCODER = msgspec.json.Encoder()
_COMPLETION = msgspec.json.Decoder(_Completion)


class ModelUnavailable(Exception):
    """The model could not answer this turn; `reason` is short, fixed and free of customer data."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class OpenAIEngine:
    def __init__(self, settings: Settings, *, timeout: float, max_retries: int, max_parallel: int) -> None:
        # One client whose HTTP is aiohttp's (the SDK's own `aiohttp` extra): a kept-alive connection per
        # conversation thinking at once, in a pool that costs the same with 10 connections or 1,000. The default
        # httpx pool walked every connection on every request and spent more CPU than the rest of a turn.
        self._client = AsyncOpenAI(
            api_key=settings.openai_api_key,
            base_url=settings.openai_base_url,
            timeout=timeout,
            max_retries=max_retries,
            http_client=DefaultAioHttpClient(
                limits=Limits(max_connections=max_parallel, keepalive_expiry=KEEPALIVE_SECONDS)
            ),
        )
        self._model = settings.openai_model
        self._transcription_model = settings.openai_transcription_model
        self._turn_budget = timeout * TURN_BUDGET_FACTOR
        self._tools_json = msgspec.Raw(
            _ENCODER.encode(
                [
                    {
                        "type": "function",
                        "function": {
                            "name": spec.name,
                            "description": spec.description,
                            "parameters": tool_parameters(spec.arguments),
                            "strict": True,
                        },
                    }
                    for spec in TOOL_SPECS
                ]
            )
        )

    async def close(self) -> None:
        await self._client.close()

    async def decide(self, request: BotRequest, toolbox: Toolbox) -> Answer:
        """Raises ModelUnavailable when the API fails after the SDK's retries or the turn runs out of time."""
        images = {photo.message_id: url for photo in photos(request)[:MAX_PHOTOS] if (url := await _data_url(photo))}
        if only_attachments(request) and not images:  # nothing the model could read: no call
            return unreadable(request, "openai")
        return await self._guarded(self._converse(request, toolbox, images))

    async def transcribe(self, request: BotRequest, toolbox: Toolbox) -> dict[UUID, str]:
        """The words of the turn's voice notes that have a file and no transcript yet, by message id (an empty or
        unreadable one is left out). Raises ModelUnavailable like `decide`; all of them share one turn budget."""
        if not any(a.type == MessageType.AUDIO and a.path is not None for a in request.attachments):
            return {}
        return await self._guarded(self._transcribe(request, toolbox))

    async def _transcribe(self, request: BotRequest, toolbox: Toolbox) -> dict[UUID, str]:
        heard: dict[UUID, str] = {}
        for attachment in request.attachments:
            if attachment.type != MessageType.AUDIO or attachment.path is None or attachment.transcript:
                continue
            data = await asyncio.to_thread(_audio_bytes, attachment.path)
            if data is None:
                continue
            extension = AUDIO_EXTENSIONS.get(attachment.mime_type or "", "ogg")
            toolbox.model_calls += 1
            result = await self._client.audio.transcriptions.create(
                model=self._transcription_model,
                file=(f"nota.{extension}", data, attachment.mime_type or "audio/ogg"),
                language="es",
                response_format="json",
            )
            if words := " ".join(storable(result.text or "").split())[:MAX_TRANSCRIPT_CHARS]:
                heard[attachment.message_id] = words
        return heard

    async def _guarded(self, call: Awaitable[_T]) -> _T:
        """`call` within the turn's time budget, its API failures turned into ModelUnavailable."""
        try:
            async with asyncio.timeout(self._turn_budget):
                return await call
        except (TimeoutError, openai.APITimeoutError):
            raise ModelUnavailable("timeout") from None
        except openai.RateLimitError:
            raise ModelUnavailable("rate_limited") from None
        except openai.APIStatusError as exc:
            raise ModelUnavailable(f"api_status_{exc.status_code}") from None
        except openai.APIConnectionError:
            raise ModelUnavailable("connection_error") from None
        except openai.OpenAIError:
            raise ModelUnavailable("api_error") from None

    async def _converse(self, request: BotRequest, toolbox: Toolbox, images: dict[UUID, str]) -> Answer:
        messages = _messages(request, images)
        for _ in range(MAX_TOOL_ROUNDS):
            toolbox.model_calls += 1
            message = await self._complete(messages)
            calls = message.tool_calls or []
            if not calls:
                content = (message.content or message.refusal or "").strip()
                if not content:
                    return handoff(REASON_NO_ANSWER)
                return Answer(await checked_reply(content, request, toolbox))
            messages.append(
                {
                    "role": "assistant",
                    "content": message.content,
                    "tool_calls": [msgspec.to_builtins(call) for call in calls],
                }
            )
            handoff_reason: str | None = None
            for call in calls:
                name, arguments = call.name_and_arguments()
                result = await toolbox.call(name, arguments)
                messages.append({"role": "tool", "tool_call_id": call.id, "content": result.content})
                handoff_reason = handoff_reason or result.handoff_reason
            if handoff_reason is not None:
                return handoff(handoff_reason)
        return handoff(REASON_TOO_MANY_ROUNDS)

    async def _complete(self, messages: list[dict[str, Any]]) -> _Message:
        # The SDK sends it (retries, errors, auth as for `chat.completions.create`), but the body is encoded and the
        # answer decoded by msgspec, into only the fields we read: the SDK's per-call validation of our own
        # well-formed request and its pydantic parsing of the answer were most of the CPU of a turn.
        body = _ENCODER.encode(_Request(self._model, messages, self._tools_json))
        response = await self._client.post(
            "/chat/completions", content=body, options={"headers": JSON_HEADERS}, cast_to=Response
        )
        completion = _decoded(await response.aread())
        if not completion.choices:
            raise ModelUnavailable("empty_response")
        return completion.choices[0].message


def _decoded(raw: bytes) -> _Completion:
    """msgspec first; the standard library for JSON msgspec refuses but a model may write (an escaped lone
    surrogate), so such an answer is still read, and cleaned by the bot, instead of counted as an outage."""
    try:
        return _COMPLETION.decode(raw)
    except msgspec.DecodeError:
        pass
    try:
        return msgspec.convert(json.loads(raw), _Completion)
    except (ValueError, msgspec.ValidationError):
        raise ModelUnavailable("malformed_response") from None


def _messages(request: BotRequest, images: dict[UUID, str]) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = [{"role": "system", "content": system_prompt(date.today())}]
    for turn in request.history[-MAX_HISTORY_TURNS:]:
        messages.append({"role": _ROLES[turn.sender], "content": _turn_text(turn)})
    text = _request_text(request, images)
    if not images:
        messages.append({"role": "user", "content": text})
    else:
        parts: list[dict[str, Any]] = [{"type": "text", "text": text}]
        parts.extend({"type": "image_url", "image_url": {"url": url}} for url in images.values())
        messages.append({"role": "user", "content": parts})
    return messages


def _turn_text(turn: Turn) -> str:
    """An earlier message as the model reads it: a file is named ("[Foto] caption"), an agent is marked."""
    prefix = AGENT_PREFIX if turn.sender == SenderType.AGENT else ""
    label = attachment_label(turn.type)
    text = turn.text[:MAX_TURN_CHARS]
    return prefix + (f"{label} {text}".strip() if label else text)


def _request_text(request: BotRequest, images: dict[UUID, str]) -> str:
    """The turn's text, with a line naming each file the model does not receive (a document, a sticker...)."""
    unseen = [
        UNSEEN.format(label=label)
        for attachment in request.attachments
        if (label := attachment_label(attachment.type)) and not _seen(attachment, images)
    ]
    text = request.text[:MAX_TURN_CHARS].strip()
    if not text and images:
        text = PHOTO_WITHOUT_CAPTION
    return "\n".join([*unseen, text]) if unseen else text


def _seen(attachment: Attachment, images: dict[UUID, str]) -> bool:
    if attachment.type == MessageType.AUDIO:
        return attachment.transcript is not None  # its words are in the text
    return attachment.type == MessageType.IMAGE and attachment.message_id in images


async def _data_url(photo: Attachment) -> str | None:
    """The photo as a data URL for an image input; None when it cannot be read (the customer is asked for text)."""
    assert photo.path is not None
    try:
        data, mime_type = await asyncio.to_thread(for_model, photo.path, photo.mime_type)
    except UnreadableImage as exc:
        log.info("photo of message %s not sent to the model: %s", photo.message_id, exc)
        return None
    return f"data:{mime_type};base64,{base64.b64encode(data).decode()}"


def _audio_bytes(path: Path) -> bytes | None:
    """A voice note's bytes, or None when the file is gone or larger than the API takes."""
    try:
        if path.stat().st_size > MAX_AUDIO_BYTES:
            return None
        return path.read_bytes()
    except OSError:
        return None

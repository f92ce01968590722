"""The OpenAI engine: chat completions with tool calling on the official SDK. The only module that imports openai.

The model chooses which tools to call and writes the answer; the code decides everything else: the tools only
see the request's service point, a turn has at most MAX_TOOL_ROUNDS tool rounds, the final answer goes through
the guardrails, and any API failure (after the SDK's own retries) becomes `ModelUnavailable` so the offline
engine can answer instead.
"""

from __future__ import annotations

import asyncio
import json
from datetime import date
from typing import Any

import msgspec
import openai
from httpx2 import Limits, Response
from openai import AsyncOpenAI, DefaultAioHttpClient

from ventanilla.bot.decision import BotRequest
from ventanilla.bot.guardrails import checked_reply
from ventanilla.bot.prompts import AGENT_PREFIX, system_prompt
from ventanilla.bot.replies import Answer, handoff
from ventanilla.bot.tools import TOOL_SPECS, Toolbox, tool_parameters
from ventanilla.config import Settings
from ventanilla.db.models import SenderType

MAX_TOOL_ROUNDS = 4
MAX_HISTORY_TURNS = 12
MAX_TURN_CHARS = 1000  # per message sent to the model: bounds cost and latency whatever customers paste
TURN_BUDGET_FACTOR = 2  # a whole turn (all rounds and retries) may take this many request timeouts
KEEPALIVE_SECONDS = 30.0  # a conversation's next turn usually comes within this: its connection is still open
REASON_TOO_MANY_ROUNDS = "El bot no llegó a una respuesta después de varias consultas."
REASON_NO_ANSWER = "El modelo no dio ninguna respuesta."
_ROLES = {SenderType.CUSTOMER: "user", SenderType.BOT: "assistant", SenderType.AGENT: "assistant"}


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
        try:
            async with asyncio.timeout(self._turn_budget):
                return await self._converse(request, toolbox)
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

    async def _converse(self, request: BotRequest, toolbox: Toolbox) -> Answer:
        messages = _messages(request)
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


def _messages(request: BotRequest) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = [{"role": "system", "content": system_prompt(date.today())}]
    for turn in request.history[-MAX_HISTORY_TURNS:]:
        prefix = AGENT_PREFIX if turn.sender == SenderType.AGENT else ""
        messages.append({"role": _ROLES[turn.sender], "content": prefix + turn.text[:MAX_TURN_CHARS]})
    messages.append({"role": "user", "content": request.text[:MAX_TURN_CHARS]})
    return messages

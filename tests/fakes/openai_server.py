"""A local OpenAI-compatible server (chat completions, audio transcriptions), scripted response by response, for
tests of the real SDK.

Each test queues what the "model" does next (a completion with or without tool calls, an HTTP error, a delay; a
transcript) and afterwards reads what the server received (image inputs included, and the uploaded audio). It runs
uvicorn with a plain ASGI app in a background thread, on a socket bound to a free port before the thread starts, so
there is no race for the port.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from uuid import uuid4

from tests.fakes.serving import multipart_form, read_body, serving_in_thread

COMPLETIONS_PATH = "/v1/chat/completions"
TRANSCRIPTIONS_PATH = "/v1/audio/transcriptions"


@dataclass(frozen=True)
class Step:
    """One scripted response: `status` and `body` after `delay` seconds."""

    status: int
    body: dict[str, Any]
    headers: Mapping[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass(frozen=True)
class ReceivedRequest:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]

    @property
    def tool_names(self) -> list[str]:
        return [tool["function"]["name"] for tool in self.body.get("tools", [])]

    def messages(self, role: str) -> list[dict[str, Any]]:
        return [message for message in self.body["messages"] if message["role"] == role]

    @property
    def asked(self) -> str:
        """What the customer said last (the turn's text; the text part when photos came with it)."""
        content = self.messages("user")[-1]["content"]
        if isinstance(content, str):
            return content
        return "\n".join(part["text"] for part in content if part["type"] == "text")

    @property
    def images(self) -> list[str]:
        """The image inputs of the customer's last message: their URLs (data URLs for customers' photos)."""
        content = self.messages("user")[-1]["content"]
        if isinstance(content, str):
            return []
        return [part["image_url"]["url"] for part in content if part["type"] == "image_url"]


@dataclass(frozen=True)
class ReceivedAudio:
    """A transcription request: its form fields and the uploaded file."""

    headers: dict[str, str]
    fields: dict[str, str]
    file_name: str
    content_type: str
    data: bytes


def tool_call(name: str, arguments: str | Mapping[str, Any], call_id: str | None = None) -> dict[str, Any]:
    """A tool call as the model writes it; `arguments` may be a raw (even malformed) JSON string."""
    raw = arguments if isinstance(arguments, str) else json.dumps(arguments)
    function = {"name": name, "arguments": raw}
    return {"id": call_id or f"call_{uuid4().hex[:12]}", "type": "function", "function": function}


def completion(content: str | None = None, tool_calls: Sequence[dict[str, Any]] = (), *, delay: float = 0.0) -> Step:
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if tool_calls:
        message["tool_calls"] = list(tool_calls)
    body = {
        "id": f"chatcmpl-{uuid4().hex[:12]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": "fake-model",
        "choices": [
            {"index": 0, "message": message, "finish_reason": "tool_calls" if tool_calls else "stop", "logprobs": None}
        ],
        "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20},
    }
    return Step(200, body, delay=delay)


def transcription(text: str, *, delay: float = 0.0) -> Step:
    """What the transcription API answers with `response_format=json`."""
    return Step(200, {"text": text}, delay=delay)


def error(status: int, message: str = "scripted error", *, retry_after_ms: int | None = 5) -> Step:
    """An API error; a short Retry-After keeps the SDK's retries fast in tests."""
    headers = {} if retry_after_ms is None else {"retry-after-ms": str(retry_after_ms)}
    return Step(status, {"error": {"message": message, "type": "server_error", "code": None}}, headers)


class FakeOpenAI:
    """The ASGI app plus its script and the log of what it received."""

    def __init__(self, default: Step | None = None) -> None:
        self._script: deque[Step] = deque()
        self._transcripts: deque[Step] = deque()
        self._default = default  # answered when the script is empty (benchmarks); None: an empty script is a bug
        self._rules: list[Callable[[ReceivedRequest], Step | None]] = []
        self._lock = threading.Lock()
        self.requests: list[ReceivedRequest] = []  # chat completions
        self.transcriptions: list[ReceivedAudio] = []
        self.url = ""

    def script(self, *steps: Step) -> None:
        with self._lock:
            self._script.extend(steps)

    def transcribe(self, *steps: Step) -> None:
        """Queue the answers of the transcription endpoint (`transcription(...)` or `error(...)`)."""
        with self._lock:
            self._transcripts.extend(steps)

    def repeat(self, step: Step, times: int) -> None:
        self.script(*([step] * times))

    def answer_by(self, rule: Callable[[ReceivedRequest], Step | None]) -> None:
        """Answer with `rule(request)` whenever it gives a step (before the script): for many conversations at
        once, where the order of requests is not known in advance."""
        with self._lock:
            self._rules.append(rule)

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._script)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = await read_body(receive)
        headers = {key.decode().lower(): value.decode() for key, value in scope["headers"]}
        if scope["method"] == "POST" and scope["path"] == COMPLETIONS_PATH:
            step = self._completion(ReceivedRequest(scope["path"], headers, json.loads(body)))
        elif scope["method"] == "POST" and scope["path"] == TRANSCRIPTIONS_PATH:
            step = self._transcription(headers, body)
        else:
            await _respond(send, Step(404, {"error": {"message": "not found", "type": "invalid_request_error"}}))
            return
        if step is None:  # an unscripted call is a test bug: fail it loudly and do not let the SDK retry
            step = Step(500, {"error": {"message": "script exhausted"}}, {"x-should-retry": "false"})
        if step.delay:
            await asyncio.sleep(step.delay)
        await _respond(send, step)

    def _completion(self, request: ReceivedRequest) -> Step | None:
        with self._lock:
            self.requests.append(request)
            step = next((found for rule in self._rules if (found := rule(request)) is not None), None)
            if step is None:
                step = self._script.popleft() if self._script else self._default
        return step

    def _transcription(self, headers: dict[str, str], body: bytes) -> Step | None:
        form = multipart_form(headers.get("content-type", ""), body)
        if form is None or "file" not in form[1] or "model" not in form[0]:
            return Step(400, {"error": {"message": "expected multipart with file and model", "type": "invalid"}})
        fields, files = form
        file_name, content_type, data = files["file"]
        with self._lock:
            self.transcriptions.append(ReceivedAudio(headers, fields, file_name, content_type, data))
            return self._transcripts.popleft() if self._transcripts else None


async def _respond(send: Any, step: Step) -> None:
    payload = json.dumps(step.body).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    headers += [(key.encode(), value.encode()) for key, value in step.headers.items()]
    await send({"type": "http.response.start", "status": step.status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


@contextmanager
def running_fake_openai(default: Step | None = None) -> Iterator[FakeOpenAI]:
    """Serve a FakeOpenAI on 127.0.0.1; `url` is the base URL for OPENAI_BASE_URL."""
    app = FakeOpenAI(default)
    with serving_in_thread(app, "fake-openai") as root:
        app.url = f"{root}/v1"
        yield app


def main() -> None:
    """`python -m tests.fakes.openai_server --delay 1.0`: a model that always answers the same, after a delay.

    Prints its base URL on the first line of stdout and serves until killed (benchmarks run it as its own process,
    so its work does not compete with theirs).
    """
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("--delay", type=float, default=1.0)
    parser.add_argument("--content", default="Con gusto te ayudo. ¿Me compartes tu número de guía?")
    args = parser.parse_args()
    with running_fake_openai(default=completion(args.content, delay=args.delay)) as model:
        print(model.url, flush=True)
        threading.Event().wait()


if __name__ == "__main__":
    main()

"""A local stand-in for Meta's Graph API (WhatsApp Cloud API), plus builders of the webhooks Meta would send.

Meta cannot be reached from tests, so this server answers the handful of endpoints the Cloud transport uses (a
number's details, messages, media upload and download, message templates with paging) with Meta's shapes and
Meta's errors (401 code 190 for a wrong token, 400 code 100 for an unknown id), and lets a test script failures
and delays. It records what it received. Like `openai_server.py`, it runs uvicorn with a plain ASGI app in a
background thread, on a socket bound to a free port before the thread starts.

The webhook helpers are pure functions building the JSON Meta POSTs to the app, and its signature header.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import re
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode
from uuid import uuid4

from tests.fakes.serving import multipart_form, read_body, serving_in_thread

GRAPH_VERSION = "v21.0"
DEFAULT_DISPLAY_PHONE_NUMBER = "5215510000001"
DEFAULT_BUSINESS_ACCOUNT_ID = "WABA1"
MEDIA_KINDS = frozenset({"image", "audio", "video", "document", "sticker"})
MESSAGE_TYPES = MEDIA_KINDS | {"text", "template", "reaction", "interactive", "location", "contacts"}
_VERSION = re.compile(r"v\d+\.\d+")


@dataclass(frozen=True)
class SentMessage:
    """A message the fake accepted: `body` is the JSON as posted."""

    phone_number_id: str
    to: str
    type: str
    body: dict[str, Any]
    wamid: str
    headers: dict[str, str]


@dataclass(frozen=True)
class _Number:
    access_token: str
    display_phone_number: str
    verified_name: str


@dataclass(frozen=True)
class _Media:
    data: bytes
    mime_type: str
    access_token: str
    reported_size: int


@dataclass(frozen=True)
class _Account:
    access_token: str
    templates: list[dict[str, Any]]


@dataclass
class _Failure:
    path_suffix: str
    status: int
    code: int
    title: str
    remaining: int
    retry_after: float | None
    subcode: int | None


@dataclass(frozen=True)
class _Answer:
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


def _json(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> _Answer:
    return _Answer(status, json.dumps(body).encode(), headers=headers or {})


def graph_error(
    status: int, code: int, message: str, *, details: str | None = None, subcode: int | None = None
) -> _Answer:
    """An error in Meta's shape."""
    error: dict[str, Any] = {"message": message, "type": "OAuthException", "code": code, "fbtrace_id": uuid4().hex}
    if subcode is not None:
        error["error_subcode"] = subcode
    if details is not None:
        error["error_data"] = {"messaging_product": "whatsapp", "details": details}
    return _json(status, {"error": error})


def _invalid(details: str) -> _Answer:
    return graph_error(400, 100, "(#100) Invalid parameter", details=details)


UNAUTHORIZED = graph_error(401, 190, "Invalid OAuth access token.")


class FakeGraph:
    """The ASGI app plus its state and the log of what it received."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._numbers: dict[str, _Number] = {}
        self._accounts: dict[str, _Account] = {}
        self._media: dict[str, _Media] = {}
        self._failures: list[_Failure] = []
        self._delays: dict[str, float] = {}  # by a part of the path ("" for every request)
        self.sent: list[SentMessage] = []
        self.uploads: dict[str, tuple[bytes, str]] = {}
        self.requests: list[tuple[str, str]] = []
        self.root = ""  # scheme and host, e.g. "http://127.0.0.1:PORT"
        self.url = ""  # the Graph base URL including the version

    def add_number(
        self,
        phone_number_id: str,
        access_token: str,
        display_phone_number: str = "+52 55 1000 0001",
        verified_name: str = "Sucursal",
    ) -> None:
        with self._lock:
            self._numbers[phone_number_id] = _Number(access_token, display_phone_number, verified_name)

    def add_templates(self, business_account_id: str, access_token: str, templates: list[dict[str, Any]]) -> None:
        """Templates in Meta's shape ({"name", "language", "status", "category", "components": [...]})."""
        with self._lock:
            self._accounts[business_account_id] = _Account(access_token, list(templates))

    def add_media(self, data: bytes, mime_type: str, access_token: str, *, reported_size: int | None = None) -> str:
        """A file a customer sent; returns its media id. `reported_size` makes the fake lie about `file_size`."""
        media_id = _new_id()
        with self._lock:
            self._media[media_id] = _Media(
                data, mime_type, access_token, len(data) if reported_size is None else reported_size
            )
        return media_id

    def fail_next(
        self,
        path_suffix: str,
        *,
        status: int,
        code: int,
        title: str = "scripted",
        times: int = 1,
        retry_after: float | None = None,
        subcode: int | None = None,
    ) -> None:
        """The next `times` requests whose path ends with `path_suffix` get this error."""
        with self._lock:
            self._failures.append(_Failure(path_suffix, status, code, title, times, retry_after, subcode))

    def set_delay(self, seconds: float, path_containing: str = "") -> None:
        """Every request (or only those whose path contains `path_containing`: one number's) waits this long first."""
        with self._lock:
            self._delays[path_containing] = seconds

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = await read_body(receive)
        method, path = scope["method"], scope["path"]
        headers = {key.decode().lower(): value.decode() for key, value in scope["headers"]}
        query = {key: values[-1] for key, values in parse_qs(scope.get("query_string", b"").decode()).items()}
        with self._lock:
            self.requests.append((method, path))
            delay = max((seconds for part, seconds in self._delays.items() if part in path), default=0.0)
            failure = self._take_failure(path)
        if delay:
            await asyncio.sleep(delay)
        if failure is not None:
            answer = self._scripted(failure)
        else:
            with self._lock:
                answer = self._route(method, path, headers, query, body)
        await _respond(send, answer)

    def _take_failure(self, path: str) -> _Failure | None:
        for failure in self._failures:
            if path.endswith(failure.path_suffix) and failure.remaining > 0:
                failure.remaining -= 1
                if failure.remaining == 0:
                    self._failures.remove(failure)
                return failure
        return None

    @staticmethod
    def _scripted(failure: _Failure) -> _Answer:
        answer = graph_error(
            failure.status,
            failure.code,
            f"(#{failure.code}) {failure.title}",
            details=failure.title,
            subcode=failure.subcode,
        )
        if failure.retry_after is not None:
            answer.headers["retry-after"] = f"{failure.retry_after:g}"
        return answer

    def _route(self, method: str, path: str, headers: dict[str, str], query: dict[str, str], body: bytes) -> _Answer:
        token = headers.get("authorization", "").removeprefix("Bearer ")
        segments = path.strip("/").split("/")
        if len(segments) == 2 and segments[0] == "download" and method == "GET":
            return self._download(segments[1], token)
        if not segments or not _VERSION.fullmatch(segments[0]):
            return graph_error(400, 2500, "Unknown path components")
        match segments[1:], method:
            case [object_id], "GET":
                return self._object(object_id, token)
            case [phone_number_id, "messages"], "POST":
                return self._message(phone_number_id, token, headers, body)
            case [phone_number_id, "media"], "POST":
                return self._upload(phone_number_id, token, headers, body)
            case [business_account_id, "message_templates"], "GET":
                return self._templates(business_account_id, token, path, query)
        return graph_error(400, 2500, "Unknown path components")

    def _number(self, phone_number_id: str, token: str) -> _Number | _Answer:
        number = self._numbers.get(phone_number_id)
        if number is None:
            return graph_error(
                400, 100, f"Unsupported request. Object with ID '{phone_number_id}' does not exist.", subcode=33
            )
        return number if token == number.access_token else UNAUTHORIZED

    def _object(self, object_id: str, token: str) -> _Answer:
        if (media := self._media.get(object_id)) is not None:
            if token != media.access_token:
                return UNAUTHORIZED
            info = {
                "url": f"{self.root}/download/{object_id}",
                "mime_type": media.mime_type,
                "sha256": hashlib.sha256(media.data).hexdigest(),
                "file_size": media.reported_size,
                "id": object_id,
                "messaging_product": "whatsapp",
            }
            return _json(200, info)
        number = self._number(object_id, token)
        if isinstance(number, _Answer):
            return number
        fields = {"display_phone_number": number.display_phone_number, "verified_name": number.verified_name}
        return _json(200, {**fields, "id": object_id})

    def _download(self, media_id: str, token: str) -> _Answer:
        media = self._media.get(media_id)
        if media is None:
            return graph_error(404, 100, "media not found")
        if token != media.access_token:
            return UNAUTHORIZED
        return _Answer(200, media.data, media.mime_type)

    def _message(self, phone_number_id: str, token: str, headers: dict[str, str], raw: bytes) -> _Answer:
        number = self._number(phone_number_id, token)
        if isinstance(number, _Answer):
            return number
        try:
            body = json.loads(raw)
        except ValueError:
            return _invalid("the body is not JSON")
        if not isinstance(body, dict):
            return _invalid("the body is not an object")
        if problem := _message_problem(body):
            return _invalid(problem)
        wamid = f"wamid.{base64.b64encode(uuid4().bytes).decode()}"
        self.sent.append(SentMessage(phone_number_id, body["to"], body["type"], body, wamid, headers))
        answer = {
            "messaging_product": "whatsapp",
            "contacts": [{"input": body["to"], "wa_id": body["to"]}],
            "messages": [{"id": wamid}],
        }
        return _json(200, answer)

    def _upload(self, phone_number_id: str, token: str, headers: dict[str, str], raw: bytes) -> _Answer:
        number = self._number(phone_number_id, token)
        if isinstance(number, _Answer):
            return number
        form = multipart_form(headers.get("content-type", ""), raw)
        if form is None or "file" not in form[1]:
            return _invalid("expected multipart with a file")
        fields, files = form
        if fields.get("messaging_product") != "whatsapp" or not fields.get("type"):
            return _invalid("messaging_product=whatsapp and type are required")
        data = files["file"][2]
        media_id = _new_id()
        self.uploads[media_id] = (data, fields["type"])
        self._media[media_id] = _Media(data, fields["type"], token, len(data))
        return _json(200, {"id": media_id})

    def _templates(self, business_account_id: str, token: str, path: str, query: dict[str, str]) -> _Answer:
        account = self._accounts.get(business_account_id)
        if account is None:
            return graph_error(400, 100, f"Unsupported request. Object with ID '{business_account_id}' does not exist.")
        if token != account.access_token:
            return UNAUTHORIZED
        limit = int(query.get("limit", "25"))
        start = int(base64.urlsafe_b64decode(query["after"]).decode()) if "after" in query else 0
        end = start + limit
        page: dict[str, Any] = {"data": account.templates[start:end]}
        if page["data"]:
            page["paging"] = {"cursors": {"before": _cursor(start), "after": _cursor(end)}}
            if end < len(account.templates):
                next_query = {key: value for key, value in query.items() if key != "after"} | {"after": _cursor(end)}
                page["paging"]["next"] = f"{self.root}{path}?{urlencode(next_query)}"
        return _json(200, page)


def _message_problem(body: dict[str, Any]) -> str | None:
    """What is wrong with a POST /messages body, as Meta would refuse it; None when it is well formed."""
    if body.get("messaging_product") != "whatsapp":
        return "messaging_product must be whatsapp"
    if body.get("recipient_type", "individual") != "individual":
        return "recipient_type must be individual"
    to = body.get("to")
    if not isinstance(to, str) or not (to.isascii() and to.isdigit()):
        return "to must be digits"
    kind = body.get("type")
    if kind not in MESSAGE_TYPES:
        return "unknown type"
    content = body.get(kind)
    if not isinstance(content, dict):
        return f"{kind} object is required"
    context = body.get("context")
    if context is not None and not (isinstance(context, dict) and isinstance(context.get("message_id"), str)):
        return "context.message_id is required"
    if kind == "text" and not (isinstance(content.get("body"), str) and content["body"]):
        return "text.body is required"
    if kind in MEDIA_KINDS and not (content.get("id") or content.get("link")):
        return f"{kind}.id or {kind}.link is required"
    if kind == "template":
        language = content.get("language")
        if not content.get("name") or not (isinstance(language, dict) and language.get("code")):
            return "template.name and template.language.code are required"
    return None


def _new_id() -> str:
    return str(int.from_bytes(uuid4().bytes[:7], "big"))


def _cursor(index: int) -> str:
    return base64.urlsafe_b64encode(str(index).encode()).decode()


async def _respond(send: Any, answer: _Answer) -> None:
    headers = [(b"content-type", answer.content_type.encode()), (b"content-length", str(len(answer.body)).encode())]
    headers += [(key.encode(), value.encode()) for key, value in answer.headers.items()]
    await send({"type": "http.response.start", "status": answer.status, "headers": headers})
    await send({"type": "http.response.body", "body": answer.body})


@contextmanager
def running_fake_graph() -> Iterator[FakeGraph]:
    """Serve a FakeGraph on 127.0.0.1; `url` is the base URL for the client (it includes the version)."""
    app = FakeGraph()
    with serving_in_thread(app, "fake-graph") as root:
        app.root = root
        app.url = f"{root}/{GRAPH_VERSION}"
        yield app


# Templates as Meta lists them: one approved with two body parameters, one rejected.
SAMPLE_TEMPLATES: list[dict[str, Any]] = [
    {
        "name": "seguimiento_envio",
        "language": "es",
        "status": "APPROVED",
        "category": "UTILITY",
        "components": [{"type": "BODY", "text": "Hola {{1}}, tu envío {{2}} tiene novedades."}],
    },
    {
        "name": "promo",
        "language": "es",
        "status": "REJECTED",
        "category": "MARKETING",
        "components": [{"type": "BODY", "text": "Oferta"}],
    },
]


# Webhooks: what Meta POSTs to the app (numbers are digits without "+", timestamps are strings of Unix seconds).


def sign(app_secret: str, body: bytes) -> str:
    """The X-Hub-Signature-256 header Meta sends with `body`."""
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


def envelope(
    phone_number_id: str,
    *,
    messages: Sequence[dict[str, Any]] = (),
    statuses: Sequence[dict[str, Any]] = (),
    contacts: Sequence[dict[str, Any]] = (),
    display_phone_number: str = DEFAULT_DISPLAY_PHONE_NUMBER,
    business_account_id: str = DEFAULT_BUSINESS_ACCOUNT_ID,
) -> dict[str, Any]:
    """A whole `messages` webhook for one phone number."""
    value: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": display_phone_number, "phone_number_id": phone_number_id},
    }
    if contacts:
        value["contacts"] = list(contacts)
    if messages:
        value["messages"] = list(messages)
    if statuses:
        value["statuses"] = list(statuses)
    change = {"field": "messages", "value": value}
    return {"object": "whatsapp_business_account", "entry": [{"id": business_account_id, "changes": [change]}]}


def text_message(
    from_: str, body: str, message_id: str | None = None, timestamp: int | None = None, reply_to: str | None = None
) -> dict[str, Any]:
    """A customer's text; `reply_to` quotes one of the business's messages (its wamid)."""
    message = _inbound(from_, "text", message_id, timestamp)
    message["text"] = {"body": body}
    if reply_to is not None:
        message["context"] = {"from": DEFAULT_DISPLAY_PHONE_NUMBER, "id": reply_to}
    return message


def media_message(
    from_: str,
    kind: str,
    media_id: str,
    mime_type: str,
    caption: str | None = None,
    file_name: str | None = None,
    message_id: str | None = None,
) -> dict[str, Any]:
    """A customer's image, audio, video, document or sticker; fetch its bytes with the media id."""
    media: dict[str, Any] = {
        "id": media_id,
        "mime_type": mime_type,
        "sha256": hashlib.sha256(media_id.encode()).hexdigest(),
    }
    if caption is not None:
        media["caption"] = caption
    if file_name is not None:
        media["filename"] = file_name
    if kind == "audio":
        media["voice"] = mime_type.startswith("audio/ogg")
    message = _inbound(from_, kind, message_id, None)
    message[kind] = media
    return message


def reaction_message(from_: str, target_id: str, emoji: str, message_id: str | None = None) -> dict[str, Any]:
    """A customer's reaction to `target_id`; an empty `emoji` removes it."""
    message = _inbound(from_, "reaction", message_id, None)
    message["reaction"] = {"message_id": target_id, "emoji": emoji}
    return message


def status_update(
    message_id: str,
    status: str,
    recipient: str,
    *,
    errors: list[dict[str, Any]] | None = None,
    timestamp: int | None = None,
) -> dict[str, Any]:
    """What happened to one of the business's messages: sent, delivered, read or failed (with `errors`)."""
    update: dict[str, Any] = {
        "id": message_id,
        "status": status,
        "timestamp": str(timestamp if timestamp is not None else int(time.time())),
        "recipient_id": recipient,
    }
    if errors:
        update["errors"] = errors
    return update


def contact(wa_id: str, name: str) -> dict[str, Any]:
    """The sender's profile, as Meta lists it next to the messages."""
    return {"profile": {"name": name}, "wa_id": wa_id}


def _inbound(from_: str, kind: str, message_id: str | None, timestamp: int | None) -> dict[str, Any]:
    return {
        "from": from_,
        "id": message_id or f"wamid.{base64.b64encode(uuid4().bytes).decode()}",
        "timestamp": str(timestamp if timestamp is not None else int(time.time())),
        "type": kind,
    }


def main() -> None:
    """`python -m tests.fakes.graph_api --numbers 10 --token T`: Meta for a benchmark, as its own process (its work
    does not compete with the benchmark's). Numbers are `BENCH_NUMBER_BASE + i`; prints the base URL and serves until
    killed."""
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("--numbers", type=int, default=10)
    parser.add_argument("--token", required=True)
    args = parser.parse_args()
    with running_fake_graph() as graph:
        for index in range(args.numbers):
            graph.add_number(str(BENCH_NUMBER_BASE + index), args.token, display_phone_number=f"+5933{index:07d}")
        print(graph.url, flush=True)
        threading.Event().wait()


BENCH_NUMBER_BASE = 106540352240000

if __name__ == "__main__":
    main()

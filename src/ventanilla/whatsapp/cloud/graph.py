"""A small client of the WhatsApp Cloud API (Meta's Graph API) for one business phone number.

It sends text, media and template messages, uploads and downloads media, reads the number and its approved
templates, and turns every refusal into one classified `GraphError`: whether trying again later may help, whether
the access token was rejected, and a short title an agent can read. Timeouts belong to the `aiohttp.ClientSession`
passed in (aiohttp, not httpx: httpx's per-request overhead was the largest share of the server's CPU per message on
the Cloud API path). Sends go through a per-number token bucket (`RateLimiter`) that also stops everyone after Meta
throttles. Nothing here logs; the token never appears in an error, and long digit runs (phone numbers) are masked in
titles.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from ventanilla.whatsapp.transport import MEDIA_TYPES  # the kinds of file a message may carry

RETRYABLE_CODES: frozenset[int] = frozenset({1, 2, 4, 80007, 130429, 131000, 131016, 131048, 131056, 133004})
TOKEN_CODES: frozenset[int] = frozenset({190})
THROTTLE_CODES: frozenset[int] = frozenset({4, 80007, 130429})  # Meta asks everybody to slow down
CAPTIONED_KINDS: frozenset[str] = frozenset({"image", "video", "document"})

TITLE_MAX_CHARS = 300
DEFAULT_THROTTLE_PAUSE_SECONDS = 1.0
# A large file on a slow link may take longer than a request's 30 s in all: only a stalled read fails it.
DOWNLOAD_TIMEOUT = aiohttp.ClientTimeout(total=None, connect=10, sock_read=30)
TEMPLATE_PAGE_SIZE = 100
TEMPLATE_MAX_PAGES = 20

_TOKEN_EPSILON = 1e-9  # a float refill a hair short of a whole token counts as one (no sleeps shorter than a tick)
_PLACEHOLDER = re.compile(r"\{\{\s*(\d+)\s*\}\}")
_NOT_DIGIT = re.compile(r"[^0-9]")
_PHONE_LIKE = re.compile(r"\+?[0-9]{8,}")
_NETWORK_ERRORS = (aiohttp.ClientError, TimeoutError, OSError)  # timeouts, refused connections, broken bodies


class GraphError(Exception):
    """A refusal or failure of the Graph API, classified."""

    def __init__(
        self,
        *,
        status: int,
        title: str,
        code: int | None = None,
        subcode: int | None = None,
        retryable: bool = False,
        retry_after: float | None = None,
        token_rejected: bool = False,
    ) -> None:
        self.status = status  # HTTP status; 0 when Meta did not answer
        self.code = code
        self.subcode = subcode
        self.title = title
        self.retryable = retryable
        self.retry_after = retry_after
        self.token_rejected = token_rejected
        super().__init__(str(self))

    def __str__(self) -> str:
        if self.code is not None:
            return f"Meta {self.code}: {self.title}"
        if self.status >= 400:
            return f"Meta HTTP {self.status}: {self.title}"
        if self.status == 0:
            return f"Meta no respondió: {self.title}"
        return self.title


@dataclass(frozen=True, slots=True)
class PhoneNumberInfo:
    phone_number: str  # E.164: "+" and digits
    verified_name: str | None


@dataclass(frozen=True, slots=True)
class Template:
    """An approved (or not) message template; only its BODY text matters to agents."""

    name: str
    language: str
    status: str
    category: str | None
    body: str  # with {{1}}.. placeholders; "" when the template has no BODY
    parameter_count: int  # distinct {{n}} placeholders in body

    def render(self, parameters: Sequence[str]) -> str:
        """The body as the customer will read it. Placeholders take the parameters in the order of their numbers."""
        if len(parameters) != self.parameter_count:
            raise ValueError(f"template {self.name} takes {self.parameter_count} parameters, got {len(parameters)}")
        numbers = sorted({int(number) for number in _PLACEHOLDER.findall(self.body)})
        by_number = dict(zip(numbers, parameters, strict=True))
        return _PLACEHOLDER.sub(lambda match: by_number[int(match.group(1))], self.body)


class RateLimiter:
    """Token bucket per phone number for message sends (Cloud API default throughput is 80 msg/s); `acquire()` awaits
    a token. Also `pause(seconds)`: after a 429/130429 nobody sends for that long, and sending resumes at the steady
    rate rather than with a burst.

    `clock` and `sleep` are replaceable so tests can measure without real time.
    """

    def __init__(
        self,
        per_second: float = 80.0,
        burst: int = 80,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if per_second <= 0 or burst < 1:
            raise ValueError("per_second must be positive and burst at least 1")
        self._rate = per_second
        self._burst = float(burst)
        self._clock = clock
        self._sleep = sleep
        self._tokens = float(burst)
        self._updated = clock()
        self._paused_until = 0.0
        self._lock = asyncio.Lock()  # waiters take tokens in arrival order

    async def acquire(self) -> None:
        async with self._lock:
            while True:
                now = self._clock()
                self._refill(now)
                if now >= self._paused_until and self._tokens >= 1 - _TOKEN_EPSILON:
                    self._tokens = max(self._tokens - 1, 0.0)
                    return
                await self._sleep(max(self._paused_until - now, (1 - self._tokens) / self._rate))

    def pause(self, seconds: float) -> None:
        until = self._clock() + max(seconds, 0.0)
        if until <= self._paused_until:
            return
        self._paused_until = until
        self._tokens = 0.0
        self._updated = until  # nothing accrues while paused

    def _refill(self, now: float) -> None:
        if now > self._updated:
            self._tokens = min(self._burst, self._tokens + (now - self._updated) * self._rate)
            self._updated = now


class GraphClient:
    """One Cloud API phone number's client. Never logs the token or the payload."""

    def __init__(
        self,
        base_url: str,
        phone_number_id: str,
        access_token: str,
        http: aiohttp.ClientSession,
        limiter: RateLimiter | None = None,
    ) -> None:
        self._base = base_url.rstrip("/")
        self._origin = _origin(self._base)
        self._phone_number_id = phone_number_id
        self._token = access_token
        self._auth = {"Authorization": f"Bearer {access_token}"}
        self._http = http
        self.limiter = limiter or RateLimiter()

    async def phone_number(self) -> PhoneNumberInfo:
        params = {"fields": "display_phone_number,verified_name"}
        found = await self._call("GET", f"{self._base}/{self._phone_number_id}", params=params)
        digits = _NOT_DIGIT.sub("", str(found.get("display_phone_number", "")))
        if not digits:
            raise _unexpected("el número no trae display_phone_number")
        verified_name = found.get("verified_name")
        return PhoneNumberInfo(f"+{digits}", verified_name if isinstance(verified_name, str) else None)

    async def send_text(self, to: str, body: str, reply_to: str | None = None) -> str:
        return await self._send(to, "text", {"body": body}, reply_to)

    async def send_media(self, to: str, kind: str, media_id: str, caption: str, file_name: str | None) -> str:
        if kind not in MEDIA_TYPES:
            raise ValueError(f"unknown media kind {kind!r}")
        media: dict[str, Any] = {"id": media_id}
        if caption and kind in CAPTIONED_KINDS:
            media["caption"] = caption
        if file_name and kind == "document":
            media["filename"] = file_name
        return await self._send(to, kind, media)

    async def send_template(self, to: str, name: str, language: str, parameters: Sequence[str]) -> str:
        template: dict[str, Any] = {"name": name, "language": {"code": language}}
        if parameters:
            texts = [{"type": "text", "text": parameter} for parameter in parameters]
            template["components"] = [{"type": "body", "parameters": texts}]
        return await self._send(to, "template", template)

    async def upload(self, data: bytes, mime_type: str, file_name: str | None) -> str:
        form = aiohttp.FormData()
        form.add_field("messaging_product", "whatsapp")
        form.add_field("type", mime_type)
        form.add_field("file", data, filename=file_name or "file", content_type=mime_type)
        answer = await self._call("POST", f"{self._base}/{self._phone_number_id}/media", data=form)
        media_id = answer.get("id")
        if not isinstance(media_id, str) or not media_id:
            raise _unexpected("la subida no devolvió un id")
        return media_id

    async def download(self, media_id: str, max_bytes: int) -> tuple[bytes, str | None]:
        """A customer's file: its bytes and MIME type. Refused (not retryable) when larger than `max_bytes`, by
        Meta's declared size or by what actually arrives."""
        info = await self._call("GET", f"{self._base}/{media_id}")
        url = info.get("url")
        if not isinstance(url, str) or not url:
            raise _unexpected("el archivo no trae url")
        if urlsplit(url).scheme != "https" and _origin(url) != self._origin:
            raise _unexpected("el archivo trae una url insegura")  # never send the token in clear to a stranger
        mime_type = info.get("mime_type") if isinstance(info.get("mime_type"), str) else None
        declared = info.get("file_size")
        if isinstance(declared, int | str) and str(declared).isdigit() and int(declared) > max_bytes:
            raise _too_large(max_bytes)
        try:
            async with self._http.get(
                url, headers=self._auth, allow_redirects=False, timeout=DOWNLOAD_TIMEOUT
            ) as response:
                if not _succeeded(response):
                    raise self._refusal(response, await response.read())
                chunks: list[bytes] = []
                received = 0
                async for chunk in response.content.iter_any():
                    received += len(chunk)
                    if received > max_bytes:
                        raise _too_large(max_bytes, response.status)
                    chunks.append(chunk)
        except _NETWORK_ERRORS as exc:
            raise _network_error(exc) from exc
        return b"".join(chunks), mime_type or response.headers.get("Content-Type")

    async def templates(self, business_account_id: str) -> list[Template]:
        """All of the business account's templates, following Meta's pages (at most 20 of 100)."""
        params: dict[str, str | int] | None = {
            "fields": "name,language,status,category,components",
            "limit": TEMPLATE_PAGE_SIZE,
        }
        url: str | None = f"{self._base}/{business_account_id}/message_templates"
        found: list[Template] = []
        for _ in range(TEMPLATE_MAX_PAGES):
            if url is None:
                break
            page = await self._call("GET", url, params=params)
            found += [_template(item) for item in page.get("data", []) if isinstance(item, dict)]
            paging = page.get("paging")
            next_url = paging.get("next") if isinstance(paging, dict) else None
            if isinstance(next_url, str) and next_url and _origin(next_url) != self._origin:
                raise _unexpected("la paginación de plantillas apunta a otro servidor")
            url = next_url if isinstance(next_url, str) and next_url else None
            params = None  # the next URL carries them
        return found

    async def _send(self, to: str, kind: str, content: dict[str, Any], reply_to: str | None = None) -> str:
        message: dict[str, Any] = {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": _digits(to),
            "type": kind,
            kind: content,
        }
        if reply_to:
            message["context"] = {"message_id": reply_to}
        await self.limiter.acquire()
        answer = await self._call("POST", f"{self._base}/{self._phone_number_id}/messages", json=message)
        messages = answer.get("messages")
        wamid = (
            messages[0].get("id") if isinstance(messages, list) and messages and isinstance(messages[0], dict) else None
        )
        if not isinstance(wamid, str) or not wamid:
            raise _unexpected("el envío no devolvió el id del mensaje")
        return wamid

    async def _call(self, method: str, url: str, **request: Any) -> dict[str, Any]:
        try:
            async with self._http.request(
                method, url, headers=self._auth, allow_redirects=False, **request
            ) as response:
                raw = await response.read()
        except _NETWORK_ERRORS as exc:
            raise _network_error(exc) from exc
        if not _succeeded(response):
            raise self._refusal(response, raw)
        answer = _json_or_none(raw)
        if not isinstance(answer, dict):
            raise _unexpected("la respuesta no es JSON", response.status)
        return answer

    def _refusal(self, response: aiohttp.ClientResponse, raw: bytes) -> GraphError:
        """The GraphError for an error response (`raw` is its body); pauses the limiter when Meta throttles."""
        status = response.status
        body = _json_or_none(raw)
        error = body.get("error") if isinstance(body, dict) else None
        error = error if isinstance(error, dict) else {}
        code = _int_or_none(error.get("code"))
        subcode = _int_or_none(error.get("error_subcode"))
        error_data = error.get("error_data")
        details = error_data.get("details") if isinstance(error_data, dict) else None
        raw_title = next(
            (text for text in (details, error.get("message"), error.get("title")) if isinstance(text, str) and text),
            response.reason or f"HTTP {status}",
        )
        retry_after = _retry_after(response.headers.get("Retry-After"))
        if status == 429 or code in THROTTLE_CODES:
            self.limiter.pause(retry_after or DEFAULT_THROTTLE_PAUSE_SECONDS)
        return GraphError(
            status=status,
            code=code,
            subcode=subcode,
            title=_clean_title(raw_title, self._token),
            retryable=status >= 500 or status == 429 or code in RETRYABLE_CODES,
            retry_after=retry_after,
            token_rejected=status == 401 or code in TOKEN_CODES,
        )


def _template(item: dict[str, Any]) -> Template:
    components = item.get("components")
    body = next(
        (
            str(component.get("text") or "")
            for component in (components if isinstance(components, list) else [])
            if isinstance(component, dict) and str(component.get("type", "")).upper() == "BODY"
        ),
        "",
    )
    category = item.get("category")
    return Template(
        name=str(item.get("name", "")),
        language=str(item.get("language", "")),
        status=str(item.get("status", "")),
        category=category if isinstance(category, str) else None,
        body=body,
        parameter_count=len(set(_PLACEHOLDER.findall(body))),
    )


def _succeeded(response: aiohttp.ClientResponse) -> bool:
    return 200 <= response.status < 300  # a redirect is not followed, and not a success either


def _json_or_none(raw: bytes) -> Any:
    """The decoded body whatever its Content-Type (Meta's is not always application/json); None when not JSON."""
    try:
        return json.loads(raw)
    except ValueError:  # also a body that is not text at all
        return None


def _digits(e164: str) -> str:
    digits = e164.removeprefix("+")
    if not (digits.isascii() and digits.isdigit()):
        raise ValueError("the recipient must be an E.164 number")  # the number itself stays out of messages
    return digits


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme, parts.netloc


def _int_or_none(value: object) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def _retry_after(header: str | None) -> float | None:
    """Seconds from a Retry-After header: a number of seconds or an HTTP date."""
    if not header:
        return None
    try:
        return max(float(header), 0.0)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(header)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - time.time(), 0.0)


def _clean_title(text: str, token: str) -> str:
    """One line, no token, no phone-like digit runs, at most 300 characters."""
    cleaned = " ".join(text.replace(token, "…").split()) if token else " ".join(text.split())
    cleaned = _PHONE_LIKE.sub("…", cleaned)
    if len(cleaned) > TITLE_MAX_CHARS:
        cleaned = cleaned[: TITLE_MAX_CHARS - 1].rstrip() + "…"
    return cleaned


def _network_error(exc: Exception) -> GraphError:
    if isinstance(exc, TimeoutError):  # asyncio's and aiohttp's connect and read timeouts are TimeoutErrors too
        title = "se agotó el tiempo de espera"
    elif isinstance(exc, aiohttp.ClientConnectorError):  # refused, unreachable, or the name did not resolve
        title = "no se pudo conectar"
    else:
        title = f"error de red ({type(exc).__name__})"
    return GraphError(status=0, title=title, retryable=True)


def _unexpected(what: str, status: int = 200) -> GraphError:
    return GraphError(status=status, title=f"respuesta inesperada de Meta: {what}")


def _too_large(max_bytes: int, status: int = 200) -> GraphError:
    return GraphError(status=status, title=f"el archivo supera el límite de {_human_size(max_bytes)}")


def _human_size(size: int) -> str:
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):.0f} MB"
    if size >= 1024:
        return f"{size / 1024:.0f} KB"
    return f"{size} bytes"

"""Cross-site request defenses: the session cookie only works for requests this site's own pages make.

The web pages authenticate with a cookie the browser attaches by itself, so another site could make a signed-in
visitor's browser send a request (a form post, a `fetch` with a `text/plain` body). Two rules stop that:

- An unsafe request (POST, PUT, PATCH, DELETE) without an `Authorization` header must come from this site: its
  `Origin` (or `Referer` when `Origin` is absent) names this scheme://host, and `Sec-Fetch-Site` is not
  `cross-site`; 403 otherwise. A request carrying the session cookie with neither header is refused too (browsers
  always send `Origin` on these methods). Bearer-token callers are not browsers and are not checked.
- A JSON endpoint reads only a JSON body (`application/json` or `application/*+json`): 415 otherwise, so a form
  or `text/plain` body, which browsers send cross-site without asking first, is never read as JSON.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from litestar.connection import ASGIConnection
from litestar.datastructures import Headers
from litestar.enums import ScopeType
from litestar.exceptions import HTTPException, PermissionDeniedException
from litestar.middleware import ASGIMiddleware
from litestar.status_codes import HTTP_415_UNSUPPORTED_MEDIA_TYPE
from litestar.types import ASGIApp, Receive, Scope, Send

from ventanilla.http_errors import json_body

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
DEFAULT_PORTS = {"http": 80, "https": 443}


class SameOriginMiddleware(ASGIMiddleware):
    scopes = (ScopeType.HTTP,)

    def __init__(self, session_cookie: str) -> None:
        self.session_cookie = session_cookie

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        if scope["method"] in UNSAFE_METHODS:
            connection: ASGIConnection[object, object, object, object] = ASGIConnection(scope)
            if "authorization" not in connection.headers and not self._from_this_site(connection):
                raise PermissionDeniedException("cross-site request refused: send it from this site's own pages")
        await next_app(scope, receive, send)

    def _from_this_site(self, connection: ASGIConnection[object, object, object, object]) -> bool:
        headers = connection.headers
        if headers.get("sec-fetch-site") == "cross-site":
            return False
        claimed = headers.get("origin") or headers.get("referer")
        if claimed is None:
            return self.session_cookie not in connection.cookies  # API clients without a session: nothing to forge
        sender = _origin(claimed)
        own = _origin(str(connection.base_url))
        if sender is None or own is None or sender[1] != own[1]:
            return False
        # https seen as http here: TLS ended at a proxy that is not in TRUSTED_PROXIES. Same host and port, so a
        # page of this very site; a cross-site page could not claim it.
        return sender[0] == own[0] or (sender[0], own[0]) == ("https", "http")


def _origin(url: str) -> tuple[str, str] | None:
    """(scheme, host[:port]) with the scheme's default port left out; None for anything else (`null`, garbage)."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
        return None
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return parts.scheme, host if port in (None, DEFAULT_PORTS[parts.scheme]) else f"{host}:{port}"


class JsonBodyOnlyMiddleware(ASGIMiddleware):
    scopes = (ScopeType.HTTP,)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        headers = ASGIConnection(scope).headers
        reads_json = json_body(scope["route_handler"]) is not None
        if reads_json and _has_body(headers) and not is_json_content_type(headers.get("content-type")):
            raise HTTPException(status_code=HTTP_415_UNSUPPORTED_MEDIA_TYPE, detail="send the body as application/json")
        await next_app(scope, receive, send)


def _has_body(headers: Headers) -> bool:
    return headers.get("content-length", "0").strip() not in ("", "0") or "transfer-encoding" in headers


def is_json_content_type(content_type: str | None) -> bool:
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    return media_type == "application/json" or (media_type.startswith("application/") and media_type.endswith("+json"))

"""HTTP errors shared by the controllers: a 409 for a state that forbids the action, and bad input as a 400 that
always names the offending field.

Litestar converts a decoded JSON body into the handler's `data` type with msgspec's lax mode, meant for query
strings ("1" -> True, 0 -> 1970-01-01). `read_input_strictly` runs before every handler and holds bodies to their
exact types, and refuses NUL in any query parameter (no text PostgreSQL stores may hold it; bodies refuse it through
`ventanilla.text.Text`). msgspec reports a missing or unknown field against the whole body and names the field only
inside the message; `validation_exception_handler` moves that name into `key` so clients can point at it directly.
"""

from __future__ import annotations

import re
import sys
from logging import Logger
from typing import Any

import msgspec
from litestar import Request, Response
from litestar.enums import RequestEncodingType
from litestar.exceptions import (
    ClientException,
    HTTPException,
    InternalServerException,
    ServiceUnavailableException,
    ValidationException,
)
from litestar.exceptions.responses import create_exception_response
from litestar.handlers.base import BaseRouteHandler
from litestar.params import BodyKwarg
from litestar.status_codes import HTTP_409_CONFLICT
from litestar.types import Scope
from litestar.typing import FieldDefinition
from sqlalchemy.exc import SQLAlchemyError

from ventanilla.cluster.commands import NoOwnerError
from ventanilla.db.errors import describe, is_refused_content, is_unavailable, sqlstate
from ventanilla.inbox.window import ServiceWindowClosedError
from ventanilla.media.errors import (
    EmptyUploadError,
    MediaError,
    MediaExpiredError,
    MediaNotFoundError,
    MediaNotReadyError,
    MediaNotRetryableError,
    UnsupportedUploadError,
    UploadError,
    UploadTooLargeError,
)
from ventanilla.schemas import E164_PATTERN, EMAIL_PATTERN
from ventanilla.secret_box import SecretUnreadable
from ventanilla.text import NO_NUL_PATTERN, VISIBLE_PATTERN, has_nul
from ventanilla.whatsapp.cloud.accounts import MissingSecretsError
from ventanilla.whatsapp.cloud.graph import GraphError
from ventanilla.whatsapp.cloud.inbound import WebhookError
from ventanilla.whatsapp.cloud.templates import TemplateNotUsableError, TemplatesUnavailableError
from ventanilla.whatsapp.cloud.webhook import SignatureError


class ConflictException(ClientException):
    """The request is well formed, but the current state forbids it (already connected, not FAILED, ...)."""

    status_code = HTTP_409_CONFLICT


NUL_MESSAGE = "must not contain the NUL character (\\u0000)"
CLIENT_GONE = "client disconnected prematurely"  # Litestar's words when the body stops before its end
_FIELD_IN_MESSAGE = re.compile(r"(?:missing required field|unknown field) `([^`]+)`")
_AT_PATH = re.compile(r" - at `\$([^`]*)`$")
# msgspec quotes the pattern a string broke; the shared ones have a plainer wording.
_PATTERN_MESSAGES = {
    f"Expected `str` matching regex {pattern!r}": message
    for pattern, message in {
        NO_NUL_PATTERN: NUL_MESSAGE,
        VISIBLE_PATTERN: f"must have a visible character and {NUL_MESSAGE}",
        EMAIL_PATTERN: "not an email address",
        E164_PATTERN: "not an E.164 phone number: + then 8 to 15 digits, e.g. +593991234567",
    }.items()
}


def json_body(handler: BaseRouteHandler) -> FieldDefinition | None:
    """The `data` parameter of a handler that reads a JSON body (not a form, not a file); None for the others."""
    data = getattr(handler, "parsed_data_field", None)
    if data is None:
        return None
    declared = data.kwarg_definition
    return None if isinstance(declared, BodyKwarg) and declared.media_type != RequestEncodingType.JSON else data


async def read_input_strictly(request: Request[Any, Any, Any]) -> None:
    """400 for a NUL in a query parameter, or a JSON body that is not exactly of the handler's `data` type."""
    for name, value in request.query_params.multi_items():
        if has_nul(name) or has_nul(value):
            raise _invalid("query", name.replace("\x00", ""), NUL_MESSAGE)
    data = json_body(request.route_handler)
    if data is None:
        return
    try:
        body = await request.body()
    except InternalServerException as exc:
        if exc.detail != CLIENT_GONE:
            raise
        # Litestar's 500 for a client that hung up mid-body (a timed-out caller): theirs, not ours, and nobody reads
        # the answer; a 400 keeps it out of the error log's tracebacks.
        raise ClientException("the client closed the connection before its whole body arrived") from None
    decode_strictly(body, data.annotation)


def decode_strictly(body: bytes, annotation: Any) -> Any:
    """`body` as exactly `annotation` (no lax conversions); a 400 that names the field otherwise."""
    try:
        return msgspec.json.decode(body, type=annotation, strict=True)
    except msgspec.ValidationError as exc:
        raise _invalid("body", *_located(str(exc))) from None
    except msgspec.DecodeError as exc:
        raise _invalid("body", "body", f"not valid JSON: {exc}") from None


def invalid_field(key: str, message: str, source: str = "body") -> ValidationException:
    """A 400 for one field, in the shape every other bad input gets."""
    return _invalid(source, key, message)


def _located(message: str) -> tuple[str, str]:
    """(key, message) of a msgspec error: `$.items[2].name` -> `items[2].name`; a missing or unknown field is named
    by itself, after the path of the object that lacks or has it."""
    at = _AT_PATH.search(message)
    path = at.group(1).removeprefix(".") if at else ""
    text = message[: at.start()] if at else message
    field = _FIELD_IN_MESSAGE.search(text)
    if field:
        path = f"{path}.{field.group(1)}" if path else field.group(1)
    return path or "body", _PATTERN_MESSAGES.get(text, text)


def _invalid(source: str, key: str, message: str) -> ValidationException:
    return ValidationException(detail=f"{key}: {message}", extra=[{"key": key, "message": message, "source": source}])


def validation_exception_handler(request: Request[Any, Any, Any], exc: ValidationException) -> Response[Any]:
    if isinstance(exc.extra, list):
        for error in exc.extra:
            if not isinstance(error, dict):
                continue
            message = str(error.get("message", ""))
            if error.get("key") == "data":
                match = _FIELD_IN_MESSAGE.search(message)
                if match:
                    error["key"] = match.group(1)
            if message in _PATTERN_MESSAGES:
                error["message"] = _PATTERN_MESSAGES[message]
    return create_exception_response(request, exc)


DATABASE_AWAY = "the database is unavailable right now; try again in a few seconds"
RETRY_AFTER_SECONDS = "5"


def database_error_handler(request: Request[Any, Any, Any], exc: SQLAlchemyError) -> Response[Any]:
    """A statement that escaped the services' own error mapping: 503 with Retry-After while the database is away;
    409 when it refused the rows for a constraint (a race the service's checks could not see); 500 otherwise."""
    if is_unavailable(exc):
        error: HTTPException = ServiceUnavailableException(DATABASE_AWAY, headers={"Retry-After": RETRY_AFTER_SECONDS})
    elif is_refused_content(exc) and (sqlstate(exc) or "").startswith("23"):
        error = ConflictException("conflicts with data stored meanwhile; reload and try again")
    else:
        error = InternalServerException()
    return create_exception_response(request, error)


def log_uncaught(logger: Logger, scope: Scope, _: list[str]) -> None:
    """Litestar's log line for an uncaught error, except that the database being away is one warning line: it is
    expected during a failover and says nothing a traceback would add."""
    error = sys.exc_info()[1]
    if error is not None and is_unavailable(error):
        logger.warning("%s %s: database unavailable (%s)", scope.get("method"), scope["path"], describe(error))
        return
    logger.exception("Uncaught exception (connection_type=%s, path=%r):", scope["type"], scope["path"])


# The media domain's refusals (see `media.errors`): registered for `MediaError` in `create_app`.
MEDIA_ERROR_STATUS: dict[type[MediaError], int] = {
    MediaNotFoundError: 404,
    MediaNotReadyError: 409,
    MediaNotRetryableError: 409,
    MediaExpiredError: 410,
    EmptyUploadError: 400,
    UploadTooLargeError: 413,
    UnsupportedUploadError: 415,
}


def media_error_handler(request: Request[Any, Any, Any], exc: MediaError) -> Response[Any]:
    """404 (never says whether another point has it), 409 PENDING/FAILED, 410 EXPIRED; an upload's 400/413/415
    names the form field in `extra` like every bad input."""
    status = next((code for kind, code in MEDIA_ERROR_STATUS.items() if isinstance(exc, kind)), 400)
    extra = [{"key": exc.field, "message": str(exc), "source": "body"}] if isinstance(exc, UploadError) else None
    return create_exception_response(request, HTTPException(status_code=status, detail=str(exc), extra=extra))


def no_owner_handler(request: Request[Any, Any, Any], exc: NoOwnerError) -> Response[Any]:
    """A point's socket is changing hands between replicas (or its owner did not answer): 503, try again shortly."""
    error = ServiceUnavailableException(str(exc), headers={"Retry-After": RETRY_AFTER_SECONDS})
    return create_exception_response(request, error)


# The Cloud API's refusals, registered for each of these in `create_app`.
CLOUD_ERRORS = (
    SignatureError,
    WebhookError,
    MissingSecretsError,
    TemplateNotUsableError,
    TemplatesUnavailableError,
    ServiceWindowClosedError,
    GraphError,
    SecretUnreadable,
)


def cloud_error_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """401 a webhook body not signed by its point's app; 400 one that is not Meta's, or a first setup without its
    secrets; 422 a template that is not approved or does not fit; 409 no templates here, or the 24-hour window is
    closed; 503 Meta unreachable or busy (or the secrets sealed with another key); 502 Meta refused."""
    error: HTTPException
    if isinstance(exc, SignatureError):
        error = HTTPException(status_code=401, detail=str(exc))
    elif isinstance(exc, WebhookError):
        error = HTTPException(status_code=400, detail=str(exc))
    elif isinstance(exc, MissingSecretsError):
        extra = [{"key": field, "message": "required the first time", "source": "body"} for field in exc.fields]
        error = HTTPException(status_code=400, detail=str(exc), extra=extra)
    elif isinstance(exc, TemplateNotUsableError):
        error = HTTPException(status_code=422, detail=str(exc), extra=[{"key": exc.field, "message": str(exc)}])
    elif isinstance(exc, TemplatesUnavailableError | ServiceWindowClosedError):
        error = ConflictException(str(exc))
    elif isinstance(exc, GraphError) and (exc.retryable or exc.status == 0):
        error = ServiceUnavailableException(str(exc), headers={"Retry-After": str(int(exc.retry_after or 5))})
    elif isinstance(exc, GraphError):
        error = HTTPException(status_code=502, detail=str(exc))
    else:
        error = ServiceUnavailableException(str(exc))
    return create_exception_response(request, error)

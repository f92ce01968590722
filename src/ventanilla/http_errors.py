"""HTTP errors shared by the controllers: a 409 for a state that forbids the action, and validation errors that
always name the offending field.

msgspec reports a missing or unknown field against the whole body (`key: "data"`) and names the field only
inside the message; this handler moves that name into `key` so clients can point at the field directly.
"""

from __future__ import annotations

import re
from typing import Any

from litestar import Request, Response
from litestar.exceptions import ClientException, ValidationException
from litestar.exceptions.responses import create_exception_response
from litestar.status_codes import HTTP_409_CONFLICT


class ConflictException(ClientException):
    """The request is well formed, but the current state forbids it (already connected, not FAILED, ...)."""

    status_code = HTTP_409_CONFLICT


_FIELD_IN_MESSAGE = re.compile(r"(?:missing required field|unknown field) `([^`]+)`")


def validation_exception_handler(request: Request[Any, Any, Any], exc: ValidationException) -> Response[Any]:
    if isinstance(exc.extra, list):
        for error in exc.extra:
            if isinstance(error, dict) and error.get("key") == "data":
                match = _FIELD_IN_MESSAGE.search(str(error.get("message", "")))
                if match:
                    error["key"] = match.group(1)
    return create_exception_response(request, exc)

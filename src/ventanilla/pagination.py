"""Opaque page cursors: a small msgspec Struct, JSON, base64url. Clients pass `nextCursor` back unchanged."""

from __future__ import annotations

import base64
import binascii
from typing import TypeVar

import msgspec
from litestar.exceptions import ValidationException

_Cursor = TypeVar("_Cursor", bound=msgspec.Struct)
INVALID_CURSOR = "invalid cursor: pass the nextCursor of a previous page unchanged"


def encode_cursor(position: msgspec.Struct) -> str:
    return base64.urlsafe_b64encode(msgspec.json.encode(position)).decode().rstrip("=")


def decode_cursor(cursor: str, kind: type[_Cursor], field: str = "cursor") -> _Cursor:
    """The position a previous page ended at; 400 naming `field` when the cursor was not issued by us."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        return msgspec.json.decode(raw, type=kind)
    except (binascii.Error, ValueError, msgspec.DecodeError):
        raise ValidationException(
            detail=INVALID_CURSOR, extra=[{"key": field, "message": INVALID_CURSOR, "source": "query"}]
        ) from None

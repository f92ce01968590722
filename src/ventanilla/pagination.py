"""Opaque page cursors: a small msgspec Struct, JSON, base64url. Clients pass `nextCursor` back unchanged.

A cursor is input like any other: decoded strictly into its type (fields of exactly their types, nothing else for a
`PageCursor`), its times with their offset and within the calendar once in UTC, as we issue them. Anything we did
not issue is the same 400 naming the parameter.
"""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime
from typing import TypeVar

import msgspec
from litestar.exceptions import ValidationException

_Cursor = TypeVar("_Cursor", bound=msgspec.Struct)
INVALID_CURSOR = "invalid cursor: pass the nextCursor of a previous page unchanged"


class PageCursor(msgspec.Struct, forbid_unknown_fields=True):
    """Base of the positions a page ends at; datetime fields are `ventanilla.schemas.AwareDatetime`."""


def encode_cursor(position: msgspec.Struct) -> str:
    return base64.urlsafe_b64encode(msgspec.json.encode(position)).decode().rstrip("=")


def decode_cursor(cursor: str, kind: type[_Cursor], field: str = "cursor") -> _Cursor:
    """The position a previous page ended at; 400 naming `field` when the cursor was not issued by us."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        position = msgspec.json.decode(raw, type=kind)
        for name in position.__struct_fields__:
            value = getattr(position, name)
            if isinstance(value, datetime):
                if value.tzinfo is None:
                    raise ValueError(f"{name} has no offset")
                setattr(position, name, value.astimezone(UTC))  # OverflowError: out of the calendar in UTC
        return position
    except (binascii.Error, ValueError, OverflowError, msgspec.DecodeError):
        raise ValidationException(
            detail=INVALID_CURSOR, extra=[{"key": field, "message": INVALID_CURSOR, "source": "query"}]
        ) from None

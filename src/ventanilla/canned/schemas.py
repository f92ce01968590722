"""Bodies of the canned-response endpoints."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

import msgspec

from ventanilla.db.models import SHORTCUT_CHECK, CannedResponse
from ventanilla.schemas import CamelStruct
from ventanilla.text import bounded

# The database's rule, said so for Python's `re` too (its `$` also matches before a final newline).
SHORTCUT_PATTERN = SHORTCUT_CHECK.removesuffix("$") + r"(?!\n)$"
MAX_CONTENT_CHARS = 4096  # one WhatsApp text message

Shortcut = Annotated[
    str,
    msgspec.Meta(
        pattern=SHORTCUT_PATTERN,
        min_length=1,
        max_length=32,
        description="typed after / in the reply box: 1 to 32 lowercase letters, digits, - or _",
        examples=["saludo"],
    ),
]
Content = bounded(MAX_CONTENT_CHARS, visible=True)


class CannedResponseCreate(CamelStruct):
    shortcut: Shortcut
    content: Content


class CannedResponseUpdate(CamelStruct):
    """Only the fields present change."""

    shortcut: Shortcut | msgspec.UnsetType = msgspec.UNSET
    content: Content | msgspec.UnsetType = msgspec.UNSET


class CannedResponseRead(CamelStruct):
    """`global: true` (and `servicePointId: null`) marks one of every branch, read-only under a point's path."""

    id: UUID
    service_point_id: UUID | None
    is_global: bool = msgspec.field(name="global")
    shortcut: str
    content: str
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, canned: CannedResponse) -> CannedResponseRead:
        return cls(
            id=canned.id,
            service_point_id=canned.service_point_id,
            is_global=canned.service_point_id is None,
            shortcut=canned.shortcut,
            content=canned.content,
            created_at=canned.created_at,
            updated_at=canned.updated_at,
        )

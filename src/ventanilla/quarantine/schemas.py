"""Bodies of the quarantine endpoints."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

import msgspec

from ventanilla.schemas import CamelStruct


class QuarantinedRead(CamelStruct):
    id: UUID
    service_point_id: UUID
    provider_message_id: str
    payload: str  # the message as JSON text
    reason: str
    created_at: datetime


class QuarantinePage(CamelStruct):
    items: list[QuarantinedRead]
    next_cursor: str | None


class QuarantineCursor(msgspec.Struct):
    created_at: Annotated[datetime, msgspec.Meta(tz=True)]
    id: UUID

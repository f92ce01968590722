"""Bodies of the API-key endpoints. The key itself appears once, in the answer to its creation."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

import msgspec

from ventanilla.db.models import API_KEY_SCOPES, ApiKey
from ventanilla.schemas import CamelStruct
from ventanilla.text import bounded

MAX_POINTS = 200
KeyName = bounded(120, visible=True)
Scope = Literal[API_KEY_SCOPES]  # the names stand once, in db/models.py (its check constraint uses them)
Scopes = Annotated[
    list[Scope],
    msgspec.Meta(
        min_length=1, max_length=len(API_KEY_SCOPES), description="what the key may do", examples=[["messages:read"]]
    ),
]
PointIds = Annotated[
    list[UUID],
    msgspec.Meta(min_length=1, max_length=MAX_POINTS, description="the points the key reaches; null: every point"),
]


class ApiKeyCreate(CamelStruct):
    name: KeyName
    scopes: Scopes
    service_point_ids: PointIds | None


class ApiKeyRead(CamelStruct):
    """`prefix` tells keys apart (`vk_ab12cd34`); the secret is never listed."""

    id: UUID
    name: str
    prefix: str
    scopes: list[str]
    service_point_ids: list[UUID] | None
    created_by_user_id: UUID | None
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def of(cls, key: ApiKey) -> ApiKeyRead:
        return cls(
            id=key.id,
            name=key.name,
            prefix=key.prefix,
            scopes=list(key.scopes),
            service_point_ids=None if key.service_point_ids is None else list(key.service_point_ids),
            created_by_user_id=key.created_by_user_id,
            created_at=key.created_at,
            last_used_at=key.last_used_at,
            revoked_at=key.revoked_at,
        )


class ApiKeyCreated(ApiKeyRead, kw_only=True):
    """The answer to a creation: `key` is shown this once and cannot be read again."""

    key: str

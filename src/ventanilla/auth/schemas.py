"""Bodies of the auth and user endpoints."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

import msgspec

from ventanilla.config import MIN_PASSWORD_LENGTH
from ventanilla.db.models import MemberRole, User
from ventanilla.schemas import CamelStruct, Email, Name

Password = Annotated[str, msgspec.Meta(min_length=MIN_PASSWORD_LENGTH, max_length=256)]


class LoginRequest(CamelStruct):
    email: Annotated[str, msgspec.Meta(min_length=3, max_length=254)]
    password: Annotated[str, msgspec.Meta(min_length=1, max_length=256)]


class MembershipRead(CamelStruct):
    service_point_id: UUID
    role: MemberRole


class UserRead(CamelStruct):
    id: UUID
    email: str
    name: str
    is_admin: bool
    created_at: datetime
    memberships: list[MembershipRead]

    @classmethod
    def of(cls, user: User) -> UserRead:
        return cls(
            id=user.id,
            email=user.email,
            name=user.name,
            is_admin=user.is_admin,
            created_at=user.created_at,
            memberships=[MembershipRead(m.service_point_id, m.role) for m in user.memberships],
        )


class LoginResponse(CamelStruct):
    access_token: str
    expires_in: int
    user: UserRead
    token_type: Literal["Bearer"] = "Bearer"


class UserCreate(CamelStruct):
    email: Email
    password: Password
    name: Name
    is_admin: bool = False


class MemberCreate(CamelStruct):
    user_id: UUID
    role: MemberRole


class MemberRead(CamelStruct):
    user_id: UUID
    service_point_id: UUID
    role: MemberRole
    email: str
    name: str

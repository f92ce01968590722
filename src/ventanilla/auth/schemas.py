"""Bodies of the auth and user endpoints."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

import msgspec

from ventanilla.config import MIN_PASSWORD_LENGTH
from ventanilla.db.models import MemberRole, User
from ventanilla.schemas import CamelStruct, Email, Name
from ventanilla.text import bounded

Password = bounded(256, min_length=MIN_PASSWORD_LENGTH)
# Logging in checks only what could be an account: the rules of today's passwords may be newer than the password.
LoginEmail = bounded(254, min_length=3)
LoginPassword = bounded(256, min_length=1)


class LoginRequest(CamelStruct):
    email: LoginEmail
    password: LoginPassword


class MembershipRead(CamelStruct):
    service_point_id: UUID
    role: MemberRole


class UserRead(CamelStruct):
    id: UUID
    email: str
    name: str
    is_admin: bool
    is_active: bool
    created_at: datetime
    memberships: list[MembershipRead]

    @classmethod
    def of(cls, user: User) -> UserRead:
        return cls(
            id=user.id,
            email=user.email,
            name=user.name,
            is_admin=user.is_admin,
            is_active=user.is_active,
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


class UserUpdate(CamelStruct):
    """Fields left out keep their value. `isActive: false` deactivates: no login, every session ends."""

    name: Name | msgspec.UnsetType = msgspec.UNSET
    email: Email | msgspec.UnsetType = msgspec.UNSET
    is_admin: bool | msgspec.UnsetType = msgspec.UNSET
    is_active: bool | msgspec.UnsetType = msgspec.UNSET


class PasswordReset(CamelStruct):
    password: Password


class PasswordChange(CamelStruct):
    current_password: LoginPassword
    new_password: Password


class MemberCreate(CamelStruct):
    user_id: UUID
    role: MemberRole


class MemberRead(CamelStruct):
    user_id: UUID
    service_point_id: UUID
    role: MemberRole
    email: str
    name: str

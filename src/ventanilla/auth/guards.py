"""The contract's access rules, stated once: admins everything; members their own points; others see nothing.

A point the caller does not belong to answers 404, exactly like a point that does not exist, so ids of other
branches cannot be probed. Admin-only routes answer 403. An admin is an admin whatever memberships they also hold.
Every method, OPTIONS included, is authenticated before these run (see `auth.jwt`), so a guard always has a user.
"""

from __future__ import annotations

import hmac
from datetime import UTC, datetime
from uuid import UUID

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, NotFoundException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler
from litestar.security.jwt import Token
from sqlalchemy.ext.asyncio import AsyncSession

from ventanilla.auth.jwt import token_is_current
from ventanilla.auth.services import UserService
from ventanilla.db.models import MemberRole, User

POINT_PATH_PARAMETER = "sp_id"


# Guards are coroutines although none awaits: Litestar runs a plain function guard in a worker thread, and under
# load that hop (and the wait for the GIL on the way back) was a visible part of every request's latency.


async def requires_admin(connection: ASGIConnection[object, User, object, object], _: BaseRouteHandler) -> None:
    ensure_admin(connection.user)


def ensure_admin(user: User, action: str = "do this") -> None:
    """For rules that depend on the body (a field only admins may change): the same 403 as `requires_admin`."""
    if not user.is_admin:
        raise PermissionDeniedException(f"only administrators may {action}")


async def requires_point_member(connection: ASGIConnection[object, User, object, object], _: BaseRouteHandler) -> None:
    if not may_use_point(connection.user, connection.path_params[POINT_PATH_PARAMETER]):
        raise NotFoundException("service point not found")


async def requires_point_supervisor(
    connection: ASGIConnection[object, User, object, object], handler: BaseRouteHandler
) -> None:
    await requires_point_member(connection, handler)
    user = connection.user
    if not user.is_admin and user.role_in(connection.path_params[POINT_PATH_PARAMETER]) is not MemberRole.SUPERVISOR:
        raise PermissionDeniedException("only a supervisor of this service point or an administrator may do this")


def may_use_point(user: User, service_point_id: UUID) -> bool:
    return user.is_admin or user.role_in(service_point_id) is not None


async def still_allowed(session: AsyncSession, token: Token, service_point_id: UUID) -> bool:
    """For responses that outlive their request (event streams): is the access the request was granted still true?

    The token has not expired nor been revoked, its user still exists, and may still use the point.
    """
    if token.exp <= datetime.now(UTC):
        return False
    user = await UserService(session=session).get_active(UUID(token.sub))
    return user is not None and token_is_current(token, user) and may_use_point(user, service_point_id)


async def requires_metrics_token(
    connection: ASGIConnection[object, object, object, object], _: BaseRouteHandler
) -> None:
    """`Authorization: Bearer <METRICS_TOKEN>` when the setting is present (always in production); open otherwise."""
    expected: str | None = connection.app.state.settings.metrics_token
    if expected is None:
        return
    scheme, _, presented = connection.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(presented.strip().encode(), expected.encode()):
        raise NotAuthorizedException(
            "send Authorization: Bearer <METRICS_TOKEN>", headers={"WWW-Authenticate": "Bearer"}
        )

"""The contract's access rules, stated once: admins everything; members their own points; others see nothing.

A point the caller does not belong to answers 404, exactly like a point that does not exist, so ids of other
branches cannot be probed. Admin-only routes answer 403.
"""

from __future__ import annotations

from uuid import UUID

from litestar.connection import ASGIConnection
from litestar.exceptions import NotFoundException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler

from ventanilla.db.models import MemberRole, User

POINT_PATH_PARAMETER = "sp_id"


def requires_admin(connection: ASGIConnection[object, User, object, object], _: BaseRouteHandler) -> None:
    if not connection.user.is_admin:
        raise PermissionDeniedException("only administrators may do this")


def requires_point_member(connection: ASGIConnection[object, User, object, object], _: BaseRouteHandler) -> None:
    point_role(connection.user, connection.path_params[POINT_PATH_PARAMETER])


def requires_point_supervisor(connection: ASGIConnection[object, User, object, object], _: BaseRouteHandler) -> None:
    if point_role(connection.user, connection.path_params[POINT_PATH_PARAMETER]) is MemberRole.AGENT:
        raise PermissionDeniedException("only a supervisor of this service point or an administrator may do this")


def point_role(user: User, service_point_id: UUID) -> MemberRole | None:
    """The caller's role in the point (None for an admin who is not a member); 404 when they have no access."""
    role = user.role_in(service_point_id)
    if role is None and not user.is_admin:
        raise NotFoundException("service point not found")
    return role

"""The service point named by the path, loaded once per request for every point-scoped controller."""

from __future__ import annotations

from uuid import UUID

from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from sqlalchemy.ext.asyncio import AsyncSession

from ventanilla.db.models import ServicePoint


async def provide_service_point(sp_id: FromPath[UUID], db_session: NamedDependency[AsyncSession]) -> ServicePoint:
    """Runs after the guards, so a non-member never reaches the lookup; a missing point is 404 for admins too."""
    point = await db_session.get(ServicePoint, sp_id)
    if point is None:
        raise NotFoundException("service point not found")
    return point

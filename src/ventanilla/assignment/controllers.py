"""The caller's own availability, under /api/me: the inbox page sets ONLINE while open and AWAY after inactivity."""

from __future__ import annotations

from litestar import Controller, Request, get, put
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.params import JSONBody
from litestar.security.jwt import Token
from sqlalchemy.ext.asyncio import AsyncSession

from ventanilla.assignment.schemas import AvailabilityRead, AvailabilityUpdate
from ventanilla.assignment.services import availability_of, set_availability
from ventanilla.db.models import User


class AvailabilityController(Controller):
    path = "/api/me/availability"
    tags = ["availability"]

    @get("/", summary="The caller's availability (an ONLINE not confirmed for 2 minutes reads AWAY)")
    async def get_availability(self, request: Request[User, Token, State]) -> AvailabilityRead:
        return availability_of(request.user)

    @put("/", summary="Set or confirm the caller's availability: ONLINE takes new conversations, AWAY does not")
    async def put_availability(
        self,
        request: Request[User, Token, State],
        data: JSONBody[AvailabilityUpdate],
        db_session: NamedDependency[AsyncSession],
    ) -> AvailabilityRead:
        return await set_availability(db_session, request.user, data.status)

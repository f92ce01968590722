"""Service point CRUD and membership, under /api/service-points."""

from __future__ import annotations

from uuid import UUID

import msgspec
from advanced_alchemy.extensions.litestar.providers import create_service_provider
from litestar import Controller, Request, delete, get, patch, post
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, JSONBody
from litestar.security.jwt import Token
from sqlalchemy.ext.asyncio import AsyncSession

from ventanilla.assignment.hours import HoursError
from ventanilla.auth.guards import ensure_admin, requires_admin, requires_point_member, requires_point_supervisor
from ventanilla.auth.schemas import MemberCreate, MemberRead
from ventanilla.auth.services import MembershipService
from ventanilla.db.models import Membership, ServicePoint, User
from ventanilla.http_errors import invalid_field
from ventanilla.service_points.dependencies import provide_service_point
from ventanilla.service_points.schemas import ServicePointCreate, ServicePointRead, ServicePointUpdate
from ventanilla.service_points.services import ServicePointService

POINT_PATH = "/{sp_id:uuid}"


async def provide_memberships(db_session: NamedDependency[AsyncSession]) -> MembershipService:
    return MembershipService(db_session)


class ServicePointController(Controller):
    path = "/api/service-points"
    tags = ["service points"]
    dependencies = {
        "service_points": Provide(create_service_provider(ServicePointService)),
        "service_point": Provide(provide_service_point),
    }

    @get("/", summary="Service points the caller belongs to (all of them for an admin)")
    async def list_points(
        self, request: Request[User, Token, State], service_points: NamedDependency[ServicePointService]
    ) -> list[ServicePointRead]:
        points = await service_points.list_visible(request.user)
        waiting = await service_points.waiting_counts([point.id for point in points])
        return [ServicePointRead.of(point, waiting.get(point.id, 0)) for point in points]

    @post("/", guards=[requires_admin], summary="Create a service point (admin)")
    async def create_point(
        self, data: JSONBody[ServicePointCreate], service_points: NamedDependency[ServicePointService]
    ) -> ServicePointRead:
        return ServicePointRead.of(await service_points.create_point(data))

    @get(POINT_PATH, guards=[requires_point_member], summary="One service point")
    async def get_point(
        self, service_point: NamedDependency[ServicePoint], service_points: NamedDependency[ServicePointService]
    ) -> ServicePointRead:
        waiting = await service_points.waiting_counts([service_point.id])
        return ServicePointRead.of(service_point, waiting.get(service_point.id, 0))

    @patch(
        POINT_PATH,
        guards=[requires_point_supervisor],
        summary="Rename a point or change its hours, time zone, auto-resolve, assignment timeout and CSAT (supervisor "
        "or admin); change its number or its transport (admin)",
    )
    async def update_point(
        self,
        request: Request[User, Token, State],
        data: JSONBody[ServicePointUpdate],
        service_point: NamedDependency[ServicePoint],
        service_points: NamedDependency[ServicePointService],
    ) -> ServicePointRead:
        """The number decides which branch customers reach (and which branch a linked phone belongs to), and so does
        the transport: admins only. A new transport takes over at once (the point's connection restarts)."""
        if data.phone_number is not msgspec.UNSET:
            ensure_admin(request.user, "change a point's phone number")
        switched = data.transport is not msgspec.UNSET and data.transport != service_point.transport
        if switched:
            ensure_admin(request.user, "change a point's WhatsApp transport")
        try:
            point = await service_points.update_point(service_point, data)
        except HoursError as exc:
            raise invalid_field(exc.key, exc.message) from None
        if switched:
            await service_points.repository.session.commit()
            await request.app.state.sessions.for_request(service_points.repository.session).restart(point.id)
        waiting = await service_points.waiting_counts([point.id])
        return ServicePointRead.of(point, waiting.get(point.id, 0))

    @delete(POINT_PATH, guards=[requires_admin], summary="Delete a point and everything it owns (admin)")
    async def delete_point(
        self,
        request: Request[User, Token, State],
        service_point: NamedDependency[ServicePoint],
        service_points: NamedDependency[ServicePointService],
    ) -> None:
        """Also closes the point's WhatsApp socket and deletes its credentials (and no other point's)."""
        await service_points.delete_point(service_point)
        await request.app.state.sessions.forget(service_point.id)


def _member_read(membership: Membership) -> MemberRead:
    return MemberRead(
        user_id=membership.user_id,
        service_point_id=membership.service_point_id,
        role=membership.role,
        email=membership.user.email,
        name=membership.user.name,
    )


class MemberController(Controller):
    path = "/api/service-points/{sp_id:uuid}/members"
    tags = ["service points"]
    dependencies = {"memberships": Provide(provide_memberships), "service_point": Provide(provide_service_point)}

    @get("/", guards=[requires_point_member], summary="Members of the point")
    async def list_members(
        self, service_point: NamedDependency[ServicePoint], memberships: NamedDependency[MembershipService]
    ) -> list[MemberRead]:
        return [_member_read(m) for m in await memberships.list_members(service_point.id)]

    @post("/", guards=[requires_admin], summary="Add a user to the point, or change their role (admin)")
    async def add_member(
        self,
        data: JSONBody[MemberCreate],
        service_point: NamedDependency[ServicePoint],
        memberships: NamedDependency[MembershipService],
    ) -> MemberRead:
        return _member_read(await memberships.put(service_point.id, data.user_id, data.role))

    @delete("/{user_id:uuid}", guards=[requires_admin], summary="Remove a user from the point (admin)")
    async def remove_member(
        self,
        user_id: FromPath[UUID],
        service_point: NamedDependency[ServicePoint],
        memberships: NamedDependency[MembershipService],
    ) -> None:
        await memberships.remove(service_point.id, user_id)

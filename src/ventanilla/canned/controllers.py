"""Canned responses of a service point (members) under /api/service-points/{spId}/canned-responses, and global ones
(admins) under /api/canned-responses: the same rules as point and global FAQs."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from advanced_alchemy.extensions.litestar.providers import create_service_provider
from litestar import Controller, delete, get, patch, post
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, JSONBody, QueryParameter

from ventanilla.auth.guards import requires_admin, requires_point_member
from ventanilla.canned.schemas import CannedResponseCreate, CannedResponseRead, CannedResponseUpdate
from ventanilla.canned.services import CannedResponseService
from ventanilla.db.models import ServicePoint
from ventanilla.service_points.dependencies import provide_service_point

CANNED_PATH = "/{canned_id:uuid}"
provide_canned = Provide(create_service_provider(CannedResponseService))
Prefix = Annotated[
    str | None, QueryParameter(min_length=1, max_length=32, description="only shortcuts that start with this")
]


class PointCannedResponseController(Controller):
    """Global ones are listed here but change only under /api/canned-responses: 404 here, as for any other id."""

    path = "/api/service-points/{sp_id:uuid}/canned-responses"
    tags = ["canned responses"]
    guards = [requires_point_member]
    dependencies = {"canned": provide_canned, "service_point": Provide(provide_service_point)}

    @get("/", summary="The point's canned responses and the global ones (global: true), by shortcut")
    async def list_canned(
        self,
        service_point: NamedDependency[ServicePoint],
        canned: NamedDependency[CannedResponseService],
        q: Prefix = None,
    ) -> list[CannedResponseRead]:
        return [CannedResponseRead.of(item) for item in await canned.list_visible(service_point.id, q)]

    @post("/", summary="Add a canned response to the point (409 if its shortcut is taken here)")
    async def create_canned(
        self,
        data: JSONBody[CannedResponseCreate],
        service_point: NamedDependency[ServicePoint],
        canned: NamedDependency[CannedResponseService],
    ) -> CannedResponseRead:
        return CannedResponseRead.of(await canned.create_canned(service_point.id, data))

    @patch(CANNED_PATH, summary="Change one of the point's own canned responses")
    async def update_canned(
        self,
        canned_id: FromPath[UUID],
        data: JSONBody[CannedResponseUpdate],
        service_point: NamedDependency[ServicePoint],
        canned: NamedDependency[CannedResponseService],
    ) -> CannedResponseRead:
        item = await canned.get_owned(service_point.id, canned_id)
        return CannedResponseRead.of(await canned.update_canned(item, data))

    @delete(CANNED_PATH, summary="Delete one of the point's own canned responses")
    async def delete_canned(
        self,
        canned_id: FromPath[UUID],
        service_point: NamedDependency[ServicePoint],
        canned: NamedDependency[CannedResponseService],
    ) -> None:
        await canned.delete_canned(await canned.get_owned(service_point.id, canned_id))


class GlobalCannedResponseController(Controller):
    """Canned responses of every branch. A point's id is 404 here: points' own change under their point's path."""

    path = "/api/canned-responses"
    tags = ["canned responses"]
    guards = [requires_admin]
    dependencies = {"canned": provide_canned}

    @get("/", summary="Global canned responses, by shortcut (admin)")
    async def list_canned(
        self, canned: NamedDependency[CannedResponseService], q: Prefix = None
    ) -> list[CannedResponseRead]:
        return [CannedResponseRead.of(item) for item in await canned.list_global(q)]

    @post("/", summary="Add a global canned response (admin; 409 if its shortcut is taken among the global ones)")
    async def create_canned(
        self, data: JSONBody[CannedResponseCreate], canned: NamedDependency[CannedResponseService]
    ) -> CannedResponseRead:
        return CannedResponseRead.of(await canned.create_canned(None, data))

    @patch(CANNED_PATH, summary="Change a global canned response (admin)")
    async def update_canned(
        self,
        canned_id: FromPath[UUID],
        data: JSONBody[CannedResponseUpdate],
        canned: NamedDependency[CannedResponseService],
    ) -> CannedResponseRead:
        item = await canned.get_owned(None, canned_id)
        return CannedResponseRead.of(await canned.update_canned(item, data))

    @delete(CANNED_PATH, summary="Delete a global canned response (admin)")
    async def delete_canned(self, canned_id: FromPath[UUID], canned: NamedDependency[CannedResponseService]) -> None:
        await canned.delete_canned(await canned.get_owned(None, canned_id))

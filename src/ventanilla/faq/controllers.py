"""FAQs of a service point (members) under /api/service-points/{spId}/faqs, and global FAQs (admins) under /api/faqs."""

from __future__ import annotations

from uuid import UUID

from advanced_alchemy.extensions.litestar.providers import create_service_provider
from litestar import Controller, delete, get, patch, post
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, JSONBody

from ventanilla.auth.guards import requires_admin, requires_point_member
from ventanilla.db.models import ServicePoint
from ventanilla.faq.schemas import FaqCreate, FaqRead, FaqUpdate
from ventanilla.faq.services import FaqService
from ventanilla.service_points.dependencies import provide_service_point

FAQ_PATH = "/{faq_id:uuid}"
provide_faqs = Provide(create_service_provider(FaqService))


class PointFaqController(Controller):
    """Global FAQs are listed and readable here but change only under /api/faqs: 404 here, as for any other id."""

    path = "/api/service-points/{sp_id:uuid}/faqs"
    tags = ["faqs"]
    guards = [requires_point_member]
    dependencies = {"faqs": provide_faqs, "service_point": Provide(provide_service_point)}

    @get("/", summary="The point's FAQs, then the global ones (global: true)")
    async def list_faqs(
        self, service_point: NamedDependency[ServicePoint], faqs: NamedDependency[FaqService]
    ) -> list[FaqRead]:
        return [FaqRead.of(faq) for faq in await faqs.list_visible(service_point.id)]

    @post("/", summary="Add an FAQ to the point")
    async def create_faq(
        self, data: JSONBody[FaqCreate], service_point: NamedDependency[ServicePoint], faqs: NamedDependency[FaqService]
    ) -> FaqRead:
        return FaqRead.of(await faqs.create_faq(service_point.id, data))

    @get(FAQ_PATH, summary="One FAQ of the point, or a global one")
    async def get_faq(
        self, faq_id: FromPath[UUID], service_point: NamedDependency[ServicePoint], faqs: NamedDependency[FaqService]
    ) -> FaqRead:
        return FaqRead.of(await faqs.get_visible(service_point.id, faq_id))

    @patch(FAQ_PATH, summary="Change one of the point's own FAQs")
    async def update_faq(
        self,
        faq_id: FromPath[UUID],
        data: JSONBody[FaqUpdate],
        service_point: NamedDependency[ServicePoint],
        faqs: NamedDependency[FaqService],
    ) -> FaqRead:
        return FaqRead.of(await faqs.update_faq(await faqs.get_owned(service_point.id, faq_id), data))

    @delete(FAQ_PATH, summary="Delete one of the point's own FAQs")
    async def delete_faq(
        self, faq_id: FromPath[UUID], service_point: NamedDependency[ServicePoint], faqs: NamedDependency[FaqService]
    ) -> None:
        await faqs.delete_faq(await faqs.get_owned(service_point.id, faq_id))


class GlobalFaqController(Controller):
    """FAQs of every branch. A point's FAQ id is 404 here: points' FAQs change under their point's path."""

    path = "/api/faqs"
    tags = ["faqs"]
    guards = [requires_admin]
    dependencies = {"faqs": provide_faqs}

    @get("/", summary="Global FAQs (admin)")
    async def list_faqs(self, faqs: NamedDependency[FaqService]) -> list[FaqRead]:
        return [FaqRead.of(faq) for faq in await faqs.list_global()]

    @post("/", summary="Add a global FAQ (admin)")
    async def create_faq(self, data: JSONBody[FaqCreate], faqs: NamedDependency[FaqService]) -> FaqRead:
        return FaqRead.of(await faqs.create_faq(None, data))

    @get(FAQ_PATH, summary="One global FAQ (admin)")
    async def get_faq(self, faq_id: FromPath[UUID], faqs: NamedDependency[FaqService]) -> FaqRead:
        return FaqRead.of(await faqs.get_owned(None, faq_id))

    @patch(FAQ_PATH, summary="Change a global FAQ (admin)")
    async def update_faq(
        self, faq_id: FromPath[UUID], data: JSONBody[FaqUpdate], faqs: NamedDependency[FaqService]
    ) -> FaqRead:
        return FaqRead.of(await faqs.update_faq(await faqs.get_owned(None, faq_id), data))

    @delete(FAQ_PATH, summary="Delete a global FAQ (admin)")
    async def delete_faq(self, faq_id: FromPath[UUID], faqs: NamedDependency[FaqService]) -> None:
        await faqs.delete_faq(await faqs.get_owned(None, faq_id))

"""Pages of the branches a user belongs to: the list, a branch's WhatsApp, its inbox, shipments and FAQs.

Access follows the API: any member of a branch (and any admin) may open its pages; anyone else gets the same
404 page as for a branch that does not exist.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

from advanced_alchemy.extensions.litestar.providers import create_service_provider
from litestar import Controller, Request, get
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.params import QueryParameter
from litestar.response import Template
from litestar.security.jwt import Token

from ventanilla.assignment.hours import DAY_NAMES, DAYS, BusinessHours, time_zones
from ventanilla.auth.guards import requires_point_member
from ventanilla.canned.services import CannedResponseService
from ventanilla.db.models import CannedResponse, Faq, MemberRole, ServicePoint, ShipmentStatus, User
from ventanilla.faq.services import FaqService
from ventanilla.service_points.dependencies import provide_service_point
from ventanilla.service_points.services import ServicePointService
from ventanilla.shipments.services import ShipmentService
from ventanilla.shipments.tracking import normalize_tracking_number
from ventanilla.web.templating import page

POINT = "/{sp_id:uuid}"
SHIPMENTS_PER_PAGE = 50


class PointPages(Controller):
    path = "/puntos"
    include_in_schema = False
    dependencies = {
        "service_points": Provide(create_service_provider(ServicePointService)),
        "service_point": Provide(provide_service_point),
    }

    @get("/")
    async def points(
        self, request: Request[User, Token, State], service_points: NamedDependency[ServicePointService]
    ) -> Template:
        points = await service_points.list_visible(request.user)
        waiting = await service_points.waiting_counts([point.id for point in points])
        return page(request, "points.html", points=points, waiting=waiting)

    @get(POINT, guards=[requires_point_member])
    async def point(
        self, request: Request[User, Token, State], service_point: NamedDependency[ServicePoint]
    ) -> Template:
        """Also the point's settings: a form for its supervisors and admins, a summary of the hours for everyone."""
        qr_pending = await request.app.state.sessions.pending_qr(service_point.id) is not None
        user = request.user
        return page(
            request,
            "point.html",
            point=service_point,
            section="whatsapp",
            qr_pending=qr_pending,
            hours=BusinessHours.of(service_point.timezone, service_point.business_hours).describe(),
            week=list(zip(DAYS, DAY_NAMES, strict=True)),
            may_configure=user.is_admin or user.role_in(service_point.id) is MemberRole.SUPERVISOR,
            zones=time_zones(),
        )

    @get(POINT + "/inbox", guards=[requires_point_member])
    async def inbox(
        self, request: Request[User, Token, State], service_point: NamedDependency[ServicePoint]
    ) -> Template:
        return page(request, "inbox.html", point=service_point, section="inbox")

    @get(
        POINT + "/envios",
        guards=[requires_point_member],
        dependencies={"shipments": Provide(create_service_provider(ShipmentService))},
    )
    async def shipments(
        self,
        request: Request[User, Token, State],
        service_point: NamedDependency[ServicePoint],
        shipments: NamedDependency[ShipmentService],
        q: Annotated[str | None, QueryParameter(max_length=120)] = None,
        status: Annotated[str | None, QueryParameter()] = None,
        after: Annotated[str | None, QueryParameter(max_length=40)] = None,
    ) -> Template:
        """Filters come from a plain GET form; unknown values are ignored rather than refused."""
        chosen = status if status in ShipmentStatus.__members__ else None
        start = normalize_tracking_number(after) if after else None
        items, more = await shipments.list_page(
            service_point.id,
            limit=SHIPMENTS_PER_PAGE,
            after=start,
            status=ShipmentStatus(chosen) if chosen else None,
            q=q,
        )
        return page(
            request,
            "shipments.html",
            point=service_point,
            section="envios",
            shipments=items,
            q=q or "",
            status=chosen or "",
            next_after=items[-1].tracking_number if more and items else None,
            paged=start is not None,
        )

    @get(
        POINT + "/preguntas",
        guards=[requires_point_member],
        dependencies={"faqs": Provide(create_service_provider(FaqService))},
    )
    async def faqs(
        self,
        request: Request[User, Token, State],
        service_point: NamedDependency[ServicePoint],
        faqs: NamedDependency[FaqService],
    ) -> Template:
        visible = await faqs.list_visible(service_point.id)
        return _point_and_global(request, "faqs.html", "preguntas", service_point, visible, "faqs")

    @get(
        POINT + "/respuestas",
        guards=[requires_point_member],
        dependencies={"canned": Provide(create_service_provider(CannedResponseService))},
    )
    async def canned_responses(
        self,
        request: Request[User, Token, State],
        service_point: NamedDependency[ServicePoint],
        canned: NamedDependency[CannedResponseService],
    ) -> Template:
        visible = await canned.list_visible(service_point.id)
        return _point_and_global(request, "canned.html", "respuestas", service_point, visible, "canned-responses")


def _point_and_global(
    request: Request[User, Token, State],
    template: str,
    section: str,
    point: ServicePoint,
    visible: Sequence[Faq | CannedResponse],
    api: str,
) -> Template:
    """A page of the point's own items beside the global ones (FAQs, canned responses), managed through the
    point's `api` collection."""
    return page(
        request,
        template,
        point=point,
        section=section,
        own=[item for item in visible if item.service_point_id is not None],
        shared=[item for item in visible if item.service_point_id is None],
        api_base=f"/api/service-points/{point.id}/{api}",
    )

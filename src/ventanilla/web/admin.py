"""Administrators' pages: branches, users (edit, deactivate, reset a password, unlock) and their memberships, and
the FAQs every branch shares."""

from __future__ import annotations

from advanced_alchemy.extensions.litestar.providers import create_service_provider
from litestar import Controller, Request, get
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.response import Redirect, Template
from litestar.security.jwt import Token
from litestar.status_codes import HTTP_303_SEE_OTHER

from ventanilla.auth.controllers import provide_users
from ventanilla.auth.guards import requires_admin
from ventanilla.auth.services import UserService
from ventanilla.auth.throttle import LoginThrottle
from ventanilla.config import MIN_PASSWORD_LENGTH
from ventanilla.db.models import User
from ventanilla.faq.services import FaqService
from ventanilla.service_points.services import ServicePointService
from ventanilla.web.templating import page


class AdminPages(Controller):
    path = "/admin"
    include_in_schema = False
    guards = [requires_admin]
    dependencies = {
        "service_points": Provide(create_service_provider(ServicePointService)),
        "users": provide_users,
        "faqs": Provide(create_service_provider(FaqService)),
    }

    @get("/")
    async def admin(self) -> Redirect:
        return Redirect("/admin/puntos", status_code=HTTP_303_SEE_OTHER)

    @get("/puntos")
    async def points(
        self, request: Request[User, Token, State], service_points: NamedDependency[ServicePointService]
    ) -> Template:
        return page(
            request, "admin_points.html", section="puntos", points=await service_points.list_visible(request.user)
        )

    @get("/usuarios")
    async def users(
        self,
        request: Request[User, Token, State],
        users: NamedDependency[UserService],
        service_points: NamedDependency[ServicePointService],
    ) -> Template:
        points = await service_points.list_visible(request.user)
        everyone = await users.list_users()
        throttle: LoginThrottle = request.app.state.login_throttle
        return page(
            request,
            "admin_users.html",
            section="usuarios",
            users=everyone,
            failures={user.id: throttle.recent_failures(user.email) for user in everyone},
            points=points,
            point_names={point.id: point.name for point in points},
            min_password=MIN_PASSWORD_LENGTH,
        )

    @get("/preguntas")
    async def faqs(self, request: Request[User, Token, State], faqs: NamedDependency[FaqService]) -> Template:
        return page(
            request,
            "faqs.html",
            section="preguntas",
            point=None,
            own=await faqs.list_global(),
            shared=[],
            api_base="/api/faqs",
        )

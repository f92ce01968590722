"""The signed-in person's own page: who they are and a form to change their password."""

from __future__ import annotations

from litestar import Controller, Request, get
from litestar.datastructures import State
from litestar.response import Template
from litestar.security.jwt import Token

from ventanilla.config import MIN_PASSWORD_LENGTH
from ventanilla.db.models import User
from ventanilla.web.templating import page


class AccountPages(Controller):
    path = "/cuenta"
    include_in_schema = False

    @get("/")
    async def account(self, request: Request[User, Token, State]) -> Template:
        return page(request, "account.html", section="cuenta", min_password=MIN_PASSWORD_LENGTH)

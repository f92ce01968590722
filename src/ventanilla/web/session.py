"""The login form and logout: the same credentials, throttle and token as the API, carried in a cookie."""

from __future__ import annotations

import math
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.datastructures import Cookie, State
from litestar.di import NamedDependency
from litestar.exceptions import NotAuthorizedException, TooManyRequestsException
from litestar.params import QueryParameter, URLEncodedBody
from litestar.response import Redirect, Template
from litestar.security.jwt import JWTCookieAuth, Token
from litestar.status_codes import (
    HTTP_303_SEE_OTHER,
    HTTP_400_BAD_REQUEST,
    HTTP_401_UNAUTHORIZED,
    HTTP_429_TOO_MANY_REQUESTS,
)

from ventanilla.auth.controllers import check_login, provide_users
from ventanilla.auth.jwt import TOKEN_LIFETIME, issue_token
from ventanilla.auth.schemas import LoginRequest
from ventanilla.auth.services import UserService
from ventanilla.db.models import User
from ventanilla.web.templating import page

HOME = "/puntos"


class LoginForm(msgspec.Struct):
    """Missing fields are empty strings, so a blank form gets a message instead of a 400 JSON body."""

    email: str = ""
    password: str = ""
    next: str = ""


def safe_next(target: str | None) -> str:
    """Only a path of this site: an open redirect would let a phishing link borrow the login page."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")) or target.startswith("/login"):
        return HOME
    return target


def _login_page(
    request: Request[Any, Any, Any], status_code: int, error: str | None, email: str, target: str
) -> Template:
    return page(request, "login.html", status_code=status_code, error=error, email=email, next=safe_next(target))


class SessionController(Controller):
    include_in_schema = False
    dependencies = {"users": provide_users}

    @get("/")
    async def home(self) -> Redirect:
        """Anonymous visitors never get here: the page error handler sends them to /login."""
        return Redirect(HOME, status_code=HTTP_303_SEE_OTHER)

    @get("/login")
    async def login_form(
        self, request: Request[None, None, State], target: Annotated[str | None, QueryParameter(name="next")] = None
    ) -> Template:
        return _login_page(request, 200, None, "", target or HOME)

    @post("/login")
    async def login(
        self,
        request: Request[None, None, State],
        data: URLEncodedBody[LoginForm],
        users: NamedDependency[UserService],
    ) -> Response[Any]:
        try:
            credentials = msgspec.convert({"email": data.email, "password": data.password}, LoginRequest)
        except msgspec.ValidationError:
            return _login_page(
                request, HTTP_400_BAD_REQUEST, "Escribe tu correo y tu contraseña.", data.email, data.next
            )
        try:
            user = await check_login(request, users, credentials.email, credentials.password)
        except TooManyRequestsException as exc:
            wait = int((exc.headers or {}).get("Retry-After", "60"))
            when = f"{wait} segundo(s)" if wait < 60 else f"{math.ceil(wait / 60)} minuto(s)"
            message = f"Demasiados intentos fallidos. Intenta de nuevo en {when}."
            response = _login_page(request, HTTP_429_TOO_MANY_REQUESTS, message, data.email, data.next)
            response.headers["Retry-After"] = str(wait)
            return response
        except NotAuthorizedException:
            return _login_page(
                request, HTTP_401_UNAUTHORIZED, "Correo o contraseña incorrectos.", data.email, data.next
            )
        jwt_auth: JWTCookieAuth[User, Token] = request.app.state.jwt_auth
        response = Redirect(safe_next(data.next), status_code=HTTP_303_SEE_OTHER)
        response.set_cookie(
            Cookie(
                key=jwt_auth.key,
                value=issue_token(jwt_auth, user),
                path=jwt_auth.path,
                domain=jwt_auth.domain,
                max_age=int(TOKEN_LIFETIME.total_seconds()),
                httponly=True,
                secure=jwt_auth.secure,
                samesite=jwt_auth.samesite,
            )
        )
        return response

    @post("/logout")
    async def logout(self, request: Request[User, Token, State], users: NamedDependency[UserService]) -> Redirect:
        """Ends every session of this user (other browsers and API tokens too), then forgets the cookie."""
        await users.revoke_tokens(request.user.id)
        jwt_auth: JWTCookieAuth[User, Token] = request.app.state.jwt_auth
        response = Redirect("/login", status_code=HTTP_303_SEE_OTHER)
        response.delete_cookie(key=jwt_auth.key, path=jwt_auth.path, domain=jwt_auth.domain)
        return response

"""Login, the caller's own profile and user administration."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import msgspec
from advanced_alchemy.extensions.litestar.providers import create_service_provider
from litestar import Controller, Request, Response, delete, get, patch, post, put
from litestar.datastructures import Cookie, State
from litestar.di import NamedDependency, Provide
from litestar.exceptions import NotAuthorizedException, TooManyRequestsException
from litestar.params import FromPath, JSONBody
from litestar.security.jwt import JWTCookieAuth, Token
from litestar.status_codes import HTTP_200_OK, HTTP_204_NO_CONTENT

from ventanilla.auth.guards import requires_admin
from ventanilla.auth.jwt import TOKEN_COOKIE, TOKEN_LIFETIME, issue_token
from ventanilla.auth.schemas import (
    LoginRequest,
    LoginResponse,
    PasswordChange,
    PasswordReset,
    UserCreate,
    UserRead,
    UserUpdate,
)
from ventanilla.auth.services import UserRuleError, UserService, WrongPasswordError
from ventanilla.auth.throttle import LoginThrottle
from ventanilla.db.models import User
from ventanilla.http_errors import ConflictException, invalid_field

provide_users = Provide(create_service_provider(UserService))


async def check_login(request: Request[None, None, State], users: UserService, email: str, password: str) -> User:
    """The one login rule for the API and the login page, throttled as `auth.throttle` describes.

    The client address is the connection's, or what a proxy of TRUSTED_PROXIES forwarded (see `cli`).
    Raises TooManyRequestsException (with Retry-After) while throttled, NotAuthorizedException for a wrong pair.
    """
    throttle: LoginThrottle = request.app.state.login_throttle
    email = email.strip().lower()
    address = _client_address(request)
    wait = throttle.retry_after(email, address)
    if wait:
        raise TooManyRequestsException("too many failed logins; try again later", headers={"Retry-After": str(wait)})
    user = await users.authenticate(email, password)
    if user is None:
        throttle.record_failure(email, address)
        raise NotAuthorizedException("wrong email or password")
    throttle.record_success(email, address)
    if not user.is_active:  # said only to whoever knows the password
        raise NotAuthorizedException("this account is deactivated; ask an administrator")
    return user


def _client_address(request: Request[Any, Any, State]) -> str:
    return request.client.host if request.client else "unknown"


def _fresh_session(request: Request[User, Token, State], user: User) -> Response[LoginResponse]:
    """A new token for `user` in the body, and in the cookie when the caller is a page (it has no bearer token)."""
    jwt_auth: JWTCookieAuth[User, Token] = request.app.state.jwt_auth
    token = issue_token(jwt_auth, user)
    body = LoginResponse(access_token=token, expires_in=int(TOKEN_LIFETIME.total_seconds()), user=UserRead.of(user))
    response = Response(body, status_code=HTTP_200_OK)
    if "authorization" not in request.headers and TOKEN_COOKIE in request.cookies:
        response.set_cookie(
            Cookie(
                key=jwt_auth.key,
                value=token,
                path=jwt_auth.path,
                domain=jwt_auth.domain,
                max_age=int(TOKEN_LIFETIME.total_seconds()),
                httponly=True,
                secure=jwt_auth.secure,
                samesite=jwt_auth.samesite,
            )
        )
    return response


class AuthController(Controller):
    path = "/api"
    tags = ["auth"]
    dependencies = {"users": provide_users}

    @post("/auth/login", summary="Exchange email and password for a bearer token", security=[])
    async def login(
        self, request: Request[None, None, State], data: JSONBody[LoginRequest], users: NamedDependency[UserService]
    ) -> LoginResponse:
        user = await check_login(request, users, data.email, data.password)
        jwt_auth: JWTCookieAuth[User, Token] = request.app.state.jwt_auth
        return LoginResponse(
            access_token=issue_token(jwt_auth, user),
            expires_in=int(TOKEN_LIFETIME.total_seconds()),
            user=UserRead.of(user),
        )

    @post("/auth/logout", status_code=HTTP_204_NO_CONTENT, summary="Log out: revoke every token of the caller")
    async def logout(self, request: Request[User, Token, State], users: NamedDependency[UserService]) -> None:
        """Ends every session of the caller, not only this token's: all their devices and browsers log in again."""
        await users.revoke_tokens(request.user.id)

    @get("/me", summary="The caller, with the service points they belong to")
    async def me(self, request: Request[User, Token, State]) -> UserRead:
        return UserRead.of(request.user)

    @put(
        "/me/password",
        summary="Change one's own password",
        description="Needs the current password (400 naming `currentPassword` when wrong; failures count towards "
        "the login throttle). Every other session of the caller ends; the answer carries a fresh token (and, for the "
        "web pages, a fresh cookie).",
    )
    async def change_password(
        self,
        request: Request[User, Token, State],
        data: JSONBody[PasswordChange],
        users: NamedDependency[UserService],
    ) -> Response[LoginResponse]:
        throttle: LoginThrottle = request.app.state.login_throttle
        email, address = request.user.email, _client_address(request)
        wait = throttle.retry_after(email, address)
        if wait:
            message = "too many failed attempts; try again later"
            raise TooManyRequestsException(message, headers={"Retry-After": str(wait)})
        try:
            user = await users.change_own_password(request.user.id, data.current_password, data.new_password)
        except WrongPasswordError:
            throttle.record_failure(email, address)
            raise invalid_field("currentPassword", "wrong password") from None
        return _fresh_session(request, user)


class UserController(Controller):
    path = "/api/users"
    tags = ["users"]
    guards = [requires_admin]
    dependencies = {"users": provide_users}

    @get("/", summary="All users (admin)")
    async def list_users(self, users: NamedDependency[UserService]) -> list[UserRead]:
        return [UserRead.of(user) for user in await users.list_users()]

    @post("/", summary="Create a user (admin)")
    async def create_user(self, data: JSONBody[UserCreate], users: NamedDependency[UserService]) -> UserRead:
        user = await users.create_user(email=data.email, password=data.password, name=data.name, is_admin=data.is_admin)
        return UserRead.of(user)

    @patch(
        "/{user_id:uuid}",
        summary="Edit a user: name, email, administrator, active (admin)",
        description="`isActive: false` deactivates the account: it cannot log in and its tokens stop working at once. "
        "409 for deactivating oneself or leaving no active administrator.",
    )
    async def update_user(
        self,
        request: Request[User, Token, State],
        user_id: FromPath[UUID],
        data: JSONBody[UserUpdate],
        users: NamedDependency[UserService],
    ) -> UserRead:
        changes = {key: value for key, value in msgspec.structs.asdict(data).items() if value is not msgspec.UNSET}
        try:
            user = await users.update_user(request.user, user_id, **changes)
        except UserRuleError as exc:
            raise ConflictException(str(exc)) from None
        return UserRead.of(user)

    @put(
        "/{user_id:uuid}/password",
        status_code=HTTP_204_NO_CONTENT,
        summary="Set a user's password (admin)",
        description="Every session the user had ends; their failed logins are forgotten.",
    )
    async def reset_password(
        self,
        request: Request[User, Token, State],
        user_id: FromPath[UUID],
        data: JSONBody[PasswordReset],
        users: NamedDependency[UserService],
    ) -> None:
        user = await users.set_password(user_id, data.password)
        request.app.state.login_throttle.forget_account(user.email)

    @delete(
        "/{user_id:uuid}/login-failures",
        summary="Unlock a user after failed logins (admin)",
        description="Forgets the account's failed logins, so whoever knows the password may log in again at once.",
    )
    async def unlock(
        self, request: Request[User, Token, State], user_id: FromPath[UUID], users: NamedDependency[UserService]
    ) -> None:
        user = await users.get_with_memberships(user_id)
        request.app.state.login_throttle.forget_account(user.email)

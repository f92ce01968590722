"""Login, the caller's own profile and user administration."""

from __future__ import annotations

from advanced_alchemy.extensions.litestar.providers import create_service_provider
from litestar import Controller, Request, get, post
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.exceptions import NotAuthorizedException, TooManyRequestsException
from litestar.params import JSONBody
from litestar.security.jwt import JWTCookieAuth, Token
from litestar.status_codes import HTTP_204_NO_CONTENT

from ventanilla.auth.guards import requires_admin
from ventanilla.auth.jwt import TOKEN_LIFETIME, issue_token
from ventanilla.auth.schemas import LoginRequest, LoginResponse, UserCreate, UserRead
from ventanilla.auth.services import UserService
from ventanilla.auth.throttle import LoginThrottle
from ventanilla.db.models import User

provide_users = Provide(create_service_provider(UserService))


async def check_login(request: Request[None, None, State], users: UserService, email: str, password: str) -> User:
    """The one login rule for the API and the login page, throttled as `auth.throttle` describes.

    The client address is the connection's, or what a proxy of TRUSTED_PROXIES forwarded (see `cli`).
    Raises TooManyRequestsException (with Retry-After) while throttled, NotAuthorizedException for a wrong pair.
    """
    throttle: LoginThrottle = request.app.state.login_throttle
    email = email.strip().lower()
    address = request.client.host if request.client else "unknown"
    wait = throttle.retry_after(email, address)
    if wait:
        raise TooManyRequestsException("too many failed logins; try again later", headers={"Retry-After": str(wait)})
    user = await users.authenticate(email, password)
    if user is None:
        throttle.record_failure(email, address)
        raise NotAuthorizedException("wrong email or password")
    throttle.record_success(email, address)
    return user


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

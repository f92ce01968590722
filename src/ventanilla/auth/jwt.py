"""Token authentication: Litestar's JWT middleware with a pinned algorithm, issuer and audience.

API clients send `Authorization: Bearer <token>`; the web pages carry the same token in an HttpOnly, SameSite=Strict
cookie (so other sites cannot make the browser use it, and page scripts cannot read it).

Every token carries its user's `token_version`; raising the version (logout) revokes every token issued before.
Every method is authenticated, OPTIONS and HEAD included, so guards never meet a request without a user.
"""

from __future__ import annotations

from collections import OrderedDict
from datetime import timedelta
from uuid import UUID

from advanced_alchemy.extensions.litestar import SQLAlchemyAsyncConfig
from litestar.connection import ASGIConnection
from litestar.security.jwt import JWTCookieAuth, Token
from sqlalchemy import inspect

from ventanilla.auth.services import UserService
from ventanilla.db.errors import is_unavailable
from ventanilla.db.models import User

TOKEN_ISSUER = "ventanilla"
TOKEN_AUDIENCE = "ventanilla-api"
TOKEN_ALGORITHM = "HS256"
TOKEN_LIFETIME = timedelta(hours=12)
TOKEN_COOKIE = "ventanilla_token"
TOKEN_VERSION_CLAIM = "ver"
PUBLIC_PATHS = ["^/health$", "^/ready$", "^/metrics$", "^/schema", "^/api/auth/login$", "^/login$", "^/static/"]


def build_jwt_auth(
    jwt_secret: str, alchemy: SQLAlchemyAsyncConfig, *, secure_cookie: bool = False
) -> JWTCookieAuth[User, Token]:
    """Every request outside `PUBLIC_PATHS` needs a valid, unrevoked token for a user that still exists."""

    known = KnownUsers()

    async def retrieve_user(token: Token, connection: ASGIConnection) -> User | None:
        try:
            user_id = UUID(token.sub)
        except ValueError:
            return None
        session = alchemy.provide_session(connection.app.state, connection.scope)
        try:
            user = await UserService(session=session).get_active(user_id)
        except Exception as exc:
            user = known.during_outage(user_id, exc)
        else:
            known.remember(user_id, user)
        return user if user is not None and token_is_current(token, user) else None

    return JWTCookieAuth[User, Token](
        retrieve_user_handler=retrieve_user,
        key=TOKEN_COOKIE,
        samesite="strict",
        secure=secure_cookie,
        token_secret=jwt_secret,
        algorithm=TOKEN_ALGORITHM,
        default_token_expiration=TOKEN_LIFETIME,
        accepted_issuers=[TOKEN_ISSUER],
        accepted_audiences=[TOKEN_AUDIENCE],
        require_claims=["exp", "iat", "sub", "iss", "aud"],
        exclude=PUBLIC_PATHS,
        exclude_http_methods=[],
        openapi_security_scheme_name="BearerToken",
        description="`Authorization: Bearer <accessToken>` from POST /api/auth/login",
    )


class KnownUsers:
    """The last state of recently seen users, read only while the database cannot be reached.

    WhatsApp's network does not wait for our database: during an outage the simulator's phone side (and anything
    else that needs no data) keeps working for users seen shortly before, with the roles they had then. Everything
    that needs the database still answers 503. A user deleted or revoked meanwhile is known again at the next
    successful read.
    """

    def __init__(self, capacity: int = 10_000) -> None:
        self._users: OrderedDict[UUID, User] = OrderedDict()
        self._capacity = capacity

    def remember(self, user_id: UUID, user: User | None) -> None:
        self._users.pop(user_id, None)
        if user is None:
            return
        self._users[user_id] = user
        if len(self._users) > self._capacity:
            self._users.popitem(last=False)

    def during_outage(self, user_id: UUID, error: Exception) -> User | None:
        """The remembered user when `error` says the database is away; otherwise (or unknown) `error` again."""
        user = self._users.get(user_id) if is_unavailable(error) else None
        if user is None or inspect(user).expired_attributes:  # its session rolled back since: nothing left to read
            raise error
        return user


def issue_token(jwt_auth: JWTCookieAuth[User, Token], user: User) -> str:
    return jwt_auth.create_token(
        identifier=str(user.id),
        token_expiration=TOKEN_LIFETIME,
        token_issuer=TOKEN_ISSUER,
        token_audience=TOKEN_AUDIENCE,
        token_extras={TOKEN_VERSION_CLAIM: user.token_version},
    )


def token_is_current(token: Token, user: User) -> bool:
    """False once the user logged out or was deactivated after this token was issued (or without a version)."""
    return user.is_active and token.extras.get(TOKEN_VERSION_CLAIM) == user.token_version

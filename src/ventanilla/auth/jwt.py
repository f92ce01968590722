"""Token authentication: Litestar's JWT middleware with a pinned algorithm, issuer and audience.

API clients send `Authorization: Bearer <token>`; the web pages carry the same token in an HttpOnly, SameSite=Strict
cookie (so other sites cannot make the browser use it, and page scripts cannot read it).

Every token carries its user's `token_version`; raising the version (logout) revokes every token issued before.
Every method is authenticated, OPTIONS and HEAD included, so guards never meet a request without a user.

A company system sends `Authorization: Bearer vk_...` instead (see `ventanilla.api_keys`): recognized before any JWT
decoding, it authenticates to an `ApiKeyPrincipal` and reaches only routes whose handler `opt` names a scope the key
holds (deny by default: 403 elsewhere), and then only its points, through the same guards as members.
"""

from __future__ import annotations

from collections import OrderedDict
from datetime import UTC, datetime, timedelta
from uuid import UUID

from advanced_alchemy.extensions.litestar import SQLAlchemyAsyncConfig
from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.middleware import AuthenticationResult
from litestar.security.jwt import JWTCookieAuth, JWTCookieAuthenticationMiddleware, Token
from sqlalchemy import inspect

from ventanilla.api_keys.principal import KEY_PREFIX, SCOPE_OPT, ApiKeyPrincipal
from ventanilla.api_keys.services import ApiKeyService
from ventanilla.auth.services import UserService
from ventanilla.db.errors import is_unavailable
from ventanilla.db.models import User

TOKEN_ISSUER = "ventanilla"
TOKEN_AUDIENCE = "ventanilla-api"
TOKEN_ALGORITHM = "HS256"
TOKEN_LIFETIME = timedelta(hours=12)
TOKEN_COOKIE = "ventanilla_token"
TOKEN_VERSION_CLAIM = "ver"
# /webhooks/: called by Meta, and authenticated by the signature of each body instead.
PUBLIC_PATHS = [
    "^/health$",
    "^/ready$",
    "^/metrics$",
    "^/schema",
    "^/api/auth/login$",
    "^/login$",
    "^/static/",
    "^/webhooks/",
]


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

    class KeyOrTokenMiddleware(JWTCookieAuthenticationMiddleware):
        async def authenticate_token(self, encoded_token: str, connection: ASGIConnection) -> AuthenticationResult:
            if not encoded_token.startswith(KEY_PREFIX):
                return await super().authenticate_token(encoded_token, connection)
            if connection.headers.get(self.auth_header, "").partition(" ")[-1] != encoded_token:
                raise NotAuthorizedException("send API keys in the Authorization header only")
            principal = await authenticate_key(alchemy, encoded_token)
            required = connection.route_handler.opt.get(SCOPE_OPT)
            if required is None or required not in principal.scopes:
                raise PermissionDeniedException("this API key may not use this route")
            return AuthenticationResult(user=principal, auth=None)

    return JWTCookieAuth[User, Token](
        retrieve_user_handler=retrieve_user,
        authentication_middleware_class=KeyOrTokenMiddleware,
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
        description="`Authorization: Bearer <accessToken>` from POST /api/auth/login, or an API key `vk_...`",
    )


async def authenticate_key(alchemy: SQLAlchemyAsyncConfig, presented: str) -> ApiKeyPrincipal:
    """The principal of a live key (401 otherwise), noting its use at most once a minute.

    Its own short session: the request's may roll back, and a key's use is worth recording either way.
    """
    async with alchemy.get_session() as session:
        keys = ApiKeyService(session=session)
        key = await keys.authenticate(presented)
        if key is None:
            raise NotAuthorizedException("unknown or revoked API key", headers={"WWW-Authenticate": "Bearer"})
        if await keys.note_use(key, datetime.now(UTC)):
            await session.commit()
        return ApiKeyPrincipal.of(key)


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

"""Token authentication: Litestar's JWT middleware with a pinned algorithm, issuer and audience.

API clients send `Authorization: Bearer <token>`; the web pages carry the same token in an HttpOnly, SameSite=Strict
cookie (so other sites cannot make the browser use it, and page scripts cannot read it).
"""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID

from advanced_alchemy.extensions.litestar import SQLAlchemyAsyncConfig
from litestar.connection import ASGIConnection
from litestar.security.jwt import JWTCookieAuth, Token

from ventanilla.auth.services import UserService
from ventanilla.db.models import User

TOKEN_ISSUER = "ventanilla"
TOKEN_AUDIENCE = "ventanilla-api"
TOKEN_ALGORITHM = "HS256"
TOKEN_LIFETIME = timedelta(hours=12)
TOKEN_COOKIE = "ventanilla_token"
PUBLIC_PATHS = ["^/health$", "^/ready$", "^/metrics$", "^/schema", "^/api/auth/login$", "^/login$", "^/static/"]


def build_jwt_auth(
    jwt_secret: str, alchemy: SQLAlchemyAsyncConfig, *, secure_cookie: bool = False
) -> JWTCookieAuth[User, Token]:
    """Every request outside `PUBLIC_PATHS` needs a valid token for a user that still exists."""

    async def retrieve_user(token: Token, connection: ASGIConnection) -> User | None:
        try:
            user_id = UUID(token.sub)
        except ValueError:
            return None
        session = alchemy.provide_session(connection.app.state, connection.scope)
        return await UserService(session=session).get_active(user_id)

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
        openapi_security_scheme_name="BearerToken",
        description="`Authorization: Bearer <accessToken>` from POST /api/auth/login",
    )


def issue_token(jwt_auth: JWTCookieAuth[User, Token], user: User) -> str:
    return jwt_auth.create_token(
        identifier=str(user.id),
        token_expiration=TOKEN_LIFETIME,
        token_issuer=TOKEN_ISSUER,
        token_audience=TOKEN_AUDIENCE,
    )

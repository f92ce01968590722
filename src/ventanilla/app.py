"""`create_app()`: the only place where plugins, auth, lifespan and routers are wired together."""

from __future__ import annotations

from advanced_alchemy.exceptions import DuplicateKeyError, ForeignKeyError, IntegrityError, NotFoundError
from advanced_alchemy.extensions.litestar import SQLAlchemyPlugin
from litestar import Litestar
from litestar.datastructures import State
from litestar.exceptions import ValidationException
from litestar.logging import LoggingConfig
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import ScalarRenderPlugin, SwaggerRenderPlugin

from ventanilla import __version__
from ventanilla.auth.controllers import AuthController, UserController
from ventanilla.auth.jwt import build_jwt_auth
from ventanilla.auth.throttle import LoginThrottle
from ventanilla.config import Settings, load_settings
from ventanilla.db.session import build_alchemy_config
from ventanilla.health import HealthController
from ventanilla.http_errors import validation_exception_handler
from ventanilla.service_points.controllers import MemberController, ServicePointController

# Raised by services for bad requests and mapped to 404/409 by advanced-alchemy: no stack trace in the log.
EXPECTED_REPOSITORY_ERRORS = (NotFoundError, DuplicateKeyError, IntegrityError, ForeignKeyError)


def create_app(settings: Settings | None = None) -> Litestar:
    settings = settings or load_settings()
    alchemy = build_alchemy_config(settings.require_database_url())
    jwt_auth = build_jwt_auth(settings.jwt_secret, alchemy)
    return Litestar(
        route_handlers=[HealthController, AuthController, UserController, ServicePointController, MemberController],
        plugins=[SQLAlchemyPlugin(config=alchemy)],
        on_app_init=[jwt_auth.on_app_init],
        exception_handlers={ValidationException: validation_exception_handler},
        state=State({"settings": settings, "alchemy": alchemy, "jwt_auth": jwt_auth, "login_throttle": LoginThrottle()}),
        openapi_config=OpenAPIConfig(
            title="Ventanilla API",
            version=__version__,
            path="/schema",
            render_plugins=[ScalarRenderPlugin(), SwaggerRenderPlugin(path="/swagger")],
        ),
        logging_config=LoggingConfig(
            root={"level": settings.log_level, "handlers": ["queue_listener"]},
            log_exceptions="always",
            disable_stack_trace={400, 401, 403, 404, 405, 409, 422, 429, *EXPECTED_REPOSITORY_ERRORS},
        ),
    )

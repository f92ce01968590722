"""All page routes and the static files under one router, with page-style errors and a strict CSP."""

from __future__ import annotations

from litestar import Router
from litestar.datastructures import ResponseHeader
from litestar.static_files import create_static_files_router

from ventanilla.web.account import AccountPages
from ventanilla.web.admin import AdminPages
from ventanilla.web.controllers import PointPages
from ventanilla.web.errors import PAGE_EXCEPTION_HANDLERS
from ventanilla.web.reports import ReportPages
from ventanilla.web.session import SessionController
from ventanilla.web.templating import STATIC_DIR

# Scripts, styles and images only from this site, so a message that slipped past escaping still could not run.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)


def build_web_router() -> Router:
    return Router(
        path="/",
        route_handlers=[
            SessionController,
            PointPages,
            AdminPages,
            ReportPages,
            AccountPages,
            create_static_files_router(path="/static", directories=[STATIC_DIR], include_in_schema=False),
        ],
        exception_handlers=PAGE_EXCEPTION_HANDLERS,
        response_headers=[
            ResponseHeader(name="Content-Security-Policy", value=CONTENT_SECURITY_POLICY),
            ResponseHeader(name="X-Content-Type-Options", value="nosniff"),
            ResponseHeader(name="Referrer-Policy", value="same-origin"),
        ],
        include_in_schema=False,
    )

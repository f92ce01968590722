"""Errors of page routes as pages: anonymous visitors go to the login form, refusals get a page in Spanish.

Only the web router uses these handlers, so the JSON API keeps answering 401/403/404 as JSON.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from litestar import Request, Response
from litestar.exceptions import NotAuthorizedException, NotFoundException, PermissionDeniedException
from litestar.response import Redirect
from litestar.status_codes import HTTP_303_SEE_OTHER, HTTP_403_FORBIDDEN, HTTP_404_NOT_FOUND
from litestar.types import ExceptionHandlersMap

from ventanilla.web.templating import page


def to_login(request: Request[Any, Any, Any], _: NotAuthorizedException) -> Response[Any]:
    """No valid session: log in first, then come back to the page that was asked for."""
    wanted = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    query = "" if wanted == "/" or request.method != "GET" else "?" + urlencode({"next": wanted})
    return Redirect(f"/login{query}", status_code=HTTP_303_SEE_OTHER)


def not_found(request: Request[Any, Any, Any], _: NotFoundException) -> Response[Any]:
    """Also what a member of another branch sees, exactly like a branch that does not exist."""
    return page(
        request,
        "error.html",
        status_code=HTTP_404_NOT_FOUND,
        title="No encontrado",
        message="Esta página no existe, o no tienes acceso a ella.",
    )


def forbidden(request: Request[Any, Any, Any], exc: PermissionDeniedException) -> Response[Any]:
    """Admin-only pages, and writes refused by the same-origin rule (a form posted from another site)."""
    return page(
        request,
        "error.html",
        status_code=HTTP_403_FORBIDDEN,
        title="Sin permiso",
        message="No tienes permiso para hacer esto, o la solicitud no vino de esta página.",
    )


PAGE_EXCEPTION_HANDLERS: ExceptionHandlersMap = {
    NotAuthorizedException: to_login,
    NotFoundException: not_found,
    PermissionDeniedException: forbidden,
}

"""The reports page (`/reportes`).

The reports page shows the period's figures from the same service as the API, and its charts draw the API's daily
series in the browser (uPlot, served from /static/vendor). Filters come from a plain GET form: a value that is not
a date or not one of the caller's points is said in Spanish on the page instead of a JSON error.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated
from urllib.parse import urlencode

from litestar import Controller, Request, get
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.params import QueryParameter
from litestar.response import Template
from litestar.security.jwt import Token
from litestar.status_codes import HTTP_400_BAD_REQUEST, HTTP_404_NOT_FOUND
from sqlalchemy.ext.asyncio import AsyncSession

from ventanilla.db.models import User
from ventanilla.reports.services import MAX_DAYS, PeriodError, ReportService, resolve_period
from ventanilla.web.templating import page

PERIOD_ERRORS = {
    "must be on or before `to`": "La fecha «Desde» debe ser anterior o igual a «Hasta».",
    f"the period may cover at most {MAX_DAYS} days": f"El periodo puede abarcar como máximo {MAX_DAYS} días.",
}


def _day(value: str | None, label: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise PeriodError(label, f"«{label}» no es una fecha válida (usa el formato aaaa-mm-dd).") from None


class ReportPages(Controller):
    path = "/reportes"
    include_in_schema = False

    @get("/")
    async def reports(
        self,
        request: Request[User, Token, State],
        db_session: NamedDependency[AsyncSession],
        first: Annotated[str | None, QueryParameter(name="from", max_length=40)] = None,
        last: Annotated[str | None, QueryParameter(name="to", max_length=40)] = None,
        point: Annotated[str | None, QueryParameter(name="servicePointId", max_length=40)] = None,
    ) -> Template:
        reports = ReportService(db_session)
        mine = await reports.visible_points(request.user, None) or []
        chosen = next((p for p in mine if str(p.id) == point), None)
        context = {"section": "reportes", "points": mine, "chosen": chosen, "summary": None, "error": None}
        if point and chosen is None:
            context.update(first=first or "", last=last or "", error="Esa sucursal no existe o no es tuya.")
            return page(request, "reports.html", status_code=HTTP_404_NOT_FOUND, **context)
        scope = [chosen] if chosen else mine
        try:
            period = resolve_period(
                _day(first, "Desde"), _day(last, "Hasta"), reports.timezone_of(scope), datetime.now(UTC)
            )
        except PeriodError as exc:
            context.update(first=first or "", last=last or "", error=PERIOD_ERRORS.get(str(exc), str(exc)))
            return page(request, "reports.html", status_code=HTTP_400_BAD_REQUEST, **context)
        query = {"from": period.first.isoformat(), "to": period.last.isoformat()}
        if chosen:
            query["servicePointId"] = str(chosen.id)
        context.update(
            first=query["from"],
            last=query["to"],
            summary=await reports.summary(scope, period),
            query=urlencode(query),
        )
        return page(request, "reports.html", **context)

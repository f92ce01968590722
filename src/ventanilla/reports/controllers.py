"""`/api/reports`: a period's figures, its daily series and its conversations as CSV, for one point or all of the
caller's (admins: every point). A point that is not the caller's is 404, as everywhere else."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Annotated, Any
from uuid import UUID

from litestar import Controller, Request, Response, get
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.exceptions import NotFoundException
from litestar.openapi import ResponseSpec
from litestar.openapi.spec.enums import OpenAPIFormat
from litestar.params import QueryParameter
from litestar.security.jwt import Token
from sqlalchemy.ext.asyncio import AsyncSession

from ventanilla.db.models import ServicePoint, User
from ventanilla.http_errors import invalid_field
from ventanilla.openapi import error
from ventanilla.reports.export import conversations_csv
from ventanilla.reports.schemas import DailyReport, ReportSummary
from ventanilla.reports.services import MAX_DAYS, Period, PeriodError, ReportService, resolve_period

NOT_THEIRS = error("`servicePointId` is not one of the caller's points (or does not exist)")
DAY = "a calendar day (yyyy-mm-dd) in each point's time zone"


@dataclass(frozen=True)
class ReportScope:
    points: list[ServicePoint]
    period: Period


async def provide_reports(db_session: NamedDependency[AsyncSession]) -> ReportService:
    return ReportService(db_session)


def _parsed(key: str, value: str | None, kind: type[date] | type[UUID], example: str) -> Any:
    """A query value parsed here rather than by Litestar, whose 400 would name the Python parameter, not `key`."""
    if value is None:
        return None
    try:
        return date.fromisoformat(value) if kind is date else UUID(value)
    except ValueError:
        raise invalid_field(key, f"not a valid value: use the form {example}", source="query") from None


async def provide_scope(
    request: Request[User, Token, State],
    reports: NamedDependency[ReportService],
    first: Annotated[
        str | None,
        QueryParameter(name="from", format=OpenAPIFormat.DATE, description=f"first day, {DAY}; default: 30 days ago"),
    ] = None,
    last: Annotated[
        str | None,
        QueryParameter(name="to", format=OpenAPIFormat.DATE, description=f"last day (included), {DAY}; default: today"),
    ] = None,
    service_point_id: Annotated[
        str | None,
        QueryParameter(
            name="servicePointId", format=OpenAPIFormat.UUID, description="one point; default: all of the caller's"
        ),
    ] = None,
) -> ReportScope:
    first_day = _parsed("from", first, date, "2026-11-28")
    last_day = _parsed("to", last, date, "2026-11-28")
    points = await reports.visible_points(request.user, _parsed("servicePointId", service_point_id, UUID, "a UUID"))
    if points is None:
        raise NotFoundException("service point not found")
    try:
        period = resolve_period(first_day, last_day, reports.timezone_of(points), datetime.now(UTC))
    except PeriodError as exc:
        raise invalid_field(exc.field, str(exc), source="query") from None
    return ReportScope(points, period)


class ReportController(Controller):
    """Any signed-in user; what they see is limited to their points (`ReportService.visible_points`)."""

    path = "/api/reports"
    tags = ["reports"]
    dependencies = {"reports": Provide(provide_reports), "report_scope": Provide(provide_scope)}

    @get(
        "/summary",
        summary=f"The period's figures (at most {MAX_DAYS} days; definitions in docs/reports.md)",
        responses={404: NOT_THEIRS},
    )
    async def summary(
        self, reports: NamedDependency[ReportService], report_scope: NamedDependency[ReportScope]
    ) -> ReportSummary:
        return await reports.summary(report_scope.points, report_scope.period)

    @get(
        "/daily",
        summary="The period's figures day by day, every day included (for charts)",
        responses={404: NOT_THEIRS},
    )
    async def daily(
        self, reports: NamedDependency[ReportService], report_scope: NamedDependency[ReportScope]
    ) -> DailyReport:
        return await reports.daily(report_scope.points, report_scope.period)

    @get(
        "/conversations.csv",
        summary="One row per conversation the customer wrote in during the period (`;`-separated, UTF-8 with BOM)",
        responses={
            200: ResponseSpec(
                data_container=str,
                media_type="text/csv",
                description="The CSV file (columns in docs/reports.md)",
                generate_examples=False,
            ),
            404: NOT_THEIRS,
        },
    )
    async def conversations_csv(
        self,
        request: Request[User, Token, State],
        reports: NamedDependency[ReportService],
        report_scope: NamedDependency[ReportScope],
    ) -> Response[bytes]:
        rows = await reports.conversations(report_scope.points, report_scope.period)
        name = f"conversaciones-{report_scope.period.first.isoformat()}-a-{report_scope.period.last.isoformat()}.csv"
        body = conversations_csv(rows, str(request.base_url).rstrip("/"))
        return Response(
            content=body.encode(),
            media_type="text/csv",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )

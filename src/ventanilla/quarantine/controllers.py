"""`/api/quarantine` (admin): inbound messages the database refused, with the reason, newest first."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from litestar import Controller, delete, get
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, QueryParameter
from sqlalchemy.ext.asyncio import AsyncSession

from ventanilla.auth.guards import requires_admin
from ventanilla.pagination import decode_cursor, encode_cursor
from ventanilla.quarantine.schemas import QuarantineCursor, QuarantinedRead, QuarantinePage
from ventanilla.quarantine.services import QuarantineService


async def provide_quarantine(db_session: NamedDependency[AsyncSession]) -> QuarantineService:
    return QuarantineService(db_session)


class QuarantineController(Controller):
    path = "/api/quarantine"
    tags = ["operations"]
    guards = [requires_admin]
    dependencies = {"quarantine": Provide(provide_quarantine)}

    @get("/", summary="Inbound messages set aside because the database refused them (admin)")
    async def list_quarantined(
        self,
        quarantine: NamedDependency[QuarantineService],
        service_point_id: Annotated[UUID | None, QueryParameter(name="servicePointId")] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=200)] = 50,
        cursor: Annotated[str | None, QueryParameter()] = None,
    ) -> QuarantinePage:
        position = decode_cursor(cursor, QuarantineCursor) if cursor else None
        rows, more = await quarantine.page(
            service_point_id, limit, (position.created_at, position.id) if position else None
        )
        return QuarantinePage(
            items=[
                QuarantinedRead(
                    id=row.id,
                    service_point_id=row.service_point_id,
                    provider_message_id=row.provider_message_id,
                    payload=row.payload,
                    reason=row.reason,
                    created_at=row.created_at,
                )
                for row in rows
            ],
            next_cursor=encode_cursor(QuarantineCursor(rows[-1].created_at, rows[-1].id)) if more and rows else None,
        )

    @delete("/{quarantined_id:uuid}", summary="Discard a quarantined message once dealt with (admin)")
    async def discard(self, quarantined_id: FromPath[UUID], quarantine: NamedDependency[QuarantineService]) -> None:
        await quarantine.discard(quarantined_id)

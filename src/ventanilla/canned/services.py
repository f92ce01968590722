"""Canned-response queries: a point's own plus the global ones (service_point_id NULL), which only admins change.

As with FAQs, one is always looked up together with the point id from the path, so another branch's, or a global
one addressed for a change under a point's path, is "not found". A repeated shortcut is refused by the database's
unique index and turned into a 409 by advanced-alchemy's `error_messages`, so two racing requests cannot both win.
"""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

import msgspec
from advanced_alchemy.exceptions import ErrorMessages, NotFoundError
from advanced_alchemy.repository import SQLAlchemyAsyncRepository
from advanced_alchemy.service import SQLAlchemyAsyncRepositoryService
from sqlalchemy import ColumnElement, or_, select

from ventanilla.canned.schemas import CannedResponseCreate, CannedResponseUpdate
from ventanilla.db.errors import sqlstate
from ventanilla.db.models import CannedResponse

DUPLICATE_SHORTCUT = "shortcut: another canned response here already uses this shortcut; choose another"
UNIQUE_VIOLATION, FOREIGN_KEY_VIOLATION = "23505", "23503"


def _refusal(error: Exception) -> str:
    """asyncpg's message has no DETAIL line, so advanced-alchemy's duplicate-key pattern never matches it and a
    repeated shortcut arrives as a plain integrity error: tell it by its SQLSTATE (the id is the only other unique
    rule, and it is random)."""
    state = sqlstate(error)
    if state == UNIQUE_VIOLATION:
        return DUPLICATE_SHORTCUT
    if state == FOREIGN_KEY_VIOLATION:
        return "the service point was deleted meanwhile"
    return "the database refused this canned response"


class CannedResponseRepository(SQLAlchemyAsyncRepository[CannedResponse]):
    model_type = CannedResponse
    error_messages: ErrorMessages | None = {"duplicate_key": DUPLICATE_SHORTCUT, "integrity": _refusal}


class CannedResponseService(SQLAlchemyAsyncRepositoryService[CannedResponse, CannedResponseRepository]):
    repository_type = CannedResponseRepository

    async def list_visible(self, service_point_id: UUID, prefix: str | None = None) -> Sequence[CannedResponse]:
        """The point's own and the global ones by shortcut; with the same shortcut, the point's own first."""
        scope = or_(CannedResponse.service_point_id == service_point_id, CannedResponse.service_point_id.is_(None))
        return await self._select(scope, prefix)

    async def list_global(self, prefix: str | None = None) -> Sequence[CannedResponse]:
        return await self._select(CannedResponse.service_point_id.is_(None), prefix)

    async def get_owned(self, service_point_id: UUID | None, canned_id: UUID) -> CannedResponse:
        """One that may be changed under this scope: the point's own, or (None) a global one."""
        column = CannedResponse.service_point_id
        owner = column.is_(None) if service_point_id is None else column == service_point_id
        canned = await self.repository.session.scalar(
            select(CannedResponse).where(CannedResponse.id == canned_id, owner)
        )
        if canned is None:
            raise NotFoundError(detail="canned response not found")
        return canned

    async def create_canned(self, service_point_id: UUID | None, data: CannedResponseCreate) -> CannedResponse:
        canned = CannedResponse(service_point_id=service_point_id, shortcut=data.shortcut, content=data.content.strip())
        return await self.repository.add(canned)

    async def update_canned(self, canned: CannedResponse, data: CannedResponseUpdate) -> CannedResponse:
        changes = {key: value for key, value in msgspec.structs.asdict(data).items() if value is not msgspec.UNSET}
        for field, value in changes.items():
            setattr(canned, field, value.strip() if field == "content" else value)
        return await self.repository.update(canned)  # flushes under the repository's error mapping

    async def delete_canned(self, canned: CannedResponse) -> None:
        await self.repository.session.delete(canned)
        await self.repository.session.flush()

    async def _select(self, scope: ColumnElement[bool], prefix: str | None) -> Sequence[CannedResponse]:
        statement = select(CannedResponse).where(scope)
        if prefix:
            statement = statement.where(CannedResponse.shortcut.startswith(prefix.lower(), autoescape=True))
        statement = statement.order_by(
            CannedResponse.shortcut, CannedResponse.service_point_id.is_(None), CannedResponse.id
        )
        return (await self.repository.session.scalars(statement)).all()

"""FAQ queries: a point's own FAQs plus the global ones (service_point_id NULL), which only admins change.

A point FAQ is always looked up together with the point id from the path, so an FAQ of another branch, or a
global FAQ addressed for a change under a point's path, is "not found".
"""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

import msgspec
from advanced_alchemy.exceptions import NotFoundError
from advanced_alchemy.repository import SQLAlchemyAsyncRepository
from advanced_alchemy.service import SQLAlchemyAsyncRepositoryService
from sqlalchemy import ColumnElement, or_, select

from ventanilla.db.models import Faq
from ventanilla.faq.schemas import FaqCreate, FaqUpdate


class FaqRepository(SQLAlchemyAsyncRepository[Faq]):
    model_type = Faq


class FaqService(SQLAlchemyAsyncRepositoryService[Faq, FaqRepository]):
    repository_type = FaqRepository

    async def list_visible(self, service_point_id: UUID) -> Sequence[Faq]:
        """The point's FAQs, then the global ones, each oldest first."""
        return await self._select(
            or_(Faq.service_point_id == service_point_id, Faq.service_point_id.is_(None)),
            Faq.service_point_id.is_(None),
        )

    async def list_global(self) -> Sequence[Faq]:
        return await self._select(Faq.service_point_id.is_(None))

    async def get_visible(self, service_point_id: UUID, faq_id: UUID) -> Faq:
        """A point's FAQ or a global one: both are what the point's bot answers with."""
        return await self._get(faq_id, or_(Faq.service_point_id == service_point_id, Faq.service_point_id.is_(None)))

    async def get_owned(self, service_point_id: UUID | None, faq_id: UUID) -> Faq:
        """An FAQ that may be changed under this scope: the point's own, or (None) a global one."""
        owner = Faq.service_point_id.is_(None) if service_point_id is None else Faq.service_point_id == service_point_id
        return await self._get(faq_id, owner)

    async def create_faq(self, service_point_id: UUID | None, data: FaqCreate) -> Faq:
        faq = Faq(
            service_point_id=service_point_id,
            question=data.question.strip(),
            answer=data.answer.strip(),
            keywords=clean_keywords(data.keywords),
        )
        return await self.repository.add(faq)

    async def update_faq(self, faq: Faq, data: FaqUpdate) -> Faq:
        changes = {key: value for key, value in msgspec.structs.asdict(data).items() if value is not msgspec.UNSET}
        for field, value in changes.items():
            setattr(faq, field, clean_keywords(value) if field == "keywords" else value.strip())
        await self.repository.session.flush()
        return faq

    async def delete_faq(self, faq: Faq) -> None:
        await self.repository.session.delete(faq)
        await self.repository.session.flush()

    async def _select(self, scope: ColumnElement[bool], *first: ColumnElement[bool]) -> Sequence[Faq]:
        statement = select(Faq).where(scope).order_by(*first, Faq.created_at, Faq.id)
        return (await self.repository.session.scalars(statement)).all()

    async def _get(self, faq_id: UUID, scope: ColumnElement[bool]) -> Faq:
        faq = await self.repository.session.scalar(select(Faq).where(Faq.id == faq_id, scope))
        if faq is None:
            raise NotFoundError(detail="faq not found")
        return faq


def clean_keywords(keywords: list[str]) -> list[str]:
    """Trimmed, in the given order, without repeats that differ only in case."""
    seen: set[str] = set()
    cleaned: list[str] = []
    for keyword in (k.strip() for k in keywords):
        if keyword.casefold() not in seen:
            seen.add(keyword.casefold())
            cleaned.append(keyword)
    return cleaned

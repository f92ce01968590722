"""Service point queries: the points a user may see, and guarded create, update and delete."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

import msgspec
from advanced_alchemy.exceptions import DuplicateKeyError, IntegrityError
from advanced_alchemy.repository import SQLAlchemyAsyncRepository
from advanced_alchemy.service import SQLAlchemyAsyncRepositoryService
from sqlalchemy import ColumnElement, func, select

from ventanilla.assignment.hours import check_timezone, normalize_hours
from ventanilla.db.models import Conversation, ConversationStatus, Membership, ServicePoint, Shipment, User
from ventanilla.service_points.schemas import ServicePointCreate, ServicePointUpdate


class ServicePointRepository(SQLAlchemyAsyncRepository[ServicePoint]):
    model_type = ServicePoint


class ServicePointService(SQLAlchemyAsyncRepositoryService[ServicePoint, ServicePointRepository]):
    repository_type = ServicePointRepository

    async def list_visible(self, user: User) -> Sequence[ServicePoint]:
        """All points for an admin; for anyone else the points they are a member of."""
        statement = select(ServicePoint).order_by(ServicePoint.name)
        if not user.is_admin:
            statement = statement.join(Membership).where(Membership.user_id == user.id)
        return (await self.repository.session.scalars(statement)).all()

    async def create_point(self, data: ServicePointCreate) -> ServicePoint:
        await self._ensure_unique(data.name, data.phone_number)
        point = ServicePoint(name=data.name.strip(), phone_number=data.phone_number, transport=data.transport)
        return await self.repository.add(point)

    async def waiting_counts(self, point_ids: Sequence[UUID]) -> dict[UUID, int]:
        """Customers waiting for a person per point (the assigner's partial index answers it)."""
        if not point_ids:
            return {}
        rows = await self.repository.session.execute(
            select(Conversation.service_point_id, func.count())
            .where(
                Conversation.service_point_id.in_(point_ids),
                Conversation.waiting_since.is_not(None),
                Conversation.status == ConversationStatus.HUMAN,
            )
            .group_by(Conversation.service_point_id)
        )
        return {point_id: count for point_id, count in rows.all()}

    async def update_point(self, point: ServicePoint, data: ServicePointUpdate) -> ServicePoint:
        """HoursError for a time zone or hours that cannot be (naming the field)."""
        changes = {k: v for k, v in msgspec.structs.asdict(data).items() if v is not msgspec.UNSET}
        if "timezone" in changes:
            changes["timezone"] = check_timezone(changes["timezone"])
        if changes.get("business_hours") is not None:
            changes["business_hours"] = normalize_hours(msgspec.structs.asdict(changes["business_hours"]))
        await self._ensure_unique(changes.get("name"), changes.get("phone_number"), exclude=point.id)
        for field, value in changes.items():
            setattr(point, field, value.strip() if isinstance(value, str) and field == "name" else value)
        await self.repository.session.flush()
        return point

    async def delete_point(self, point: ServicePoint) -> None:
        """Deletes the point with its conversations, messages, FAQs and memberships; shipments must move first."""
        shipments = await self.repository.session.scalar(
            select(func.count()).select_from(Shipment).where(Shipment.service_point_id == point.id)
        )
        if shipments:
            raise IntegrityError(detail=f"the service point still has {shipments} shipments; move or delete them first")
        await self.repository.session.delete(point)
        await self.repository.session.flush()

    async def _ensure_unique(self, name: str | None, phone: str | None, exclude: UUID | None = None) -> None:
        """The 409 says which field to change and nothing of the point that holds the value (another branch's)."""
        if name is not None:
            await self._refuse_taken("name", func.lower(ServicePoint.name) == name.strip().lower(), exclude)
        if phone is not None:
            await self._refuse_taken("phoneNumber", ServicePoint.phone_number == phone, exclude)

    async def _refuse_taken(self, field: str, condition: ColumnElement[bool], exclude: UUID | None) -> None:
        statement = select(ServicePoint.id).where(condition)
        if exclude is not None:
            statement = statement.where(ServicePoint.id != exclude)
        if await self.repository.session.scalar(statement) is not None:
            raise DuplicateKeyError(detail=f"{field}: this value is not available; choose another")

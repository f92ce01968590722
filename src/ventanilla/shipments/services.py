"""Shipment queries of one service point: listing, CRUD and the all-or-nothing CSV upsert.

Every method takes the point id from the request path and filters on it, so a shipment of another branch is
"not found" here even when its tracking number exists. Tracking numbers are unique company-wide, which is why
creating or importing a number another branch owns is refused instead of moving the shipment.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import msgspec
from advanced_alchemy.exceptions import DuplicateKeyError, NotFoundError
from advanced_alchemy.repository import SQLAlchemyAsyncRepository
from advanced_alchemy.service import SQLAlchemyAsyncRepositoryService
from litestar.exceptions import ValidationException
from sqlalchemy import case, literal_column, or_, select
from sqlalchemy.dialects.postgresql import insert

from ventanilla.db.models import Shipment, ShipmentStatus
from ventanilla.shipments.csv_import import ParsedFile, RowError, ShipmentRow, rejection
from ventanilla.shipments.schemas import ShipmentCreate, ShipmentUpdate, canonical_tracking_number

# A client clock slightly ahead of ours is not an error; a lastUpdate in the future beyond this is.
CLOCK_SKEW = timedelta(minutes=5)
_NOT_ALPHANUMERIC = re.compile(r"[^A-Za-z0-9]+")


class ShipmentRepository(SQLAlchemyAsyncRepository[Shipment]):
    model_type = Shipment


class ShipmentService(SQLAlchemyAsyncRepositoryService[Shipment, ShipmentRepository]):
    repository_type = ShipmentRepository

    async def list_page(
        self,
        service_point_id: UUID,
        *,
        limit: int,
        after: str | None = None,
        status: ShipmentStatus | None = None,
        q: str | None = None,
    ) -> tuple[Sequence[Shipment], bool]:
        """One page in tracking-number order (unique, so pages never overlap or skip) and whether more follow.

        `q` matches a tracking number prefix, ignoring separators ("abc-12" finds ABC123456), or any part of the
        destination, case-insensitively.
        """
        statement = (
            select(Shipment)
            .where(Shipment.service_point_id == service_point_id)
            .order_by(Shipment.tracking_number)
            .limit(limit + 1)
        )
        if after is not None:
            statement = statement.where(Shipment.tracking_number > after)
        if status is not None:
            statement = statement.where(Shipment.status == status)
        term = (q or "").strip()
        if term:
            matches = [Shipment.destination.icontains(term, autoescape=True)]
            prefix = _NOT_ALPHANUMERIC.sub("", term).upper()
            if prefix:
                matches.append(Shipment.tracking_number.startswith(prefix, autoescape=True))
            statement = statement.where(or_(*matches))
        shipments = (await self.repository.session.scalars(statement)).all()
        return shipments[:limit], len(shipments) > limit

    async def get_shipment(self, service_point_id: UUID, tracking_number: str) -> Shipment:
        shipment = await self.repository.get_one_or_none(
            service_point_id=service_point_id, tracking_number=tracking_number
        )
        if shipment is None:
            raise NotFoundError(detail="shipment not found")
        return shipment

    async def create_shipment(self, service_point_id: UUID, data: ShipmentCreate) -> Shipment:
        tracking_number = canonical_tracking_number(data.tracking_number, source="body")
        if await self.repository.exists(tracking_number=tracking_number):
            raise DuplicateKeyError(detail=f"trackingNumber: {tracking_number} is already registered")
        values = {key: _clean(value) for key, value in msgspec.structs.asdict(data).items()}
        values |= {"tracking_number": tracking_number, "last_update": _last_update(data.last_update)}
        return await self.repository.add(Shipment(service_point_id=service_point_id, **values))

    async def update_shipment(self, service_point_id: UUID, tracking_number: str, data: ShipmentUpdate) -> Shipment:
        shipment = await self.get_shipment(service_point_id, tracking_number)
        changes = {
            key: _clean(value) for key, value in msgspec.structs.asdict(data).items() if value is not msgspec.UNSET
        }
        if "last_update" in changes:
            changes["last_update"] = _last_update(changes["last_update"])
        elif changes.get("status", shipment.status) != shipment.status:
            changes["last_update"] = datetime.now(UTC)
        for field, value in changes.items():
            setattr(shipment, field, value)
        await self.repository.session.flush()
        return shipment

    async def delete_shipment(self, service_point_id: UUID, tracking_number: str) -> None:
        shipment = await self.get_shipment(service_point_id, tracking_number)
        await self.repository.session.delete(shipment)
        await self.repository.session.flush()

    async def import_file(self, service_point_id: UUID, parsed: ParsedFile) -> tuple[int, int]:
        """Upsert every row of an already parsed file, or none: (created, updated).

        Rows naming another point's tracking number are errors, reported with the file's own errors. The upsert's
        `WHERE` repeats that rule, so a number another point registers meanwhile is skipped rather than taken
        over; the row count then falls short and the whole import is refused (the request's transaction rolls
        back). A row updates only the fields its cells speak of (an empty cell keeps the stored value), so rows are
        upserted in groups that speak of the same fields. `lastUpdate` moves only for shipments whose status
        changes.
        """
        foreign = await self.numbers_of_other_points(service_point_id, [row.tracking_number for row in parsed.rows])
        errors = parsed.errors + [
            RowError(row.row, "trackingNumber", f"la guía {row.tracking_number} pertenece a otra sucursal")
            for row in parsed.rows
            if row.tracking_number in foreign
        ]
        if errors:
            raise rejection(errors)

        groups: dict[frozenset[str], list[ShipmentRow]] = {}
        for row in parsed.rows:
            groups.setdefault(frozenset(row.values), []).append(row)
        created = 0
        for fields, rows in groups.items():
            created += await self._upsert(service_point_id, fields, rows)
        return created, len(parsed.rows) - created

    async def _upsert(self, service_point_id: UUID, fields: frozenset[str], rows: list[ShipmentRow]) -> int:
        """One INSERT ... ON CONFLICT for rows that speak of the same `fields`; how many were new."""
        now = datetime.now(UTC)
        records = [
            {
                "id": uuid4(),
                "service_point_id": service_point_id,
                "created_at": now,
                "updated_at": now,
                "last_update": now,
                **row.values,
            }
            for row in rows
        ]
        table = Shipment.__table__
        statement = insert(table)
        new = statement.excluded
        updates = {column: new[column] for column in fields if column != "tracking_number"}
        updates |= {
            "updated_at": new.updated_at,
            "last_update": case(
                (table.c.status.is_distinct_from(new.status), new.last_update), else_=table.c.last_update
            ),
        }
        statement = statement.on_conflict_do_update(
            index_elements=[table.c.tracking_number],
            set_=updates,
            where=table.c.service_point_id == new.service_point_id,
        ).returning(literal_column("xmax = 0").label("created"))
        created_flags = (await self.repository.session.execute(statement, records)).scalars().all()
        if len(created_flags) != len(records):
            raise DuplicateKeyError(
                detail="trackingNumber: another service point registered some of these numbers during the import; "
                "nothing was imported, try again to see which rows"
            )
        return sum(1 for flag in created_flags if flag)

    async def numbers_of_other_points(self, service_point_id: UUID, numbers: Sequence[str]) -> set[str]:
        """Which of `numbers` are registered at another point."""
        statement = select(Shipment.tracking_number).where(
            Shipment.tracking_number.in_(numbers), Shipment.service_point_id != service_point_id
        )
        return set(await self.repository.session.scalars(statement))


def _clean(value: object) -> object:
    return value.strip() if isinstance(value, str) and not isinstance(value, ShipmentStatus) else value


def _last_update(given: datetime | None) -> datetime:
    now = datetime.now(UTC)
    if given is None:
        return now
    if given > now + CLOCK_SKEW:
        message = "must not be in the future"
        raise ValidationException(
            detail=f"lastUpdate: {message}", extra=[{"key": "lastUpdate", "message": message, "source": "body"}]
        )
    return given

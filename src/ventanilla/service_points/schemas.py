"""Bodies of the service point endpoints."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

import msgspec

from ventanilla.assignment.hours import MAX_INTERVALS_PER_DAY
from ventanilla.db.models import ServicePoint, WhatsappStatus
from ventanilla.schemas import CamelStruct, Name, PhoneNumber, as_e164
from ventanilla.text import bounded

CLOCK_PATTERN = r"^(?:(?:[01][0-9]|2[0-3]):[0-5][0-9]|24:00)(?!\n)$"  # 24:00 ends a day at midnight
Clock = Annotated[str, msgspec.Meta(pattern=CLOCK_PATTERN, description="HH:MM, 24 h", examples=["08:00"])]
# [opening, closing] in the point's time zone; a day has at most MAX_INTERVALS_PER_DAY, none overlapping.
Day = Annotated[list[tuple[Clock, Clock]], msgspec.Meta(max_length=MAX_INTERVALS_PER_DAY)]
TimeZoneName = Annotated[
    bounded(64, min_length=1), msgspec.Meta(description="IANA time zone", examples=["America/Guayaquil"])
]
AutoResolveHours = Annotated[int, msgspec.Meta(ge=1, le=8760)]
AssignmentTimeoutMinutes = Annotated[int, msgspec.Meta(ge=1, le=1440)]
# `web`: WhatsApp Web, linked by QR (neonize); `cloud`: Meta's official Cloud API (PUT .../whatsapp/cloud).
PointTransport = Literal["web", "cloud"]


class WeekHours(CamelStruct):
    """Opening hours per weekday; an absent (or empty) day is closed."""

    mon: Day = []
    tue: Day = []
    wed: Day = []
    thu: Day = []
    fri: Day = []
    sat: Day = []
    sun: Day = []


class ServicePointCreate(CamelStruct):
    name: Name
    phone_number: PhoneNumber | None = None
    transport: PointTransport = "web"

    def __post_init__(self) -> None:
        as_e164(self, "phone_number")


class ServicePointUpdate(CamelStruct):
    """Only the fields present change; `phoneNumber: null` clears the number, `businessHours: null` means always
    open."""

    name: Name | msgspec.UnsetType = msgspec.UNSET
    phone_number: PhoneNumber | msgspec.UnsetType | None = msgspec.UNSET
    timezone: TimeZoneName | msgspec.UnsetType = msgspec.UNSET
    business_hours: WeekHours | msgspec.UnsetType | None = msgspec.UNSET
    auto_resolve_hours: AutoResolveHours | msgspec.UnsetType = msgspec.UNSET
    assignment_timeout_minutes: AssignmentTimeoutMinutes | msgspec.UnsetType = msgspec.UNSET
    csat_enabled: bool | msgspec.UnsetType = msgspec.UNSET
    transport: PointTransport | msgspec.UnsetType = msgspec.UNSET

    def __post_init__(self) -> None:
        as_e164(self, "phone_number")


class ServicePointRead(CamelStruct):
    id: UUID
    name: str
    phone_number: str | None
    whatsapp_status: WhatsappStatus
    last_qr_at: datetime | None
    last_error: str | None
    created_at: datetime
    timezone: str
    business_hours: dict[str, list[list[str]]] | None
    auto_resolve_hours: int
    assignment_timeout_minutes: int
    csat_enabled: bool
    transport: PointTransport
    waiting_count: int  # customers waiting for a person (handed off, no agent answer yet)

    @classmethod
    def of(cls, point: ServicePoint, waiting_count: int = 0) -> ServicePointRead:
        return cls(
            id=point.id,
            name=point.name,
            phone_number=point.phone_number,
            whatsapp_status=point.whatsapp_status,
            last_qr_at=point.last_qr_at,
            last_error=point.last_error,
            created_at=point.created_at,
            timezone=point.timezone,
            business_hours=point.business_hours,
            auto_resolve_hours=point.auto_resolve_hours,
            assignment_timeout_minutes=point.assignment_timeout_minutes,
            csat_enabled=point.csat_enabled,
            transport=point.transport,  # type: ignore[arg-type]  # the column's CHECK allows only these
            waiting_count=waiting_count,
        )

"""Bodies of the service point endpoints."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import msgspec

from ventanilla.db.models import ServicePoint, WhatsappStatus
from ventanilla.schemas import CamelStruct, Name, PhoneNumber


class ServicePointCreate(CamelStruct):
    name: Name
    phone_number: PhoneNumber | None = None


class ServicePointUpdate(CamelStruct):
    """Only the fields present change; `phoneNumber: null` clears the number."""

    name: Name | msgspec.UnsetType = msgspec.UNSET
    phone_number: PhoneNumber | msgspec.UnsetType | None = msgspec.UNSET


class ServicePointRead(CamelStruct):
    id: UUID
    name: str
    phone_number: str | None
    whatsapp_status: WhatsappStatus
    last_qr_at: datetime | None
    last_error: str | None
    created_at: datetime

    @classmethod
    def of(cls, point: ServicePoint) -> ServicePointRead:
        return cls(
            id=point.id,
            name=point.name,
            phone_number=point.phone_number,
            whatsapp_status=point.whatsapp_status,
            last_qr_at=point.last_qr_at,
            last_error=point.last_error,
            created_at=point.created_at,
        )

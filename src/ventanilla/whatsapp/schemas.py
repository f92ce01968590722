"""Bodies of the WhatsApp and simulator endpoints."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

import msgspec

from ventanilla.db.models import WhatsappStatus
from ventanilla.schemas import CamelStruct, PhoneNumber


class WhatsappState(CamelStruct):
    status: WhatsappStatus
    phone_number: str | None
    last_qr_at: datetime | None
    qr_available: bool
    last_error: str | None


class PointStatus(CamelStruct):
    service_point_id: UUID
    name: str
    status: WhatsappStatus
    last_qr_at: datetime | None


class QrJson(CamelStruct):
    qr: str
    data_url: str
    expires_at: datetime


class PairCodeRequest(CamelStruct):
    phone_number: PhoneNumber


class PairCode(CamelStruct):
    code: str


class SimulatorDisconnect(CamelStruct):
    reason: Literal["network", "logged_out"]


# What the network hands over is not our users' input: it is taken as it comes (a NUL included, a number with a
# stray newline), and the pipeline cleans it, or sets it aside, as it must with real WhatsApp traffic. Refusing it
# here would hide exactly what the pipeline has to survive: WhatsApp never sends a message twice.
NetworkText = Annotated[str, msgspec.Meta(min_length=1, max_length=4096)]
NetworkSender = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=32,
        description="The sender's number as the network gives it: E.164 (+593991234567); anything else is set aside "
        "in the quarantine",
        examples=["+593991234567"],
    ),
]
ProviderId = Annotated[str, msgspec.Meta(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:-]+(?!\n)$")]


class SimulatorInbound(msgspec.Struct, forbid_unknown_fields=True):
    """A customer's message as the network delivers it."""

    from_: NetworkSender = msgspec.field(name="from")
    text: NetworkText
    message_id: ProviderId | None = msgspec.field(name="messageId", default=None)


class SimulatorReceipt(msgspec.Struct, forbid_unknown_fields=True):
    """The customer's phone acknowledges one of our messages, by its id as listed in `simulator/sent`."""

    message_id: ProviderId = msgspec.field(name="messageId")
    status: Literal["DELIVERED", "READ"]


class SimulatorInboundAccepted(CamelStruct):
    message_id: str


class SimulatorBatchAccepted(CamelStruct):
    message_ids: list[str]


class SimulatorSent(CamelStruct):
    to: str
    text: str
    message_id: str
    sent_at: datetime

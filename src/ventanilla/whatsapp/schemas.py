"""Bodies of the WhatsApp and simulator endpoints."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

import msgspec

from ventanilla.db.models import WhatsappStatus
from ventanilla.schemas import CamelStruct, PhoneNumber, as_e164


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

    def __post_init__(self) -> None:
        as_e164(self, "phone_number")


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


# A MIME type as a sender declares it: type/subtype, optionally with parameters ("audio/ogg; codecs=opus").
_TOKEN = r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*"
MIME_PATTERN = rf"^{_TOKEN}/{_TOKEN}(?:; ?{_TOKEN}=[A-Za-z0-9!#$&^_.+-]+)*(?!\n)$"
MimeType = Annotated[
    str,
    msgspec.Meta(
        pattern=MIME_PATTERN,
        max_length=127,
        description="The type the sender declares (type/subtype); not trusted: the downloader sniffs the bytes",
        examples=["image/jpeg", "audio/ogg; codecs=opus", "application/pdf"],
    ),
]
FileName = Annotated[str, msgspec.Meta(min_length=1, max_length=255, examples=["guia.pdf"])]
FileBytes = Annotated[
    bytes,
    msgspec.Meta(
        min_length=1,
        description="The file's bytes in base64 (standard alphabet, padded); larger than MEDIA_MAX_BYTES: 413",
        examples=["iVBORw0KGgo="],
    ),
]
Emoji = Annotated[str, msgspec.Meta(max_length=32, description="The emoji; empty takes the reaction off")]
Latitude = Annotated[float, msgspec.Meta(ge=-90, le=90)]
Longitude = Annotated[float, msgspec.Meta(ge=-180, le=180)]
PlaceText = Annotated[str, msgspec.Meta(min_length=1, max_length=1024)]


class SimulatorMedia(msgspec.Struct, rename="camel", forbid_unknown_fields=True):
    """A file the customer's phone uploads to the (simulated) media server and sends."""

    mime_type: MimeType
    data_base64: FileBytes
    file_name: FileName | None = None


class SimulatorReaction(msgspec.Struct, rename="camel", forbid_unknown_fields=True):
    """The customer reacts to a message of the chat (by its provider id, as `simulator/sent` lists ours)."""

    message_id: ProviderId
    emoji: Emoji


class SimulatorLocation(msgspec.Struct, forbid_unknown_fields=True):
    latitude: Latitude
    longitude: Longitude
    name: PlaceText | None = None
    address: PlaceText | None = None


class SimulatorInbound(msgspec.Struct, forbid_unknown_fields=True):
    """What a customer's phone sends, as the network delivers it: a text, a file (`text` is then its caption), a
    location, or a reaction to a message (nothing else with it). `replyTo` quotes a message by its provider id."""

    from_: NetworkSender = msgspec.field(name="from")
    text: NetworkText | None = None
    message_id: ProviderId | None = msgspec.field(name="messageId", default=None)
    media: SimulatorMedia | None = None
    reply_to: ProviderId | None = msgspec.field(name="replyTo", default=None)
    reaction: SimulatorReaction | None = None
    location: SimulatorLocation | None = None
    voice: bool = False  # an audio file recorded as a voice note (push to talk)
    sticker: bool = False  # an image/webp sent as a sticker


class SimulatorPhoneSend(msgspec.Struct, forbid_unknown_fields=True):
    """The branch's staff write to a customer on the linked phone itself (not through this service)."""

    to: PhoneNumber
    text: NetworkText
    message_id: ProviderId | None = msgspec.field(name="messageId", default=None)

    def __post_init__(self) -> None:
        as_e164(self, "to")


class SimulatorReceipt(msgspec.Struct, forbid_unknown_fields=True):
    """The customer's phone acknowledges one of our messages, by its id as listed in `simulator/sent`."""

    message_id: ProviderId = msgspec.field(name="messageId")
    status: Literal["DELIVERED", "READ"]


class SimulatorInboundAccepted(CamelStruct):
    message_id: str


class SimulatorBatchAccepted(CamelStruct):
    message_ids: list[str]


class SimulatorSentMedia(CamelStruct):
    mime_type: str
    file_name: str | None
    size: int
    sha256: str  # of the bytes the phone received


class SimulatorSent(CamelStruct):
    """One message a customer's phone received from the point: `text` is the caption of a file; `fromPhone` marks
    what the branch's staff wrote on the linked phone itself."""

    to: str
    text: str
    message_id: str
    sent_at: datetime
    media: SimulatorSentMedia | None = None
    from_phone: bool = False

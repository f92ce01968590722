"""The simulator's phone side over HTTP (only mounted when WHATSAPP_TRANSPORT=simulator; 404 otherwise)."""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from uuid import UUID

from litestar import Controller, get, post
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.exceptions import NotFoundException, ValidationException
from litestar.exceptions.http_exceptions import RequestEntityTooLarge
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_202_ACCEPTED
from sqlalchemy.ext.asyncio import AsyncSession

from ventanilla.auth.guards import requires_point_member
from ventanilla.config import MAX_MEDIA_MAX_BYTES
from ventanilla.db.models import ServicePoint
from ventanilla.http_errors import ConflictException
from ventanilla.service_points.dependencies import provide_service_point
from ventanilla.whatsapp.commands import (
    PhoneDeliver,
    PhoneDrop,
    PhoneItem,
    PhoneReceipt,
    PhoneScan,
    PhoneWrite,
    PointSessions,
    SocketCommand,
)
from ventanilla.whatsapp.schemas import (
    SimulatorBatchAccepted,
    SimulatorDisconnect,
    SimulatorInbound,
    SimulatorInboundAccepted,
    SimulatorMedia,
    SimulatorPhoneSend,
    SimulatorReceipt,
    SimulatorSent,
    SimulatorSentMedia,
)
from ventanilla.whatsapp.simulator import SimulatorError, SimulatorTransport
from ventanilla.whatsapp.transport import (
    InboundMessage,
    Location,
    MediaRef,
    MessageType,
    Reaction,
    Receipt,
    TransportError,
)

MAX_BATCH = 1000
# Files travel inside the JSON body (base64: 4 bytes per 3): the largest MEDIA_MAX_BYTES may allow, and room for
# the rest of the body. The configured MEDIA_MAX_BYTES is checked per file (413 with a clear message).
MAX_BODY_BYTES = 4 * (MAX_MEDIA_MAX_BYTES // 3 + 1) + 16 * 1024 * 1024
# The simulated phone of a point with no configured number: stable per point, clearly fake (+593 99 plus digits).
FAKE_PHONE_PREFIX = "+59399"
FILE_TYPES: dict[str, MessageType] = {"image": "image", "audio": "audio", "video": "video"}  # by the MIME's type


async def provide_simulator(state: State) -> SimulatorTransport:
    return state.simulator


async def _on_socket(state: State, sp_id: UUID, db_session: AsyncSession, command: SocketCommand) -> None:
    """Carry out a phone action on the point's socket, wherever it is: in memory when this replica owns the point
    (so the network keeps delivering while the database is away: the pipeline journals what it cannot store),
    else through the owner. 404 for no such point, 409 when its socket is not connected."""
    sessions: PointSessions = state.sessions.for_request(db_session)
    if not sessions.manager.leases.holds(sp_id) and await db_session.get(ServicePoint, sp_id) is None:
        raise NotFoundException("service point not found")
    try:
        await sessions.run(sp_id, command)
    except (SimulatorError, TransportError) as exc:  # not connected, or a newer socket serves the phone
        raise ConflictException(str(exc)) from None


def _provider_id() -> str:
    return f"SIM{secrets.token_hex(10).upper()}"


@dataclass(frozen=True, slots=True)
class _Arrival:
    """A checked item: the event to deliver, and the file its sender uploads first (if any)."""

    event: InboundMessage | Reaction
    upload: bytes | None = None

    async def uploaded(self, simulator: SimulatorTransport) -> InboundMessage | Reaction:
        """The event, its file on the media server first (named by the handle the message carries)."""
        if self.upload is None or not isinstance(self.event, InboundMessage) or self.event.media is None:
            return self.event
        digest = await simulator.media.upload(self.upload)
        return replace(self.event, media=replace(self.event.media, handle=digest.encode()))


def _invalid(key: str, message: str) -> ValidationException:
    return ValidationException(detail=f"{key}: {message}", extra=[{"key": key, "message": message, "source": "body"}])


def _check(data: SimulatorInbound, at: str) -> None:
    """What one phone message can hold together; a 400 names the field that does not fit (`at`: `[3].` in a batch)."""
    given = {
        "text": data.text is not None,
        "media": data.media is not None,
        "location": data.location is not None,
        "replyTo": data.reply_to is not None,
        "voice": data.voice,
        "sticker": data.sticker,
    }
    if data.reaction is not None:
        for name, present in given.items():
            if present:
                raise _invalid(f"{at}{name}", "a reaction is sent alone: its messageId names the message it is on")
        return
    if data.location is not None and data.media is not None:
        raise _invalid(f"{at}location", "a message carries a file or a location, not both")
    if data.location is not None and data.text is not None:
        raise _invalid(f"{at}text", "a location carries no text (it has a name and an address)")
    if not (given["text"] or given["media"] or given["location"]):
        raise _invalid(f"{at}text", "missing: a message needs text, media, a location or a reaction")
    mime = data.media.mime_type.split(";", 1)[0].strip().lower() if data.media else ""
    if data.voice and not mime.startswith("audio/"):
        raise _invalid(f"{at}voice", "a voice note is an audio/* file (media)")
    if data.sticker and mime != "image/webp":
        raise _invalid(f"{at}sticker", "a sticker is an image/webp file (media)")


def _media_type(data: SimulatorMedia, sticker: bool) -> MessageType:
    """The type a phone shows for the declared file (the declaration is all the network has)."""
    if sticker:
        return "sticker"
    return FILE_TYPES.get(data.mime_type.split("/", 1)[0].lower(), "document")


def _arrival(data: SimulatorInbound, max_bytes: int, at: str = "") -> _Arrival:
    """Check one item and turn it into what the network hands the socket."""
    _check(data, at)
    message_id = data.message_id or _provider_id()
    now = datetime.now(UTC)
    if data.reaction is not None:
        return _Arrival(Reaction(message_id, data.from_, data.reaction.message_id, data.reaction.emoji, now))
    message = InboundMessage(
        provider_message_id=message_id,
        customer_phone=data.from_,
        text=data.text or "",
        timestamp=now,
        reply_to=data.reply_to,
    )
    if data.location is not None:
        place = data.location
        location = Location(place.latitude, place.longitude, place.name, place.address)
        return _Arrival(replace(message, type="location", location=location))
    if data.media is None:
        return _Arrival(message)
    file = data.media.data_base64
    if len(file) > max_bytes:
        raise RequestEntityTooLarge(
            detail=f"{at}media.dataBase64: the file has {len(file)} bytes; this server accepts files of at most "
            f"{max_bytes} bytes (MEDIA_MAX_BYTES)",
            extra=[{"key": f"{at}media.dataBase64", "message": f"larger than {max_bytes} bytes", "source": "body"}],
        )
    ref = MediaRef(b"", data.media.mime_type, data.media.file_name, len(file), voice=data.voice)  # handle: once up
    return _Arrival(replace(message, type=_media_type(data.media, data.sticker), media=ref), file)


async def _deliver(
    state: State, sp_id: UUID, db_session: AsyncSession, arrivals: list[_Arrival]
) -> list[InboundMessage | Reaction]:
    """Upload the files, then hand everything to the socket at once, in order, as the network does under load (the
    pipeline stores messages arriving together in one transaction). 409 when the point is not connected."""
    simulator: SimulatorTransport = state.simulator
    local = simulator.sockets.get(sp_id)
    if local is not None and any(arrival.upload for arrival in arrivals):
        try:
            local.require_connected()  # before any upload: nothing is left on the media server for nobody
        except SimulatorError as exc:
            raise ConflictException(str(exc)) from None
    events = await asyncio.gather(*(arrival.uploaded(simulator) for arrival in arrivals))
    items = [PhoneItem(reaction=e) if isinstance(e, Reaction) else PhoneItem(message=e) for e in events]
    await _on_socket(state, sp_id, db_session, PhoneDeliver(items))
    return events


class SimulatorController(Controller):
    path = "/api/service-points/{sp_id:uuid}/simulator"
    tags = ["simulator"]
    guards = [requires_point_member]
    dependencies = {
        "service_point": Provide(provide_service_point),
        "simulator": Provide(provide_simulator),
    }

    @post("/scan", summary="The phone scans the pending QR: the point becomes CONNECTED")
    async def scan(
        self, state: State, service_point: NamedDependency[ServicePoint], db_session: NamedDependency[AsyncSession]
    ) -> None:
        phone = service_point.phone_number or FAKE_PHONE_PREFIX + str(service_point.id.int)[-7:]
        await _on_socket(state, service_point.id, db_session, PhoneScan(phone))

    @post("/disconnect", summary="The connection drops (network) or the phone unlinks this device (logged_out)")
    async def disconnect(
        self,
        data: JSONBody[SimulatorDisconnect],
        state: State,
        service_point: NamedDependency[ServicePoint],
        db_session: NamedDependency[AsyncSession],
    ) -> None:
        await _on_socket(state, service_point.id, db_session, PhoneDrop(logged_out=data.reason == "logged_out"))

    @post(
        "/inbound",
        status_code=HTTP_202_ACCEPTED,
        request_max_body_size=MAX_BODY_BYTES,
        summary="A customer's message, file, location or reaction arrives on this point's socket",
    )
    async def inbound(
        self,
        sp_id: FromPath[UUID],
        data: JSONBody[SimulatorInbound],
        state: State,
        db_session: NamedDependency[AsyncSession],
    ) -> SimulatorInboundAccepted:
        arrival = _arrival(data, state.settings.media_max_bytes)  # bad input first: 400 even on a closed socket
        [event] = await _deliver(state, sp_id, db_session, [arrival])
        return SimulatorInboundAccepted(message_id=event.provider_message_id)

    @post(
        "/inbound/batch",
        status_code=HTTP_202_ACCEPTED,
        request_max_body_size=MAX_BODY_BYTES,
        summary="Many customers' messages arriving at once",
    )
    async def inbound_batch(
        self,
        sp_id: FromPath[UUID],
        data: JSONBody[list[SimulatorInbound]],
        state: State,
        db_session: NamedDependency[AsyncSession],
    ) -> SimulatorBatchAccepted:
        if not 1 <= len(data) <= MAX_BATCH:
            raise ValidationException(
                f"a batch holds 1 to {MAX_BATCH} messages", extra=[{"key": "body", "message": f"got {len(data)}"}]
            )
        limit = state.settings.media_max_bytes
        arrivals = [_arrival(item, limit, f"[{index}].") for index, item in enumerate(data)]  # all checked first
        events = await _deliver(state, sp_id, db_session, arrivals)
        return SimulatorBatchAccepted(message_ids=[event.provider_message_id for event in events])

    @post(
        "/phone-send",
        status_code=HTTP_202_ACCEPTED,
        summary="The branch's staff write to a customer from the linked phone itself",
        description="The customer receives it (listed by `simulator/sent` with `fromPhone: true`) and this service "
        "sees it as the staff's message: the conversation becomes HUMAN and the bot stops answering it.",
    )
    async def phone_send(
        self,
        sp_id: FromPath[UUID],
        data: JSONBody[SimulatorPhoneSend],
        state: State,
        db_session: NamedDependency[AsyncSession],
    ) -> SimulatorInboundAccepted:
        message_id = data.message_id or _provider_id()
        await _on_socket(state, sp_id, db_session, PhoneWrite(data.to, data.text, message_id))
        return SimulatorInboundAccepted(message_id=message_id)

    @post("/receipt", status_code=HTTP_202_ACCEPTED, summary="A customer's phone acknowledges one of our messages")
    async def receipt(
        self,
        sp_id: FromPath[UUID],
        data: JSONBody[SimulatorReceipt],
        state: State,
        simulator: NamedDependency[SimulatorTransport],
        db_session: NamedDependency[AsyncSession],
    ) -> None:
        """The phone acknowledges only what it received, as the network's record says; a recent send is known
        without the database, so this keeps working while PostgreSQL is away, like `inbound`."""
        if not await simulator.record.has(sp_id, data.message_id):
            if await db_session.get(ServicePoint, sp_id) is None:
                raise NotFoundException("service point not found")
            raise NotFoundException("this point sent no message with that id")
        receipt = Receipt((data.message_id,), read=data.status == "READ")
        await _on_socket(state, sp_id, db_session, PhoneReceipt(receipt))

    @get("/sent", summary="What this point's socket sent, as the phones received it")
    async def sent(
        self, service_point: NamedDependency[ServicePoint], simulator: NamedDependency[SimulatorTransport]
    ) -> list[SimulatorSent]:
        return [
            SimulatorSent(
                to=m.to,
                text=m.text,
                message_id=m.message_id,
                sent_at=m.sent_at,
                media=m.media
                and SimulatorSentMedia(m.media.mime_type, m.media.file_name, m.media.size, m.media.sha256),
                from_phone=m.from_phone,
            )
            for m in await simulator.record.read(service_point.id)
        ]

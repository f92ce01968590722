"""The simulator's phone side over HTTP (only mounted when WHATSAPP_TRANSPORT=simulator; 404 otherwise)."""

from __future__ import annotations

import asyncio
import secrets
from datetime import UTC, datetime
from uuid import UUID

from litestar import Controller, get, post
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.exceptions import NotFoundException, ValidationException
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_202_ACCEPTED
from sqlalchemy.ext.asyncio import AsyncSession

from ventanilla.auth.guards import requires_point_member
from ventanilla.db.models import ServicePoint
from ventanilla.http_errors import ConflictException
from ventanilla.service_points.dependencies import provide_service_point
from ventanilla.whatsapp.schemas import (
    SimulatorBatchAccepted,
    SimulatorDisconnect,
    SimulatorInbound,
    SimulatorInboundAccepted,
    SimulatorReceipt,
    SimulatorSent,
)
from ventanilla.whatsapp.simulator import SimulatorError, SimulatorSocket, SimulatorTransport
from ventanilla.whatsapp.transport import InboundMessage, Receipt

MAX_BATCH = 1000
# The simulated phone of a point with no configured number: stable per point, clearly fake (+593 99 plus digits).
FAKE_PHONE_PREFIX = "+59399"


async def provide_simulator(state: State) -> SimulatorTransport:
    return state.simulator


async def provide_socket(
    sp_id: FromPath[UUID], simulator: NamedDependency[SimulatorTransport], db_session: NamedDependency[AsyncSession]
) -> SimulatorSocket:
    """The point's open socket, found in memory: the network keeps delivering while the database is away (the
    pipeline journals what it cannot store). Only without a socket is the database asked: 404 for no such point."""
    try:
        return simulator.socket(sp_id)
    except SimulatorError as exc:
        if await db_session.get(ServicePoint, sp_id) is None:
            raise NotFoundException("service point not found") from None
        raise ConflictException(str(exc)) from None


def _inbound(data: SimulatorInbound) -> InboundMessage:
    return InboundMessage(
        provider_message_id=data.message_id or f"SIM{secrets.token_hex(10).upper()}",
        customer_phone=data.from_,
        text=data.text,
        timestamp=datetime.now(UTC),
    )


class SimulatorController(Controller):
    path = "/api/service-points/{sp_id:uuid}/simulator"
    tags = ["simulator"]
    guards = [requires_point_member]
    dependencies = {
        "service_point": Provide(provide_service_point),
        "simulator": Provide(provide_simulator),
        "phone_socket": Provide(provide_socket),
    }

    @post("/scan", summary="The phone scans the pending QR: the point becomes CONNECTED")
    async def scan(
        self, service_point: NamedDependency[ServicePoint], simulator: NamedDependency[SimulatorTransport]
    ) -> None:
        phone = service_point.phone_number or FAKE_PHONE_PREFIX + str(service_point.id.int)[-7:]
        try:
            await simulator.socket(service_point.id).scan(phone)
        except SimulatorError as exc:
            raise ConflictException(str(exc)) from None

    @post("/disconnect", summary="The connection drops (network) or the phone unlinks this device (logged_out)")
    async def disconnect(
        self,
        data: JSONBody[SimulatorDisconnect],
        service_point: NamedDependency[ServicePoint],
        simulator: NamedDependency[SimulatorTransport],
    ) -> None:
        try:
            await simulator.socket(service_point.id).drop(logged_out=data.reason == "logged_out")
        except SimulatorError as exc:
            raise ConflictException(str(exc)) from None

    @post("/inbound", status_code=HTTP_202_ACCEPTED, summary="A customer's message arrives on this point's socket")
    async def inbound(
        self, data: JSONBody[SimulatorInbound], phone_socket: NamedDependency[SimulatorSocket]
    ) -> SimulatorInboundAccepted:
        message = _inbound(data)
        try:
            await phone_socket.deliver(message)
        except SimulatorError as exc:
            raise ConflictException(str(exc)) from None
        return SimulatorInboundAccepted(message_id=message.provider_message_id)

    @post("/inbound/batch", status_code=HTTP_202_ACCEPTED, summary="Many customers' messages arriving at once")
    async def inbound_batch(
        self, data: JSONBody[list[SimulatorInbound]], phone_socket: NamedDependency[SimulatorSocket]
    ) -> SimulatorBatchAccepted:
        if not 1 <= len(data) <= MAX_BATCH:
            raise ValidationException(
                f"a batch holds 1 to {MAX_BATCH} messages", extra=[{"key": "body", "message": f"got {len(data)}"}]
            )
        messages = [_inbound(item) for item in data]
        try:
            # all at once, in order, as the network hands them over; the pipeline stores them together
            await asyncio.gather(*(phone_socket.deliver(message) for message in messages))
        except SimulatorError as exc:
            raise ConflictException(str(exc)) from None
        return SimulatorBatchAccepted(message_ids=[m.provider_message_id for m in messages])

    @post("/receipt", status_code=HTTP_202_ACCEPTED, summary="A customer's phone acknowledges one of our messages")
    async def receipt(
        self,
        data: JSONBody[SimulatorReceipt],
        simulator: NamedDependency[SimulatorTransport],
        phone_socket: NamedDependency[SimulatorSocket],
    ) -> None:
        """Needs no database, like `inbound`: the phone side keeps working while PostgreSQL is away."""
        if not simulator.record.has(phone_socket.service_point_id, data.message_id):
            raise NotFoundException("this point sent no message with that id")
        try:
            await phone_socket.acknowledge(Receipt((data.message_id,), read=data.status == "READ"))
        except SimulatorError as exc:
            raise ConflictException(str(exc)) from None

    @get("/sent", summary="What this point's socket sent, as the phones received it")
    async def sent(
        self, service_point: NamedDependency[ServicePoint], simulator: NamedDependency[SimulatorTransport]
    ) -> list[SimulatorSent]:
        return [
            SimulatorSent(to=m.to, text=m.text, message_id=m.message_id, sent_at=datetime.fromisoformat(m.sent_at))
            for m in simulator.record.read(service_point.id)
        ]

"""What the API asks of a point's socket, whichever replica it reached: one typed command per operation, carried
out by the replica that owns the point (`cluster/commands.py`). Controllers use `PointSessions`, never the session
manager directly, so a request served by any replica acts on the one socket the point has.
"""

from __future__ import annotations

import asyncio
import copy
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import msgspec
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ventanilla.cluster.commands import PointCommands
from ventanilla.db.models import PointLease
from ventanilla.db.session import SessionFactory
from ventanilla.whatsapp.manager import AlreadyConnectedError, NotConnectedError, PendingQr, SessionManager
from ventanilla.whatsapp.simulator import SimulatorError, SimulatorTransport
from ventanilla.whatsapp.transport import InboundMessage, Reaction, Receipt, TransportError


class SocketCommand(msgspec.Struct, tag_field="kind", frozen=True):
    """A command for the point's socket, as stored for the owner."""


class Connect(SocketCommand, tag="connect"):
    pass


class Restart(SocketCommand, tag="restart"):
    pass


class Logout(SocketCommand, tag="logout"):
    pass


class RequestPairingCode(SocketCommand, tag="pairing-code"):
    phone_number: str


# The simulated phone's side (WHATSAPP_TRANSPORT=simulator): it talks to the socket, wherever that is.
class PhoneScan(SocketCommand, tag="phone-scan"):
    phone_number: str


class PhoneDrop(SocketCommand, tag="phone-drop"):
    logged_out: bool


class PhoneItem(msgspec.Struct, frozen=True):
    message: InboundMessage | None = None
    reaction: Reaction | None = None


class PhoneDeliver(SocketCommand, tag="phone-deliver"):
    items: list[PhoneItem]


class PhoneWrite(SocketCommand, tag="phone-write"):
    to_phone: str
    text: str
    message_id: str


class PhoneReceipt(SocketCommand, tag="phone-receipt"):
    receipt: Receipt


AnyCommand = (
    Connect | Restart | Logout | RequestPairingCode | PhoneScan | PhoneDrop | PhoneDeliver | PhoneWrite | PhoneReceipt
)
# Raised by the owner and raised again, by name, on the replica that asked.
KNOWN_ERRORS: tuple[type[Exception], ...] = (
    AlreadyConnectedError,
    NotConnectedError,
    TransportError,
    SimulatorError,
)


class PointSessions:
    """The API's view of every point's socket, on any replica."""

    def __init__(
        self, manager: SessionManager, sessions: SessionFactory, simulator: SimulatorTransport | None = None
    ) -> None:
        self.manager = manager
        self.sessions = sessions
        self.simulator = simulator
        self.commands: PointCommands | None = None  # set by `bind` (the commands need our `handle`)
        self._request: AsyncSession | None = None  # see `for_request`

    def bind(self, commands: PointCommands) -> None:
        self.commands = commands

    def for_request(self, session: AsyncSession) -> PointSessions:
        """This view for one request: before waiting for another replica it ends the request's transaction (its
        reads are done), so the request holds no connection while the owner works."""
        view = copy.copy(self)
        view._request = session
        return view

    async def run(self, point_id: UUID, command: SocketCommand) -> Any:
        assert self.commands is not None
        request = self._request
        return await self.commands.run(point_id, command, request.commit if request is not None else None)

    async def connect(self, point_id: UUID) -> None:
        await self.run(point_id, Connect())

    async def restart(self, point_id: UUID) -> None:
        await self.run(point_id, Restart())

    async def logout(self, point_id: UUID) -> None:
        await self.run(point_id, Logout())

    async def forget(self, point_id: UUID) -> None:
        """The point is being deleted: close its socket if it is ours and delete its credentials. Another owner
        closes its socket when the point's lease disappears with the point (its next beat)."""
        await self.manager.forget(point_id)

    async def pairing_code(self, point_id: UUID, phone_number: str) -> str:
        return str(await self.run(point_id, RequestPairingCode(phone_number)))

    async def pending_qr(self, point_id: UUID) -> PendingQr | None:
        """The owner's pending QR: from memory when the point is ours, else as the owner shared it."""
        if self.manager.leases.holds(point_id):
            return self.manager.pending_qr(point_id)
        async with self.sessions() as session:
            row = (
                await session.execute(
                    select(PointLease.qr_code, PointLease.qr_expires_at).where(
                        PointLease.service_point_id == point_id, PointLease.qr_expires_at > datetime.now(UTC)
                    )
                )
            ).one_or_none()
        if row is None or row.qr_code is None or row.qr_expires_at is None:
            return None
        return PendingQr(code=row.qr_code, expires_at=row.qr_expires_at)

    # --- on the owner --------------------------------------------------------------------------------------

    async def handle(self, point_id: UUID, command: SocketCommand) -> Any:
        """Carry out a command on a point of ours (called by `PointCommands`, here or for another replica)."""
        manager = self.manager
        if isinstance(command, Connect):
            await manager.connect(point_id)
        elif isinstance(command, Restart):
            await manager.restart(point_id)
        elif isinstance(command, Logout):
            await manager.logout(point_id)
        elif isinstance(command, RequestPairingCode):
            return await manager.pairing_code(point_id, command.phone_number)
        else:
            return await self._phone(point_id, command)
        return None

    async def _phone(self, point_id: UUID, command: SocketCommand) -> Any:
        if self.simulator is None:
            raise SimulatorError("the simulator is not running (WHATSAPP_TRANSPORT is not simulator)")
        socket = self.simulator.socket(point_id)
        if isinstance(command, PhoneScan):
            await socket.scan(command.phone_number)
        elif isinstance(command, PhoneDrop):
            await socket.drop(command.logged_out)
        elif isinstance(command, PhoneDeliver):  # all at once, in order: the pipeline stores them together
            socket.require_connected()
            events = [event for item in command.items if (event := item.message or item.reaction) is not None]
            await asyncio.gather(*(socket.deliver(event) for event in events))
        elif isinstance(command, PhoneWrite):
            await socket.write_from_phone(command.to_phone, command.text, command.message_id)
        elif isinstance(command, PhoneReceipt):
            await socket.acknowledge(command.receipt)
        return None

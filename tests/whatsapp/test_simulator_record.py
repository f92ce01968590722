"""The simulated network's state in PostgreSQL: what reached the phones (once per id, for every replica), the linked
phones, and a newer socket fencing off the older one."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID, uuid4

import pytest
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from tests.whatsapp.conftest import eventually
from ventanilla.db.models import ServicePoint, SimulatorPhone
from ventanilla.db.session import SessionFactory
from ventanilla.whatsapp.simulator import SentMessage, SimulatorSocket, SimulatorTransport
from ventanilla.whatsapp.transport import Connected, QrCode, Replaced, SessionEvent, TransportError

CUSTOMER = "+593991112233"


def _message(message_id: str) -> SentMessage:
    return SentMessage(to=CUSTOMER, text="hola", message_id=message_id, sent_at=datetime.now(UTC))


@pytest.fixture
def sessions(engine: AsyncEngine) -> SessionFactory:
    return async_sessionmaker(engine, expire_on_commit=False)


async def _points(session: AsyncSession, count: int) -> list[UUID]:
    points = [ServicePoint(name=f"Punto {index}") for index in range(count)]
    session.add_all(points)
    await session.commit()
    return [point.id for point in points]


class Phone:
    """One replica's socket of a point, with the events it emitted."""

    def __init__(self, network: SimulatorTransport, point: UUID, store: Path) -> None:
        self.events: list[SessionEvent] = []
        self.socket: SimulatorSocket = network.open(point, store, self._receive)

    async def _receive(self, event: SessionEvent) -> None:
        self.events.append(event)

    def count(self, kind: type) -> int:
        return sum(isinstance(event, kind) for event in self.events)


async def _linked(network: SimulatorTransport, point: UUID, tmp_path: Path) -> Phone:
    """A socket whose QR the phone scanned."""
    phone = Phone(network, point, tmp_path / str(point))
    await phone.socket.connect()
    await eventually(lambda: _true(phone.count(QrCode) > 0), what="a QR")
    await phone.socket.scan("+593987650001")
    return phone


async def _true(value: bool) -> bool:
    return value


async def test_an_id_reaches_the_phone_once_per_point_whichever_replica_sends(
    sessions: SessionFactory, session: AsyncSession
) -> None:
    a, b = await _points(session, 2)
    network = SimulatorTransport(sessions)
    socket_a, socket_b = uuid4(), uuid4()
    await network.phones.link(a, "+593987650001", socket_a)
    await network.phones.link(b, "+593987650002", socket_b)
    assert await network.record.append(a, socket_a, _message("3EB0A")) == "sent"
    assert await network.record.append(a, socket_a, _message("3EB0A")) == "resent"  # a resend under the same id
    assert await network.record.append(b, socket_b, _message("3EB0A")) == "sent"  # another point: another message
    other_replica = SimulatorTransport(sessions)
    assert await other_replica.record.append(a, socket_a, _message("3EB0A")) == "resent"
    assert await other_replica.record.append(a, socket_a, _message("3EB0B")) == "sent"
    assert [m.message_id for m in await network.record.read(a)] == ["3EB0A", "3EB0B"]  # in order of arrival
    assert await network.record.has(a, "3EB0B") and not await network.record.has(b, "3EB0B")
    assert await network.record.append(a, uuid4(), _message("3EB0C")) == "replaced"  # a socket the phone never served
    assert not await network.record.has(a, "3EB0C")


async def test_a_newer_connection_replaces_the_older_one_which_can_no_longer_send(
    sessions: SessionFactory, session: AsyncSession, tmp_path: Path
) -> None:
    [point] = await _points(session, 1)
    first, second = SimulatorTransport(sessions, (5.0, 5.0)), SimulatorTransport(sessions, (5.0, 5.0))
    old = await _linked(first, point, tmp_path)
    assert await old.socket.send_text(CUSTOMER, "antes", "3EB0OLD") == "3EB0OLD"

    new = Phone(second, point, tmp_path / "other-replica")  # the point's phone outlived the first replica
    await new.socket.connect()
    await eventually(lambda: _true(new.count(Connected) == 1), what="resumed without a QR")
    assert new.events == [Connected(phone_number="+593987650001")]
    for attempt in range(2):
        with pytest.raises(TransportError, match="replaced"):
            await old.socket.send_text(CUSTOMER, "tarde", f"3EB0LATE{attempt}")
    with pytest.raises(TransportError, match="replaced"):
        await old.socket.write_from_phone(CUSTOMER, "tarde", "3EB0PHONE")
    await eventually(lambda: _true(old.count(Replaced) == 1), what="the old socket told it was replaced")
    await asyncio.sleep(0.05)
    assert old.count(Replaced) == 1  # once
    assert await new.socket.send_text(CUSTOMER, "después", "3EB0NEW") == "3EB0NEW"
    assert [m.message_id for m in await second.record.read(point)] == ["3EB0OLD", "3EB0NEW"]
    await first.shutdown()
    await second.shutdown()


async def test_a_send_racing_a_takeover_waits_for_it_and_is_refused(
    sessions: SessionFactory, session: AsyncSession, tmp_path: Path
) -> None:
    """A paused old owner wakes up while a new socket is taking the phone: its send never reaches the customer."""
    [point] = await _points(session, 1)
    network = SimulatorTransport(sessions, (5.0, 5.0))
    old = await _linked(network, point, tmp_path)
    async with sessions() as takeover, takeover.begin():
        await takeover.execute(
            update(SimulatorPhone).where(SimulatorPhone.service_point_id == point).values(socket_id=uuid4())
        )
        send = asyncio.create_task(old.socket.send_text(CUSTOMER, "tarde", "3EB0LATE"))
        await asyncio.sleep(0.3)
        assert not send.done()  # it waits for the row the takeover holds
    with pytest.raises(TransportError, match="replaced"):
        await send
    assert not await network.record.has(point, "3EB0LATE")
    await network.shutdown()


async def test_a_forgotten_phone_shows_a_qr_on_every_replica(
    sessions: SessionFactory, session: AsyncSession, tmp_path: Path
) -> None:
    a, b = await _points(session, 2)
    network = SimulatorTransport(sessions, (5.0, 5.0))
    await _linked(network, a, tmp_path)
    await network.phones.link(b, "+593987650002", uuid4())
    other_replica = SimulatorTransport(sessions, (5.0, 5.0))
    assert await other_replica.is_linked(a, tmp_path) and await other_replica.is_linked(b, tmp_path)
    await network.forget(a, tmp_path)
    assert not await other_replica.is_linked(a, tmp_path) and await other_replica.is_linked(b, tmp_path)
    relinking = Phone(other_replica, a, tmp_path / "other-replica")
    await relinking.socket.connect()
    await eventually(lambda: _true(relinking.count(QrCode) > 0), what="a QR")
    assert relinking.count(Connected) == 0
    await network.shutdown()
    await other_replica.shutdown()


async def test_forgetting_waits_for_a_send_in_flight_but_not_for_the_points_own_deletion(
    sessions: SessionFactory, session: AsyncSession
) -> None:
    a, b = await _points(session, 2)
    network = SimulatorTransport(sessions)
    for point in (a, b):
        await network.phones.link(point, "+593987650001", uuid4())
    async with sessions() as sending, sending.begin():  # a send holds the phone's row while it is recorded
        row = select(SimulatorPhone).where(SimulatorPhone.service_point_id == a)
        await sending.execute(row.with_for_update(read=True))
        forget = asyncio.create_task(network.forget(a, Path("unused")))
        await asyncio.sleep(0.3)
        assert not forget.done()
    await forget
    assert not await network.is_linked(a, Path("unused"))  # unlinked after the send, not skipped

    async with sessions() as deleting, deleting.begin():  # the point's deletion forgets its session before committing
        await deleting.execute(delete(ServicePoint).where(ServicePoint.id == b))
        await asyncio.wait_for(network.forget(b, Path("unused")), 5)
    assert not await network.is_linked(b, Path("unused"))  # the cascade took it


async def test_a_file_is_kept_once_and_fetched_up_to_a_size(sessions: SessionFactory) -> None:
    network = SimulatorTransport(sessions)
    digest = await network.media.upload(b"una foto")
    assert await network.media.upload(b"una foto") == digest
    assert await SimulatorTransport(sessions).media.fetch(digest.encode(), 8) == b"una foto"  # any replica
    with pytest.raises(TransportError, match="more than 7") as larger:
        await network.media.fetch(digest.encode(), 7)
    assert larger.value.permanent
    with pytest.raises(TransportError, match="expired") as unknown:
        await network.media.fetch(b"0" * 64, 1024)
    assert unknown.value.permanent

"""The session manager's state machine, driven through the simulator's socket with a real database."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import UUID

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from tests.whatsapp.conftest import FAST, eventually
from ventanilla.cluster.leases import PointLeases
from ventanilla.db.models import ServicePoint, SimulatorPhone, WhatsappStatus
from ventanilla.live.events import PUBLISHER_KEY, LiveEvent, QrShown, WhatsappStatusChanged
from ventanilla.whatsapp import messages
from ventanilla.whatsapp.credentials import CredentialStore
from ventanilla.whatsapp.manager import SessionManager, SessionPolicy, backoff_delay
from ventanilla.whatsapp.simulator import SimulatorTransport
from ventanilla.whatsapp.transport import InboundMessage, Replaced, TemporarilyBanned, Unrecoverable


class Harness:
    def __init__(self, engine: AsyncEngine, tmp_path: Path) -> None:
        self.sessions = async_sessionmaker(engine, expire_on_commit=False, info={PUBLISHER_KEY: self})
        self.transport = SimulatorTransport(self.sessions, qr_seconds=(FAST.qr_first_seconds, FAST.qr_next_seconds))
        self.credentials = CredentialStore(tmp_path / "auth")
        self.credentials.root.mkdir(exist_ok=True)
        self.received: list[tuple[UUID, str]] = []
        self.published: list[LiveEvent] = []
        self.failing: set[UUID] = set()
        self.leases = PointLeases(self.sessions, "manager-test")
        self.manager = SessionManager(
            self.transport, self.credentials, self.sessions, self.on_inbound, self, self.leases, FAST
        )
        self.leases.bind(self.manager)  # a point claimed before start() is resumed too

    async def start(self) -> None:
        await self.manager.start()
        await self.leases.start()

    async def stop(self) -> None:
        await self.leases.stop()
        await self.manager.stop()

    async def on_inbound(self, point: UUID, message: InboundMessage) -> None:
        if point in self.failing:
            raise RuntimeError("this point's handler always fails")
        self.received.append((point, message.text))

    def publish(self, event: LiveEvent) -> None:
        self.published.append(event)

    async def point(self, name: str) -> UUID:
        async with self.sessions() as session, session.begin():
            point = ServicePoint(name=name)
            session.add(point)
        assert await self.leases.claim(point.id)  # this replica owns the new point's socket
        return point.id

    async def row(self, point: UUID) -> ServicePoint:
        async with self.sessions() as session:
            row = await session.get(ServicePoint, point)
            assert row is not None
            return row

    async def linked(self, point: UUID, phone: str | None = None) -> None:
        await self.manager.connect(point)
        await eventually(lambda: _true(self.manager.pending_qr(point) is not None), what="QR")
        await self.transport.socket(point).scan(phone or f"+5939{point.int % 10**8:08d}")
        await eventually(lambda: _true(self.manager.is_connected(point)), what="connected")


async def _true(value: bool) -> bool:
    return value


@pytest.fixture
async def harness(engine: AsyncEngine, tmp_path: Path) -> AsyncIterator[Harness]:
    harness = Harness(engine, tmp_path)
    await harness.start()
    yield harness
    await harness.stop()


def _text(text: str, message_id: str) -> InboundMessage:
    return InboundMessage(message_id, "+593991112233", text, datetime.now(UTC))


async def test_a_point_whose_events_always_fail_does_not_disturb_a_healthy_one(harness: Harness) -> None:
    sick, healthy = await harness.point("Enferma"), await harness.point("Sana")
    await harness.linked(sick)
    await harness.linked(healthy)
    harness.failing.add(sick)
    for index in range(5):
        await harness.transport.socket(sick).deliver(_text(f"falla {index}", f"S{index}"))  # never raises here
        await harness.transport.socket(healthy).deliver(_text(f"ok {index}", f"H{index}"))
    assert harness.received == [(healthy, f"ok {i}") for i in range(5)]
    # the failing point's session itself is still fine: it drops and heals like any other
    await harness.transport.socket(sick).drop(logged_out=False)
    await eventually(lambda: _true(harness.manager.is_connected(sick)), what="sick point reconnected")
    assert harness.manager.is_connected(healthy)


async def test_replaced_session_never_reconnects(harness: Harness) -> None:
    point = await harness.point("Reemplazada")
    await harness.linked(point)
    await harness.transport.socket(point).events(Replaced())
    await asyncio.sleep(FAST.reconnect_max_seconds * 3)
    row = await harness.row(point)
    assert row.whatsapp_status is WhatsappStatus.DISCONNECTED
    assert "otro lugar" in (row.last_error or "")
    assert await harness.transport.is_linked(point, harness.credentials.root / str(point))  # still linked
    assert point not in harness.transport.sockets


async def test_temporary_ban_says_until_when_and_stays_down(harness: Harness) -> None:
    point = await harness.point("Suspendida")
    await harness.linked(point)
    until = datetime(2030, 5, 4, 13, 30, tzinfo=UTC)
    await harness.transport.socket(point).events(TemporarilyBanned(until=until, reason="SENT_TO_TOO_MANY_PEOPLE"))
    await asyncio.sleep(FAST.reconnect_max_seconds * 3)
    row = await harness.row(point)
    assert row.whatsapp_status is WhatsappStatus.DISCONNECTED
    assert "hasta el 04/05/2030 a las 13:30 UTC" in (row.last_error or "")


async def test_unrecoverable_refusal_stays_down(harness: Harness) -> None:
    point = await harness.point("Desactualizada")
    await harness.linked(point)
    await harness.transport.socket(point).events(Unrecoverable(reason="CLIENT_OUTDATED"))
    row = await harness.row(point)
    assert row.whatsapp_status is WhatsappStatus.DISCONNECTED and "Actualiza Ventanilla" in (row.last_error or "")


def test_backoff_grows_exponentially_is_capped_and_jittered() -> None:
    policy = SessionPolicy(reconnect_base_seconds=1, reconnect_max_seconds=60)
    top = [backoff_delay(policy, attempt, jitter=lambda: 1.0) for attempt in range(10)]
    assert top == [1, 2, 4, 8, 16, 32, 60, 60, 60, 60]
    low = [backoff_delay(policy, attempt, jitter=lambda: 0.0) for attempt in range(3)]
    assert low == [0.5, 1, 2]
    assert backoff_delay(policy, 10_000, jitter=lambda: 1.0) == 60  # no overflow after days of drops


async def test_a_drop_shows_reconnecting_then_heals(harness: Harness) -> None:
    point = await harness.point("Inestable")
    await harness.linked(point)
    await harness.transport.socket(point).drop(logged_out=False)
    row = await harness.row(point)
    assert row.whatsapp_status is WhatsappStatus.CONNECTING
    assert "Reintentando automáticamente" in (row.last_error or "")
    await eventually(lambda: _true(harness.manager.is_connected(point)), what="healed")

    async def healed() -> bool:  # the socket is up a moment before its row says so
        row = await harness.row(point)
        return row.whatsapp_status is WhatsappStatus.CONNECTED and row.last_error is None

    await eventually(healed, what="the row healed")


async def test_a_number_already_serving_another_point_is_refused(harness: Harness) -> None:
    first, second = await harness.point("Primera"), await harness.point("Segunda")
    await harness.linked(first, phone="+593987650000")
    await harness.manager.connect(second)
    await eventually(lambda: _true(harness.manager.pending_qr(second) is not None), what="QR")
    await harness.transport.socket(second).scan("+593987650000")
    await eventually(lambda: _true(second not in harness.transport.sockets), what="second unlinked")
    row = await harness.row(second)
    assert row.whatsapp_status is WhatsappStatus.DISCONNECTED and row.last_error == messages.NUMBER_TAKEN
    assert "Primera" not in row.last_error  # nothing of the other branch is told
    assert row.phone_number is None
    assert not await harness.transport.is_linked(second, harness.credentials.root / str(second))  # forgotten
    assert harness.manager.is_connected(first)


async def test_status_changes_are_published_per_point(harness: Harness) -> None:
    point = await harness.point("Publicada")
    await harness.linked(point)
    kinds = [type(event) for event in harness.published if event.service_point_id == point]
    assert QrShown in kinds and kinds[-1] is WhatsappStatusChanged
    last = harness.published[-1]
    assert isinstance(last, WhatsappStatusChanged) and last.status is WhatsappStatus.CONNECTED
    assert all(event.service_point_id == point for event in harness.published)


async def test_two_hundred_points_start_together(engine: AsyncEngine, tmp_path: Path, session: AsyncSession) -> None:
    """Linked points resume in the background: start() returns at once, every point connects by itself."""
    first = Harness(engine, tmp_path)
    await first.start()
    points = [await first.point(f"Punto {i:03d}") for i in range(200)]
    async with first.sessions() as session, session.begin():  # their phones linked, as a previous run left them
        session.add_all(
            SimulatorPhone(service_point_id=p, phone_number=f"+5939{p.int % 10**8:08d}", linked_at=datetime.now(UTC))
            for p in points
        )
    await first.stop()

    second = Harness(engine, tmp_path)
    started = asyncio.get_running_loop().time()
    await second.start()
    assert asyncio.get_running_loop().time() - started < 5  # start-up never waits for the sockets
    await eventually(lambda: _true(all(second.manager.is_connected(p) for p in points)), timeout=30, what="all 200")
    await second.stop()
    statuses = {(await second.row(p)).whatsapp_status for p in points}
    assert statuses == {WhatsappStatus.CONNECTED}


async def test_stale_statuses_are_reset_at_start(engine: AsyncEngine, tmp_path: Path) -> None:
    harness = Harness(engine, tmp_path)
    point = await harness.point("Colgada")
    async with harness.sessions() as session, session.begin():
        row = await session.get(ServicePoint, point)
        assert row is not None
        row.whatsapp_status = WhatsappStatus.CONNECTED  # what a crash would leave behind
        row.last_qr_at = datetime.now(UTC) - timedelta(hours=1)
    await harness.start()

    async def reset() -> bool:
        return (await harness.row(point)).whatsapp_status is WhatsappStatus.DISCONNECTED

    await eventually(reset, what="the stale status reset")
    await harness.stop()

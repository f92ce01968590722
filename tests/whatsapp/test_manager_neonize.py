"""The session manager with the real neonize transport, offline: a connect that fails at once is a network drop."""

from __future__ import annotations

from pathlib import Path
from uuid import UUID

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from tests.whatsapp.conftest import eventually
from tests.whatsapp.test_neonize_adapter import make_linked_store, offline
from ventanilla.db.models import ServicePoint, WhatsappStatus
from ventanilla.whatsapp import messages
from ventanilla.whatsapp.credentials import CredentialStore
from ventanilla.whatsapp.manager import SessionManager, SessionPolicy
from ventanilla.whatsapp.neonize import NeonizeTransport

pytestmark = offline
POLICY = SessionPolicy(reconnect_base_seconds=0.05, reconnect_max_seconds=0.2, close_timeout_seconds=5)


class _Unheard:
    def publish(self, event: object) -> None:
        return None


@pytest.fixture
async def manager(engine: AsyncEngine, tmp_path: Path):
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    credentials = CredentialStore(tmp_path / "auth")
    credentials.root.mkdir()

    async def ignore(*_: object) -> None:
        return None

    manager = SessionManager(NeonizeTransport(), credentials, sessions, ignore, _Unheard(), POLICY)
    yield manager, sessions, credentials
    await manager.stop()


async def _point(sessions, name: str) -> UUID:
    async with sessions() as session, session.begin():
        point = ServicePoint(name=name)
        session.add(point)
    return point.id


async def _row(sessions, point: UUID) -> ServicePoint:
    async with sessions() as session:
        row = await session.get(ServicePoint, point)
        assert row is not None
        return row


async def test_an_unlinked_point_that_cannot_reach_whatsapp_stops_with_a_plain_error(manager) -> None:
    sessions_manager, sessions, _ = manager
    point = await _point(sessions, "Sin red")
    await sessions_manager.connect(point)

    async def stopped() -> bool:
        return (await _row(sessions, point)).whatsapp_status is WhatsappStatus.DISCONNECTED

    await eventually(stopped, what="DISCONNECTED")
    assert (await _row(sessions, point)).last_error == messages.UNLINKED_DROP  # no QR loop, a plain reason


async def test_a_linked_point_keeps_reconnecting_with_backoff(manager) -> None:
    sessions_manager, sessions, credentials = manager
    point = await _point(sessions, "Enlazada sin red")
    await make_linked_store(credentials.directory(point))
    assert sessions_manager.transport.is_linked(credentials.directory(point))
    await sessions_manager.connect(point)

    async def retried_a_few_times() -> bool:
        return sessions_manager._points[point].attempt >= 3

    await eventually(retried_a_few_times, timeout=10, what="three reconnect attempts")
    row = await _row(sessions, point)
    assert row.whatsapp_status is WhatsappStatus.CONNECTING
    assert "Reintentando automáticamente" in (row.last_error or "")
    assert credentials.exists(point)  # a network drop never costs the credentials

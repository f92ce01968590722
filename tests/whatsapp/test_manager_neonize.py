"""The session manager with the real neonize transport, offline: a connect that fails at once is a network drop."""

from __future__ import annotations

import os
from pathlib import Path
from uuid import UUID

import asyncpg
import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from tests.whatsapp.conftest import eventually
from tests.whatsapp.test_neonize_adapter import POINT, make_linked_store, offline
from ventanilla.cluster.leases import PointLeases
from ventanilla.db.models import ServicePoint, WhatsappStatus
from ventanilla.whatsapp import messages
from ventanilla.whatsapp.credentials import CredentialStore
from ventanilla.whatsapp.manager import SessionManager, SessionPolicy
from ventanilla.whatsapp.neonize import NeonizeTransport, PostgresSessions

pytestmark = offline
POLICY = SessionPolicy(reconnect_base_seconds=0.05, reconnect_max_seconds=0.2, close_timeout_seconds=5)


class _Unheard:
    def publish(self, event: object) -> None:
        return None


async def _manager(engine: AsyncEngine, tmp_path: Path, transport: NeonizeTransport):
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    credentials = CredentialStore(tmp_path / "auth")
    credentials.root.mkdir()

    async def ignore(*_: object) -> None:
        return None

    leases = PointLeases(sessions, "neonize-test")
    manager = SessionManager(transport, credentials, sessions, ignore, _Unheard(), leases, POLICY)
    await manager.start()
    return manager, sessions, credentials


@pytest.fixture
async def manager(engine: AsyncEngine, tmp_path: Path):
    manager = await _manager(engine, tmp_path, NeonizeTransport())
    yield manager
    await manager[0].stop()


@pytest.fixture
async def pg_manager(engine: AsyncEngine, database_url: str, tmp_path: Path):
    """Credentials in PostgreSQL, in the app's own database, as with several replicas."""
    manager = await _manager(engine, tmp_path, NeonizeTransport(session_database_url=database_url))
    yield manager
    await manager[0].stop()


async def _point(sessions_manager: SessionManager, name: str) -> UUID:
    async with sessions_manager.sessions() as session, session.begin():
        point = ServicePoint(name=name)
        session.add(point)
    assert await sessions_manager.leases.claim(point.id)  # this replica owns the point's socket
    return point.id


async def _row(sessions, point: UUID) -> ServicePoint:
    async with sessions() as session:
        row = await session.get(ServicePoint, point)
        assert row is not None
        return row


async def test_an_unlinked_point_that_cannot_reach_whatsapp_stops_with_a_plain_error(manager) -> None:
    sessions_manager, sessions, _ = manager
    point = await _point(sessions_manager, "Sin red")
    await sessions_manager.connect(point)

    async def stopped() -> bool:
        return (await _row(sessions, point)).whatsapp_status is WhatsappStatus.DISCONNECTED

    await eventually(stopped, what="DISCONNECTED")
    assert (await _row(sessions, point)).last_error == messages.UNLINKED_DROP  # no QR loop, a plain reason


async def test_a_linked_point_keeps_reconnecting_with_backoff(manager) -> None:
    sessions_manager, sessions, credentials = manager
    point = await _point(sessions_manager, "Enlazada sin red")
    await make_linked_store(credentials.directory(point))
    assert await sessions_manager.transport.is_linked(point, credentials.directory(point))
    await sessions_manager.connect(point)

    async def retried_a_few_times() -> bool:
        return sessions_manager._points[point].attempt >= 3

    await eventually(retried_a_few_times, timeout=10, what="three reconnect attempts")
    row = await _row(sessions, point)
    assert row.whatsapp_status is WhatsappStatus.CONNECTING
    assert "Reintentando automáticamente" in (row.last_error or "")
    assert credentials.exists(point)  # a network drop never costs the credentials


async def test_a_point_linked_in_postgresql_keeps_reconnecting_and_forgetting_it_drops_its_schema(
    pg_manager, database_url: str
) -> None:
    sessions_manager, sessions, credentials = pg_manager
    point = await _point(sessions_manager, "Enlazada en PostgreSQL")
    await sessions_manager.connect(point)  # an attempt nobody scans: whatsmeow creates the point's schema

    async def stopped() -> bool:
        return (await _row(sessions, point)).whatsapp_status is WhatsappStatus.DISCONNECTED

    await eventually(stopped, what="DISCONNECTED")
    schema = PostgresSessions.schema(point)
    db = await asyncpg.connect(
        make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)
    )
    try:
        await db.execute(  # what a scanned QR leaves there
            f"INSERT INTO {schema}.whatsmeow_device (jid, registration_id, noise_key, identity_key, signed_pre_key,"
            " signed_pre_key_id, signed_pre_key_sig, adv_key, adv_details, adv_account_sig, adv_account_sig_key,"
            " adv_device_sig) VALUES ($1, 1, $2, $3, $4, 1, $5, $6, $7, $8, $9, $10)",
            f"{POINT}:7@s.whatsapp.net",
            *(os.urandom(n) for n in (32, 32, 32, 64, 32, 10, 64, 32, 64)),
        )
        assert await sessions_manager.transport.is_linked(point, credentials.directory(point))
        await sessions_manager.connect(point)

        async def retried_a_few_times() -> bool:
            return sessions_manager._points[point].attempt >= 3

        await eventually(retried_a_few_times, timeout=10, what="three reconnect attempts")
        assert (await _row(sessions, point)).whatsapp_status is WhatsappStatus.CONNECTING

        await sessions_manager.forget(point)  # the point was deleted

        assert await db.fetchval("SELECT count(*) FROM pg_namespace WHERE nspname = $1", schema) == 0
        assert not await sessions_manager.transport.is_linked(point, credentials.directory(point))
    finally:
        await db.close()

"""WhatsApp-Web credentials in PostgreSQL: one schema per point, beside the app's tables, as with several replicas.

Each test gets its own database (cloned by conftest, dropped afterwards). whatsmeow runs for real and offline: its
dial fails at once, so a connect creates the point's store in PostgreSQL and ends in a network drop.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator
from pathlib import Path
from uuid import UUID

import asyncpg
import pytest
from neonize.aioze import events as neonize_events
from neonize.aioze.client import ClientFactory
from sqlalchemy.engine import make_url

from tests.whatsapp.test_neonize_adapter import POINT, Sink, client_of, go_delivers, offline
from ventanilla.whatsapp import neonize as adapter
from ventanilla.whatsapp.neonize import NeonizeTransport, PostgresSessions
from ventanilla.whatsapp.transport import Connected, Disconnected, TransportError

FIRST = UUID("00000000-0000-4000-8000-00000000000a")
SECOND = UUID("00000000-0000-4000-8000-00000000000b")
UNREACHABLE = "postgresql+asyncpg://ventanilla:s3cr3t-pw@127.0.0.1:1/ventanilla"


def _asyncpg(database_url: str) -> str:
    return make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    """A look into the test database from outside the transport."""
    connection = await asyncpg.connect(_asyncpg(database_url))
    yield connection
    await connection.close()


@pytest.fixture
def store(tmp_path: Path) -> Path:
    path = tmp_path / "point"
    path.mkdir(mode=0o700)
    return path


async def _tables(db: asyncpg.Connection, schema: str) -> set[str]:
    rows = await db.fetch("SELECT tablename FROM pg_tables WHERE schemaname = $1", schema)
    return {row["tablename"] for row in rows}


async def _connections(db: asyncpg.Connection, application: str) -> int:
    query = "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND application_name = $1"
    return int(await db.fetchval(query, application))


async def _attempt(transport: NeonizeTransport, point: UUID, store: Path) -> None:
    """One offline connect of the point, as the manager makes it: the drop arrives, then the socket is closed."""
    sink = Sink()
    socket = transport.open(point, store, sink)
    await socket.connect()
    [event] = await sink.wait_for(1)
    assert isinstance(event, Disconnected) and event.reason.startswith("failed to dial whatsapp web websocket")
    await socket.close()


async def _link(db: asyncpg.Connection, point: UUID) -> None:
    """What a scanned QR leaves in the point's schema: whatsmeow's device row (as in the SQLite linked_store)."""
    await db.execute(
        f"INSERT INTO {PostgresSessions.schema(point)}.whatsmeow_device (jid, lid, registration_id, noise_key,"
        " identity_key, signed_pre_key, signed_pre_key_id, signed_pre_key_sig, adv_key, adv_details, adv_account_sig,"
        " adv_account_sig_key, adv_device_sig) VALUES ($1, $2, 1, $3, $4, $5, 1, $6, $7, $8, $9, $10, $11)",
        f"{POINT}:7@s.whatsapp.net",
        "210987654321098:7@lid",
        *(os.urandom(n) for n in (32, 32, 32, 64, 32, 10, 64, 32, 64)),
    )


# --- addresses ----------------------------------------------------------------------------------------------------


def test_the_apps_address_becomes_one_lib_pq_reads_with_the_points_schema() -> None:
    sessions = PostgresSessions.from_address(
        "postgresql+asyncpg://ventanilla:p%40ss%2Fw0rd@db.internal:6432/ventanilla?ssl=require"
        "&prepared_statement_cache_size=0"
    )
    address = make_url(sessions.whatsmeow_address(FIRST, idle_timeout=True))

    assert address.drivername == "postgresql"  # whatsmeow picks lib/pq for an address that starts with "postgres"
    assert (address.username, address.password, address.host, address.port, address.database) == (
        "ventanilla",
        "p@ss/w0rd",
        "db.internal",
        6432,
        "ventanilla",
    )
    assert dict(address.query) == {
        "sslmode": "require",  # asyncpg's ssl= in lib/pq's words
        "search_path": f"whatsmeow_{FIRST.hex}",
        "application_name": f"ventanilla-wa-{FIRST}",
        "idle_session_timeout": "60000",
    }  # SQLAlchemy's own parameter is gone: the server would refuse it as an unknown setting
    assert "p@ss" not in repr(sessions) and "%40" not in repr(sessions)


def test_without_an_ssl_mode_lib_pq_prefers_tls_as_asyncpg_does(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PGSSLMODE", raising=False)
    plain = PostgresSessions.from_address("postgresql://ventanilla@db/ventanilla")
    assert make_url(plain.whatsmeow_address(FIRST, idle_timeout=False)).query["sslmode"] == "prefer"

    monkeypatch.setenv("PGSSLMODE", "verify-full")
    from_environment = PostgresSessions.from_address("postgresql://ventanilla@db/ventanilla")
    assert "sslmode" not in make_url(from_environment.whatsmeow_address(FIRST, idle_timeout=False)).query


@pytest.mark.parametrize("address", ["sqlite:///session.db", "not an address"])
def test_only_postgresql_is_accepted(address: str) -> None:
    with pytest.raises(ValueError):
        NeonizeTransport(session_database_url=address)


# --- the database -------------------------------------------------------------------------------------------------


async def test_a_fresh_point_is_not_linked_and_asking_leaves_nothing_behind(
    database_url: str, db: asyncpg.Connection, store: Path
) -> None:
    transport = NeonizeTransport(session_database_url=database_url)

    assert await transport.is_linked(FIRST, store) is False

    assert await db.fetchval("SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'whatsmeow%'") == 0
    assert await _connections(db, "ventanilla-wa-store") == 0
    assert list(store.iterdir()) == []


@offline
async def test_an_offline_connect_creates_the_points_private_schema_and_is_a_network_drop(
    database_url: str, db: asyncpg.Connection, store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # neonize tries every address as a SQLite file first (goneonize getDB): nothing may land in the working directory.
    workdir = tmp_path / "workdir"
    workdir.mkdir()
    monkeypatch.chdir(workdir)
    # A database whose owner shares whatever they create: the point's schema must still be theirs alone.
    await db.execute("ALTER DEFAULT PRIVILEGES GRANT USAGE ON SCHEMAS TO PUBLIC")
    await db.execute("ALTER DEFAULT PRIVILEGES GRANT SELECT ON TABLES TO PUBLIC")
    neonize_events.event_global_loop = None
    transport = NeonizeTransport(session_database_url=database_url)

    await _attempt(transport, FIRST, store)

    schema = PostgresSessions.schema(FIRST)
    assert {"whatsmeow_version", "whatsmeow_device", "whatsmeow_sessions", "whatsmeow_lid_map"} <= await _tables(
        db, schema
    )
    assert not {name for name in await _tables(db, "public") if name.startswith("whatsmeow")}
    public_grants = await db.fetchval(
        "SELECT count(*) FROM pg_namespace, aclexplode(nspacl) AS grant_ WHERE nspname = $1 AND grant_.grantee = 0",
        schema,
    )
    assert public_grants == 0  # nobody but the app's own role may enter the schema
    assert await db.fetchval(f"SELECT version FROM {schema}.whatsmeow_version") > 0  # whatsmeow migrated it
    assert await transport.is_linked(FIRST, store) is False  # a QR attempt nobody scanned
    assert list(store.iterdir()) == []  # no SQLite file: the credentials are not on this replica's disk
    assert list(workdir.iterdir()) == []


@offline
async def test_two_points_side_by_side_stay_apart_and_forgetting_one_keeps_the_other(
    database_url: str, db: asyncpg.Connection, tmp_path: Path
) -> None:
    transport = NeonizeTransport(session_database_url=database_url)
    await _attempt(transport, FIRST, tmp_path)
    # The second schema is the one whatsmeow's migration helper would get wrong (it sees the first one's tables).
    await _attempt(transport, SECOND, tmp_path)
    await _link(db, FIRST)

    assert await transport.is_linked(FIRST, tmp_path) is True
    assert await transport.is_linked(SECOND, tmp_path) is False
    sessions = PostgresSessions.from_address(database_url)
    first_devices = ClientFactory.get_all_devices_from_db(sessions.whatsmeow_address(FIRST, idle_timeout=True))
    second_devices = ClientFactory.get_all_devices_from_db(sessions.whatsmeow_address(SECOND, idle_timeout=True))
    assert [device.JID.User.partition(":")[0] for device in first_devices] == [POINT]  # neonize agrees
    assert second_devices == []

    await transport.forget(FIRST, tmp_path)

    assert await _tables(db, PostgresSessions.schema(FIRST)) == set()
    assert "whatsmeow_device" in await _tables(db, PostgresSessions.schema(SECOND))
    assert await transport.is_linked(FIRST, tmp_path) is False
    await transport.forget(FIRST, tmp_path)  # forgetting twice is no error
    await _attempt(transport, SECOND, tmp_path)  # the other point still opens its store


@offline
async def test_another_replica_resumes_a_linked_device_from_postgresql(
    database_url: str, db: asyncpg.Connection, tmp_path: Path
) -> None:
    await _attempt(NeonizeTransport(session_database_url=database_url), FIRST, tmp_path / "replica-a")
    await _link(db, FIRST)
    replica_b = NeonizeTransport(session_database_url=database_url)
    sink = Sink()
    socket = replica_b.open(FIRST, tmp_path / "replica-b", sink)

    await socket.connect()
    await sink.wait_for(1)
    await go_delivers(client_of(socket), neonize_events.ConnectedEv(status=True))
    _, connected = await sink.wait_for(2)

    assert connected == Connected(phone_number=f"+{POINT}")  # whatsmeow read the device from the point's schema
    await socket.close()


@offline
async def test_the_server_ends_the_connections_whatsmeow_leaves_idle(
    database_url: str, db: asyncpg.Connection, store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """neonize never closes the pool of a stopped client: without a timeout each attempt would keep one for good."""
    monkeypatch.setattr(adapter, "IDLE_SESSION_TIMEOUT_MS", 300)
    transport = NeonizeTransport(session_database_url=database_url)
    application = f"ventanilla-wa-{FIRST}"
    await _attempt(transport, FIRST, store)
    await _attempt(transport, FIRST, store)

    async with asyncio.timeout(5):
        while await _connections(db, application):
            await asyncio.sleep(0.1)


async def test_an_unreachable_database_fails_the_connect_and_the_forget_and_is_not_linked(
    store: Path, caplog: pytest.LogCaptureFixture
) -> None:
    transport = NeonizeTransport(session_database_url=UNREACHABLE)
    socket = transport.open(FIRST, store, Sink())

    with pytest.raises(TransportError) as connecting:
        await socket.connect()
    assert not connecting.value.permanent  # the manager treats it as a drop and retries
    assert socket._client is None
    with pytest.raises(TransportError) as forgetting:
        await transport.forget(FIRST, store)
    with caplog.at_level(logging.WARNING):
        assert await transport.is_linked(FIRST, store) is False

    said = " ".join([str(connecting.value), str(forgetting.value), caplog.text])
    assert "s3cr3t-pw" not in said
    assert "cannot read its WhatsApp session" in caplog.text
    await socket.close()

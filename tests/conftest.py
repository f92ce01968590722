"""Test database and app fixtures.

The server is `TEST_DATABASE_URL` when given, otherwise an embedded PostgreSQL (pgserver) in a temporary
directory, so `make test` needs nothing installed. Migrations run once per run, into a template database; every
test gets its own database cloned from that template (about 50 ms) and dropped afterwards. A clone rather than a
rolled-back transaction because the app under test has background workers and live servers with their own
connections, which must see committed data exactly as in production.
"""

from __future__ import annotations

import asyncio
import gc
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import asyncpg
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from tests.fakes.openai_server import FakeOpenAI, running_fake_openai
from tests.outage import Outage
from ventanilla.app import create_app
from ventanilla.auth.jwt import issue_token
from ventanilla.auth.passwords import hash_password
from ventanilla.cli import GC_THRESHOLDS
from ventanilla.config import Settings, load_settings, parse_database_url
from ventanilla.db import migrations
from ventanilla.db.embedded import start_embedded_server
from ventanilla.db.models import Faq, MemberRole, Membership, ServicePoint, Shipment, ShipmentStatus, User

TEST_JWT_SECRET = "test-secret-test-secret-test-secret-0123456789"


def _asyncpg_dsn(url: URL) -> str:
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


async def _admin_execute(server: URL, *statements: str) -> None:
    connection = await asyncpg.connect(_asyncpg_dsn(server))
    try:
        for statement in statements:
            await connection.execute(statement)
    finally:
        await connection.close()


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory: pytest.TempPathFactory) -> URL:
    """A maintenance connection URL to a server where tests may create databases."""
    given = parse_database_url(os.environ.get("TEST_DATABASE_URL") or None)
    if given:
        return make_url(given)
    return make_url(start_embedded_server(tmp_path_factory.mktemp("embedded"), database="postgres"))


@pytest.fixture(scope="session")
def template_database(pg_server: URL) -> Iterator[str]:
    """A database migrated to head once per run; tests clone it."""
    name = f"vt_tpl_{uuid.uuid4().hex[:10]}"
    asyncio.run(_admin_execute(pg_server, f'CREATE DATABASE "{name}"'))
    migrations.upgrade(pg_server.set(database=name).render_as_string(hide_password=False))
    yield name
    asyncio.run(_admin_execute(pg_server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
async def database_url(pg_server: URL, template_database: str) -> AsyncIterator[str]:
    name = f"vt_test_{uuid.uuid4().hex[:12]}"
    await _admin_execute(pg_server, f'CREATE DATABASE "{name}" TEMPLATE "{template_database}"')
    yield pg_server.set(database=name).render_as_string(hide_password=False)
    await _admin_execute(pg_server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def model() -> Iterator[FakeOpenAI]:
    """The scripted OpenAI-compatible server (tests of the model path build their app `with_model`)."""
    with running_fake_openai() as fake:
        yield fake


@pytest.fixture
async def empty_database_url(pg_server: URL) -> AsyncIterator[str]:
    """A database nobody migrated yet (for what happens at a first start)."""
    name = f"vt_empty_{uuid.uuid4().hex[:12]}"
    await _admin_execute(pg_server, f'CREATE DATABASE "{name}"')
    yield pg_server.set(database=name).render_as_string(hide_password=False)
    await _admin_execute(pg_server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
async def outage(pg_server: URL, database_url: str) -> AsyncIterator[Outage]:
    """Make the test database refuse connections, or kill its connections; always allowed again afterwards."""
    outage = Outage(pg_server, make_url(database_url).database or "")
    yield outage
    await outage.allow()


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    environ = {
        "DATABASE_URL": database_url,
        "VENTANILLA_DATA_DIR": str(tmp_path / "data"),
        "AUTH_SESSIONS_DIR": str(tmp_path / "auth_sessions"),
        "WHATSAPP_TRANSPORT": "simulator",
        "JWT_SECRET": TEST_JWT_SECRET,
    }
    return load_settings(environ, env_file=None)


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(database_url)
    yield engine
    await engine.dispose()


@pytest.fixture
async def session(engine: AsyncEngine) -> AsyncIterator[AsyncSession]:
    """A plain session on the test database for arranging data and checking results; commit explicitly."""
    async with async_sessionmaker(engine, expire_on_commit=False)() as session:
        yield session


@pytest.fixture
def app(settings: Settings) -> Litestar:
    return create_app(settings)


@pytest.fixture
async def client(app: Litestar) -> AsyncIterator[AsyncTestClient[Litestar]]:
    async with AsyncTestClient(app) as client:
        yield client


@dataclass(frozen=True)
class Actor:
    """A user of the test world with a ready Authorization header."""

    user_id: uuid.UUID
    email: str
    password: str
    headers: dict[str, str]


@dataclass(frozen=True)
class World:
    """Two service points and one actor per access level the contract distinguishes."""

    point_a: uuid.UUID
    point_b: uuid.UUID
    admin: Actor
    supervisor_a: Actor
    agent_a: Actor
    agent_b: Actor
    outsider: Actor

    def actors(self) -> dict[str, Actor]:
        return {
            "admin": self.admin,
            "supervisor_a": self.supervisor_a,
            "agent_a": self.agent_a,
            "agent_b": self.agent_b,
            "outsider": self.outsider,
        }


WORLD_PASSWORD = "correct-horse-battery"


@pytest.fixture(scope="session")
def world_password_hash() -> str:
    return asyncio.run(hash_password(WORLD_PASSWORD))


@pytest.fixture
async def world(app: Litestar, session: AsyncSession, world_password_hash: str) -> World:
    point_a = ServicePoint(name="Punto A", phone_number="+593200000001")
    point_b = ServicePoint(name="Punto B", phone_number="+593200000002")
    session.add_all([point_a, point_b])
    await session.flush()
    memberships = {
        "admin": None,
        "supervisor_a": (point_a.id, MemberRole.SUPERVISOR),
        "agent_a": (point_a.id, MemberRole.AGENT),
        "agent_b": (point_b.id, MemberRole.AGENT),
        "outsider": None,
    }
    actors: dict[str, Actor] = {}
    for key, membership in memberships.items():
        email = f"{key.replace('_', '.')}@example.com"
        user = User(email=email, name=key, password_hash=world_password_hash, is_admin=key == "admin")
        user.memberships = []
        session.add(user)
        await session.flush()
        if membership is not None:
            session.add(Membership(user_id=user.id, service_point_id=membership[0], role=membership[1]))
        token = issue_token(app.state.jwt_auth, user)
        actors[key] = Actor(user.id, email, WORLD_PASSWORD, {"Authorization": f"Bearer {token}"})
    await session.commit()
    return World(point_a=point_a.id, point_b=point_b.id, **actors)


@pytest.fixture
async def live_server(app: Litestar) -> AsyncIterator[str]:
    """The same app served by uvicorn on a free port, in this event loop: for streaming and real sockets."""
    import uvicorn

    from tests.helpers import free_port

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="on"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    await task


@pytest.fixture
async def linked(client: AsyncTestClient[Litestar], world: World, session: AsyncSession) -> World:
    """The world with both points linked through the simulator, a shipment (of B) and each point's own FAQ."""
    session.add_all(
        [
            Shipment(
                service_point_id=world.point_b,
                tracking_number="ABC123456",
                status=ShipmentStatus.IN_TRANSIT,
                destination="Quito",
                eta=date(2030, 1, 15),
                recipient_name="Secreta Persona",
            ),
            Faq(
                service_point_id=world.point_a,
                question="¿Cuál es el horario de atención?",
                answer="Punto A atiende de 8 a 18.",
                keywords=["horario", "abren"],
            ),
            Faq(
                service_point_id=world.point_b,
                question="¿Cuál es el horario de atención?",
                answer="Punto B atiende de 9 a 17.",
                keywords=["horario", "abren"],
            ),
        ]
    )
    await session.commit()
    from tests.flow import link

    for point in (world.point_a, world.point_b):
        await link(client, world, point)
    return world


def pytest_sessionstart(session: pytest.Session) -> None:
    """The server's own garbage-collector settings (`cli._serve`): everything imported is frozen out of the
    collector, and young objects are collected less often. Hundreds of apps built in one process otherwise spend
    a good part of the suite in full collections of a heap that never dies."""
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)

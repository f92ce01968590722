"""Two branches with shipments and FAQs, and Bot builders for both engines.

The bot never writes (its tool sessions are read-only transactions), so the tests of a module share one database
loaded once, cloned from the run's migrated template like the `database_url` fixture's, instead of paying a
clone per test; each test still gets its own engine and Bot.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from tests.conftest import TEST_JWT_SECRET
from tests.fakes.openai_server import FakeOpenAI, running_fake_openai
from ventanilla.bot import Bot, BotRequest, Turn
from ventanilla.bot.decision import Attachment
from ventanilla.config import Settings, load_settings
from ventanilla.db.models import Faq, ServicePoint, Shipment, ShipmentStatus

SENDER = "Lucía Paredes"
RECIPIENT = "Jorge Salinas"
A_HOURS = "Punto A atiende de lunes a viernes de 08:00 a 18:00."
B_HOURS = "Punto B atiende de lunes a sábado de 09:00 a 17:00."
A_ADDRESS = "Punto A está en la Av. de la Prensa N45-12, junto al parque."
GLOBAL_ADDRESS = "Encuentra la dirección de cada sucursal en nuestra página web."
A_PARKING = "Punto A tiene parqueadero gratuito para clientes."
PRICE = "Hasta 2 kg dentro de la ciudad cuesta USD 3,50 y a otra provincia USD 5,75."
PICKUP = "Presenta tu cédula y el número de guía. Si retira otra persona, necesita una autorización firmada."
INTERNATIONAL = "Por ahora solo enviamos dentro de Ecuador continental."
EXCEPTION_MEANING = "Si tu envío figura Con novedad, hubo un inconveniente con la entrega; un asesor te contactará."


@dataclass(frozen=True)
class BotWorld:
    point_a: uuid.UUID
    point_b: uuid.UUID


async def insert_world(session: AsyncSession) -> BotWorld:
    """Point A and B; shipment ABC123456 belongs to A, GYE200001 to B; FAQs of A, of B and global ones."""
    point_a = ServicePoint(name="Punto A", phone_number="+593200000001")
    point_b = ServicePoint(name="Punto B", phone_number="+593200000002")
    session.add_all([point_a, point_b])
    await session.flush()
    session.add_all(
        [
            Shipment(
                service_point_id=point_a.id,
                tracking_number="ABC123456",
                status=ShipmentStatus.IN_TRANSIT,
                origin="Quito",
                destination="Guayaquil",
                eta=date(2026, 12, 1),
                sender_name=SENDER,
                recipient_name=RECIPIENT,
            ),
            Shipment(
                service_point_id=point_b.id,
                tracking_number="GYE200001",
                status=ShipmentStatus.DELIVERED,
                origin="Guayaquil",
                destination="Cuenca",
                sender_name="Marco Zambrano",
                recipient_name="Nora Aguirre",
            ),
            # Keywords are deliberately sparse: full-text search must do the work ("a qué hora abren").
            Faq(
                service_point_id=point_a.id,
                question="¿Cuál es el horario de atención?",
                answer=A_HOURS,
                keywords=["horario"],
            ),
            Faq(
                service_point_id=point_b.id,
                question="¿Cuál es el horario de atención?",
                answer=B_HOURS,
                keywords=["horario"],
            ),
            Faq(
                service_point_id=point_a.id,
                question="¿Dónde queda la sucursal?",
                answer=A_ADDRESS,
                keywords=["dirección", "ubicación", "dónde"],
            ),
            Faq(
                service_point_id=None,
                question="¿Dónde queda la sucursal?",
                answer=GLOBAL_ADDRESS,
                keywords=["dirección", "ubicación", "dónde"],
            ),
            Faq(
                service_point_id=point_a.id,
                question="¿Tienen parqueadero?",
                answer=A_PARKING,
                keywords=["estacionamiento", "parqueo"],
            ),
            Faq(
                service_point_id=None,
                question="¿Cuánto cuesta enviar un paquete?",
                answer=PRICE,
                keywords=["precio", "tarifa"],
            ),
            Faq(
                service_point_id=None,
                question="¿Qué necesito para retirar un paquete?",
                answer=PICKUP,
                keywords=["retiro", "documentos"],
            ),
            Faq(
                service_point_id=None,
                question="¿Hacen envíos internacionales?",
                answer=INTERNATIONAL,
                keywords=["exterior", "otro país"],
            ),
            Faq(
                service_point_id=None,
                question="¿Qué significa que mi envío tiene novedad?",
                answer=EXCEPTION_MEANING,
                keywords=["novedad"],
            ),
        ]
    )
    await session.commit()
    return BotWorld(point_a.id, point_b.id)


def bot_request(point: uuid.UUID, text: str, history: Sequence[Turn] = ()) -> BotRequest:
    return BotRequest(
        service_point_id=point, conversation_id=uuid.uuid4(), message_ids=[uuid.uuid4()], text=text, history=history
    )


def media_request(
    point: uuid.UUID, attachments: Sequence[Attachment], text: str = "", history: Sequence[Turn] = ()
) -> BotRequest:
    """A turn of messages with files (and their captions, `text`), one message per attachment."""
    return BotRequest(
        service_point_id=point,
        conversation_id=uuid.uuid4(),
        message_ids=[a.message_id for a in attachments],
        text=text,
        history=history,
        attachments=tuple(attachments),
    )


async def _execute(server: URL, statement: str) -> None:
    connection = await asyncpg.connect(server.set(drivername="postgresql").render_as_string(hide_password=False))
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


async def _load_world(url: str) -> BotWorld:
    engine = create_async_engine(url)
    try:
        async with async_sessionmaker(engine, expire_on_commit=False)() as session:
            return await insert_world(session)
    finally:
        await engine.dispose()


@pytest.fixture(scope="module")
def bot_database(pg_server: URL, template_database: str) -> Iterator[tuple[str, BotWorld]]:
    name = f"vt_bot_{uuid.uuid4().hex[:12]}"
    asyncio.run(_execute(pg_server, f'CREATE DATABASE "{name}" TEMPLATE "{template_database}"'))
    url = pg_server.set(database=name).render_as_string(hide_password=False)
    try:
        yield url, asyncio.run(_load_world(url))
    finally:
        asyncio.run(_execute(pg_server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def bot_world(bot_database: tuple[str, BotWorld]) -> BotWorld:
    return bot_database[1]


@pytest.fixture
async def bot_engine(bot_database: tuple[str, BotWorld]) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(bot_database[0])
    yield engine
    await engine.dispose()


def _settings(url: str, directory: Path, **extra: str) -> Settings:
    environ = {
        "DATABASE_URL": url,
        "VENTANILLA_DATA_DIR": str(directory / "data"),
        "AUTH_SESSIONS_DIR": str(directory / "auth_sessions"),
        "JWT_SECRET": TEST_JWT_SECRET,
        **extra,
    }
    return load_settings(environ, env_file=None)


@pytest.fixture(scope="module")
def bot_settings(bot_database: tuple[str, BotWorld], tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Settings as an operator without OPENAI_API_KEY would have them."""
    return _settings(bot_database[0], tmp_path_factory.mktemp("bot"))


@pytest.fixture
def offline_bot(bot_settings: Settings, bot_engine: AsyncEngine) -> Bot:
    assert bot_settings.openai_api_key is None
    return Bot(bot_settings, async_sessionmaker(bot_engine))


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAI]:
    with running_fake_openai() as server:
        yield server


@pytest.fixture
def openai_settings(bot_database: tuple[str, BotWorld], fake_openai: FakeOpenAI, tmp_path: Path) -> Settings:
    """The real SDK pointed at the fake server the way an operator would: through the environment."""
    return _settings(
        bot_database[0],
        tmp_path,
        OPENAI_API_KEY="sk-test-dummy",
        OPENAI_BASE_URL=fake_openai.url,
        OPENAI_MODEL="fake-model",
    )

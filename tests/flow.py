"""Driving the simulator over HTTP: link a point, make a customer write, read what the customer's phone received."""

from __future__ import annotations

from uuid import UUID

from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.conftest import World
from tests.fakes.openai_server import FakeOpenAI
from tests.whatsapp.conftest import FAST, eventually
from ventanilla.app import create_app
from ventanilla.assignment.assigner import AssignmentPolicy
from ventanilla.config import Settings, load_settings
from ventanilla.delivery.worker import DeliveryPolicy
from ventanilla.pipeline import PipelinePolicy
from ventanilla.whatsapp.manager import SessionPolicy

Client = AsyncTestClient[Litestar]
CUSTOMER = "+593991112233"


def fast_app(
    settings: Settings,
    sessions: SessionPolicy = FAST,
    settings_override: Settings | None = None,
    assignment_policy: AssignmentPolicy | None = None,
) -> Litestar:
    """The app with every timer shortened: QR codes, reconnects, the unanswered-message sweep, delivery retries."""
    return create_app(
        settings_override or settings,
        session_policy=sessions,
        assignment_policy=assignment_policy,
        pipeline_policy=PipelinePolicy(sweep_seconds=0.5, stale_seconds=0.5),
        delivery_policy=DeliveryPolicy(
            poll_seconds=0.05, retry_base_seconds=0.05, retry_max_seconds=0.1, max_attempts=2
        ),
    )


def _point(point: UUID) -> str:
    return f"/api/service-points/{point}"


async def link(client: Client, world: World, point: UUID) -> None:
    """Connect, wait for the QR, let the phone scan it, wait for CONNECTED."""
    await client.post(f"{_point(point)}/whatsapp/connect", headers=world.admin.headers)

    async def state() -> dict:
        return (await client.get(f"{_point(point)}/whatsapp", headers=world.admin.headers)).json()

    async def pending() -> bool:
        return (await state())["qrAvailable"]

    async def connected() -> bool:
        return (await state())["status"] == "CONNECTED"

    await eventually(pending, what="QR")
    await client.post(f"{_point(point)}/simulator/scan", headers=world.admin.headers)
    await eventually(connected, what="CONNECTED")


async def say(
    client: Client, world: World, point: UUID, text: str, *, sender: str = CUSTOMER, message_id: str | None = None
) -> str:
    """A customer's message arrives on the point's socket; returns its provider id."""
    body = {"from": sender, "text": text} | ({"messageId": message_id} if message_id else {})
    response = await client.post(f"{_point(point)}/simulator/inbound", json=body, headers=world.admin.headers)
    assert response.status_code == 202, response.text
    return response.json()["messageId"]


async def received(client: Client, world: World, point: UUID) -> list[dict]:
    """What the point's socket sent, as the phones received it (raises unless the record was read: reading it
    checks the caller's token, which needs the database)."""
    response = await client.get(f"{_point(point)}/simulator/sent", headers=world.admin.headers)
    assert response.status_code == 200, response.text
    return response.json()


async def phone(client: Client, world: World, point: UUID) -> list[str]:
    return [message["text"] for message in await received(client, world, point)]


async def wait_phone(client: Client, world: World, point: UUID, count: int) -> list[str]:
    """The texts received once there are at least `count`."""

    async def arrived() -> bool:
        return len(await received(client, world, point)) >= count

    await eventually(arrived, timeout=10, what=f"{count} messages on the phone")
    return await phone(client, world, point)


def with_model(settings: Settings, model: FakeOpenAI, **extra: str) -> Settings:
    """The same settings with the bot on the scripted model (the real openai SDK, a local fake server)."""
    environ = {
        "DATABASE_URL": settings.require_database_url(),
        "VENTANILLA_DATA_DIR": str(settings.data_dir),
        "AUTH_SESSIONS_DIR": str(settings.auth_sessions_dir),
        "WHATSAPP_TRANSPORT": "simulator",
        "JWT_SECRET": settings.jwt_secret,
        "OPENAI_API_KEY": "test-key",
        "OPENAI_BASE_URL": model.url,
        **extra,
    }
    return load_settings(environ, env_file=None)

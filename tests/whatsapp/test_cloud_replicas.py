"""Meta's webhook reaches whichever replica the load balancer picks: the message is stored there, and the point's
owner answers it at once (told by NOTIFY, not by its 30-second sweep). Two replicas in one process, one database."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from tests.conftest import TEST_JWT_SECRET, World
from tests.fakes.graph_api import FakeGraph, envelope, running_fake_graph, sign, text_message
from tests.whatsapp.conftest import FAST, eventually
from ventanilla.app import create_app
from ventanilla.cluster.leases import LeasePolicy
from ventanilla.config import load_settings
from ventanilla.db.models import Direction, Message
from ventanilla.delivery.worker import DeliveryPolicy

NUMBER_ID = "106540352242922"
TOKEN = "EAAG-token-of-the-replicas-test"
APP_SECRET = "app-secret-of-the-replicas-test"
CUSTOMER = "593991112233"
SHORT = LeasePolicy(heartbeat_seconds=0.2, lease_seconds=1.0)


@pytest.fixture
def graph() -> Iterator[FakeGraph]:
    with running_fake_graph() as fake:
        fake.add_number(NUMBER_ID, TOKEN)
        yield fake


def _replica(database_url: str, data: Path, name: str, graph: FakeGraph) -> Litestar:
    environ = {
        "DATABASE_URL": database_url,
        "VENTANILLA_DATA_DIR": str(data / name),
        "AUTH_SESSIONS_DIR": str(data / name / "auth"),
        "WHATSAPP_TRANSPORT": "simulator",
        "JWT_SECRET": TEST_JWT_SECRET,
        "VENTANILLA_REPLICA_ID": name,
        "VENTANILLA_SECRET_KEY": "the-same-key-on-every-replica-0123456789",
        "WHATSAPP_CLOUD_API_BASE": graph.url,
    }
    return create_app(
        load_settings(environ, env_file=None),
        session_policy=FAST,
        lease_policy=SHORT,
        delivery_policy=DeliveryPolicy(poll_seconds=0.05),
    )  # the pipeline keeps its production sweep (30 s): only the NOTIFY can make the answer quick


@pytest.fixture
async def two(
    database_url: str, tmp_path: Path, graph: FakeGraph
) -> AsyncIterator[tuple[AsyncTestClient[Litestar], AsyncTestClient[Litestar]]]:
    first = _replica(database_url, tmp_path, "uno", graph)
    second = _replica(database_url, tmp_path, "dos", graph)
    async with AsyncTestClient(first) as one, AsyncTestClient(second) as other:
        yield one, other


async def test_the_owner_answers_a_message_another_replica_took_from_meta(
    two: tuple[AsyncTestClient[Litestar], AsyncTestClient[Litestar]],
    world: World,
    graph: FakeGraph,
    session: AsyncSession,
) -> None:
    one, other = two
    body = {"phoneNumberId": NUMBER_ID, "accessToken": TOKEN, "appSecret": APP_SECRET, "verifyToken": "verify-x-y"}
    response = await one.put(
        f"/api/service-points/{world.point_a}/whatsapp/cloud", json=body, headers=world.admin.headers
    )
    assert response.status_code == 200, response.text

    async def owned_and_connected() -> bool:
        state = await one.get(f"/api/service-points/{world.point_a}/whatsapp", headers=world.admin.headers)
        holders = [c for c in (one, other) if c.app.state.leases.holds(world.point_a)]
        return state.json()["status"] == "CONNECTED" and len(holders) == 1

    await eventually(owned_and_connected, timeout=10, what="one owner, connected")
    owner = one if one.app.state.leases.holds(world.point_a) else other
    stranger = other if owner is one else one
    assert stranger.app.state.leases.has_peers()  # both alive, and the webhook goes to the one that is not the owner

    payload = json.dumps(envelope(NUMBER_ID, messages=[text_message(CUSTOMER, "Hola", "wamid.ELSEWHERE")])).encode()
    headers = {"Content-Type": "application/json", "X-Hub-Signature-256": sign(APP_SECRET, payload)}
    response = await stranger.post("/webhooks/whatsapp-cloud", content=payload, headers=headers)
    assert response.status_code == 200, response.text

    async def answered() -> bool:
        return any(sent.to == CUSTOMER for sent in graph.sent)

    await eventually(answered, timeout=5, what="the owner's answer, well before the 30-second sweep")
    stored = await session.scalar(
        select(func.count()).where(Message.provider_message_id == "wamid.ELSEWHERE", Message.direction == Direction.IN)
    )
    assert stored == 1
    assert len([sent for sent in graph.sent if sent.to == CUSTOMER]) == 1

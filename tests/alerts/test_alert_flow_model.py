"""With a model configured, starting and stopping alerts is still decided by the rules, with no model call."""

from __future__ import annotations

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tests.conftest import World
from tests.fakes.openai_server import FakeOpenAI, completion, tool_call
from tests.flow import fast_app, say, wait_phone, with_model
from ventanilla.alerts import texts
from ventanilla.config import Settings
from ventanilla.db.models import ShipmentAlert

Client = AsyncTestClient[Litestar]


@pytest.fixture
def app(settings: Settings, model: FakeOpenAI) -> Litestar:
    return fast_app(with_model(settings, model))


async def test_alerts_start_and_stop_without_the_model(
    client: Client, linked: World, model: FakeOpenAI, session: AsyncSession
) -> None:
    model.script(
        completion(tool_calls=[tool_call("consultar_guia", {"trackingNumber": "ABC123456"})]),
        completion("Tu envío ABC123456 está En tránsito."),
    )
    await say(client, linked, linked.point_a, "¿dónde está ABC123456?")
    await wait_phone(client, linked, linked.point_a, 1)
    await say(client, linked, linked.point_a, "avísame cuando cambie")
    assert texts.subscribed("ABC123456") in (await wait_phone(client, linked, linked.point_a, 2))[1]
    [active] = (await session.scalars(select(ShipmentAlert))).all()
    assert active.tracking_number == "ABC123456" and active.cancelled_at is None
    await say(client, linked, linked.point_a, "ya no me avises")
    assert (await wait_phone(client, linked, linked.point_a, 3))[2] == texts.UNSUBSCRIBED
    assert len(model.requests) == 2  # only the first question went to the model
    session.expire_all()
    assert (await session.scalar(select(ShipmentAlert.cancelled_at))) is not None

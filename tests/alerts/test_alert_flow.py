"""Shipment alerts end to end through the simulator with the offline bot: opt in, one message per status change
through the branch that answered, nothing for repeats or for customers who did not ask, and "no más avisos"."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tests.conftest import World
from tests.flow import CUSTOMER, fast_app, received, say, wait_phone
from ventanilla.alerts import texts
from ventanilla.bot.alerts import OFFER
from ventanilla.bot.replies import THANKS
from ventanilla.config import Settings
from ventanilla.db.models import ShipmentAlert, ShipmentStatus

Client = AsyncTestClient[Litestar]
EVENTS = "/api/shipments/events"
NUMBER = "ABC123456"  # the `linked` world's shipment (of point B), IN_TRANSIT
OTHER_CUSTOMER = "+593991112244"


@pytest.fixture
def app(settings: Settings) -> Litestar:
    return fast_app(settings)


async def push(client: Client, world: World, status: str, at: datetime | None = None) -> dict:
    moment = at or datetime.now(UTC)
    body = [{"trackingNumber": NUMBER, "status": status, "at": moment.isoformat()}]
    response = await client.post(EVENTS, json=body, headers=world.admin.headers)
    assert response.status_code == 202, response.text
    return response.json()


def alert(status: ShipmentStatus) -> str:
    return texts.status_change(NUMBER, status)


async def test_a_subscribed_customer_gets_one_message_per_change_until_they_stop(
    client: Client, linked: World, session: AsyncSession
) -> None:
    a = linked.point_a
    await say(client, linked, a, f"hola, ¿dónde está mi paquete {NUMBER}?")
    [lookup] = await wait_phone(client, linked, a, 1)
    assert "En tránsito" in lookup and lookup.endswith(OFFER)
    await say(client, linked, a, "Avísame porfa")
    confirmation = (await wait_phone(client, linked, a, 2))[1]
    assert texts.subscribed(NUMBER) in confirmation
    await say(client, linked, a, f"y mi paquete {NUMBER}?", sender=OTHER_CUSTOMER)  # asks, never opts in
    await wait_phone(client, linked, a, 3)

    at = datetime.now(UTC)
    assert (await push(client, linked, "OUT_FOR_DELIVERY", at))["alertsQueued"] == 1
    assert (await push(client, linked, "OUT_FOR_DELIVERY", at))["alertsQueued"] == 0  # a repeat: nothing
    assert (await push(client, linked, "OUT_FOR_DELIVERY", at + timedelta(seconds=1)))["alertsQueued"] == 0  # same
    assert (await push(client, linked, "AT_SERVICE_POINT", at + timedelta(seconds=2)))["alertsQueued"] == 1
    await wait_phone(client, linked, a, 5)
    sent = await received(client, linked, a)
    alerts = [(m["to"], m["text"]) for m in sent[3:]]
    assert alerts == [
        (CUSTOMER, alert(ShipmentStatus.OUT_FOR_DELIVERY)),
        (CUSTOMER, alert(ShipmentStatus.AT_SERVICE_POINT)),
    ]
    assert await received(client, linked, linked.point_b) == []  # through the branch that answered them only

    await say(client, linked, a, "no más avisos, gracias")
    assert (await wait_phone(client, linked, a, 6))[5] == texts.UNSUBSCRIBED
    assert (await push(client, linked, "DELIVERED", at + timedelta(seconds=3)))["alertsQueued"] == 0
    await say(client, linked, a, "gracias")  # anything queued for them before this reply would arrive before it
    texts_now = await wait_phone(client, linked, a, 7)
    assert texts_now[6:] == [THANKS]
    cancelled = (await session.scalars(select(ShipmentAlert.cancelled_at))).all()
    assert len(cancelled) == 1 and cancelled[0] is not None


async def test_yes_to_the_offer_or_number_and_request_together_subscribe(
    client: Client, linked: World, session: AsyncSession
) -> None:
    await say(client, linked, linked.point_a, f"guía {NUMBER}")
    await wait_phone(client, linked, linked.point_a, 1)
    await say(client, linked, linked.point_a, "sí, por favor")
    assert texts.subscribed(NUMBER) in (await wait_phone(client, linked, linked.point_a, 2))[1]
    await say(client, linked, linked.point_b, f"quiero que me avisen de {NUMBER}")
    [together] = await wait_phone(client, linked, linked.point_b, 1)
    assert "En tránsito" in together and texts.subscribed(NUMBER) in together

    assert (await push(client, linked, "OUT_FOR_DELIVERY"))["alertsQueued"] == 2
    assert (await wait_phone(client, linked, linked.point_a, 3))[2] == alert(ShipmentStatus.OUT_FOR_DELIVERY)
    assert (await wait_phone(client, linked, linked.point_b, 2))[1] == alert(ShipmentStatus.OUT_FOR_DELIVERY)
    points = sorted(str(p) for p in (await session.scalars(select(ShipmentAlert.service_point_id))).all())
    assert points == sorted(str(p) for p in (linked.point_a, linked.point_b))


async def test_asking_for_alerts_without_a_shipment_subscribes_nothing(
    client: Client, linked: World, session: AsyncSession
) -> None:
    await say(client, linked, linked.point_a, "avísame")
    assert (await wait_phone(client, linked, linked.point_a, 1)) == [texts.WHICH_SHIPMENT]
    await say(client, linked, linked.point_a, "avísame de XYZ999999")
    unknown = (await wait_phone(client, linked, linked.point_a, 2))[1]
    assert "XYZ999999" in unknown and "te avisaré" not in unknown
    assert (await session.scalars(select(ShipmentAlert))).all() == []

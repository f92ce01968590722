"""The shipment card: the shipments whose tracking numbers the customer wrote, found company-wide as the bot finds
them, newest mention first, another branch's marked read-only."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from uuid import uuid4

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncSession

from tests.conftest import World
from tests.inbox.thread import add_message
from tests.rows import add_conversation
from ventanilla.db.models import SenderType, Shipment, ShipmentStatus

Client = AsyncTestClient[Litestar]


async def test_the_card_lists_the_shipments_the_customer_wrote(
    client: Client, world: World, session: AsyncSession
) -> None:
    session.add_all(
        [
            Shipment(
                service_point_id=world.point_a,
                tracking_number="AAA123456",
                status=ShipmentStatus.AT_SERVICE_POINT,
                origin="Guayaquil",
                destination="Quito",
                recipient_name="Secreta Persona",
            ),
            Shipment(
                service_point_id=world.point_b,
                tracking_number="ABC123456",
                status=ShipmentStatus.IN_TRANSIT,
                destination="Loja",
                eta=date(2030, 1, 15),
            ),
            Shipment(service_point_id=world.point_b, tracking_number="BOT111111", status=ShipmentStatus.CREATED),
            Shipment(service_point_id=world.point_b, tracking_number="NOTE22222", status=ShipmentStatus.CREATED),
        ]
    )
    await session.commit()
    conversation_id = await add_conversation(session, world.point_a)
    start = datetime.now(UTC)
    for seconds, text, sender in (
        (1, "mi guía es AAA123456", SenderType.CUSTOMER),
        (2, "¿Quieres consultar BOT111111?", SenderType.BOT),  # the bot's words are not the customer's
        (3, "y también la #abc-123 456 y la ZZZ999999", SenderType.CUSTOMER),  # ZZZ999999 does not exist
        (4, "otra vez: AAA123456", SenderType.CUSTOMER),
    ):
        await add_message(session, world.point_a, conversation_id, text, sender, start + timedelta(seconds=seconds))
    path = f"/api/service-points/{world.point_a}/conversations/{conversation_id}"
    note = await client.post(f"{path}/notes", json={"content": "ver NOTE22222"}, headers=world.agent_a.headers)
    assert note.status_code == 201

    response = await client.get(f"{path}/shipments", headers=world.agent_a.headers)

    assert response.status_code == 200, response.text
    cards = response.json()
    assert [(c["trackingNumber"], c["ownPoint"], c["servicePointName"]) for c in cards] == [
        ("AAA123456", True, "Punto A"),  # mentioned last
        ("ABC123456", False, "Punto B"),  # another branch's: read-only in the page
    ]
    assert (
        cards[0] | {"status": "AT_SERVICE_POINT", "statusLabel": "Disponible para retiro", "origin": "Guayaquil"}
        == (cards[0])
    )
    assert cards[1] | {"statusLabel": "En tránsito", "destination": "Loja", "eta": "2030-01-15"} == cards[1]
    assert cards[1]["lastUpdate"] and "Secreta" not in response.text

    silent = await add_conversation(session, world.point_a, phone="+593980000002")
    empty = await client.get(
        f"/api/service-points/{world.point_a}/conversations/{silent}/shipments", headers=world.agent_a.headers
    )
    assert empty.json() == []
    of_b = await add_conversation(session, world.point_b, phone="+593980000003")
    for url in (
        f"/api/service-points/{world.point_a}/conversations/{of_b}/shipments",
        f"/api/service-points/{world.point_a}/conversations/{uuid4()}/shipments",
    ):
        assert (await client.get(url, headers=world.admin.headers)).status_code == 404
    assert (await client.get(f"{path}/shipments", headers=world.agent_b.headers)).status_code == 404


async def test_the_card_shows_at_most_ten_newest_first(client: Client, world: World, session: AsyncSession) -> None:
    session.add_all(
        Shipment(service_point_id=world.point_a, tracking_number=f"QTO{n:06d}", status=ShipmentStatus.CREATED)
        for n in range(12)
    )
    await session.commit()
    conversation_id = await add_conversation(session, world.point_a)
    start = datetime.now(UTC)
    for n in range(12):
        await add_message(session, world.point_a, conversation_id, f"QTO{n:06d}", at=start + timedelta(seconds=n))
    url = f"/api/service-points/{world.point_a}/conversations/{conversation_id}/shipments"
    cards = (await client.get(url, headers=world.agent_a.headers)).json()
    assert [c["trackingNumber"] for c in cards] == [f"QTO{n:06d}" for n in range(11, 1, -1)]

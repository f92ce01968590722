"""Searching the list as agents type: without accents or capitals, a phone in any local format, a tracking number
with whatever separators."""

from __future__ import annotations

from urllib.parse import quote
from uuid import UUID

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncSession

from tests.conftest import World
from tests.inbox.thread import add_message
from tests.rows import add_conversation
from ventanilla.db.models import SenderType

Client = AsyncTestClient[Litestar]


async def test_search_ignores_accents_phone_formats_and_separators(
    client: Client, world: World, session: AsyncSession
) -> None:
    shipping = await add_conversation(session, world.point_a, phone="+593980000001")
    await add_message(session, world.point_a, shipping, "¿Cuándo llega mi ENVÍO a Quito?")
    phone = await add_conversation(session, world.point_a, phone="+593991112233")
    compact = await add_conversation(session, world.point_a, phone="+593980000003")
    await add_message(session, world.point_a, compact, "mi guía es EC123456")
    spaced = await add_conversation(session, world.point_a, phone="+593980000004")
    await add_message(session, world.point_a, spaced, "la guía: qt 654-321 por favor")
    bot_said = await add_conversation(session, world.point_a, phone="+593980000005")
    await add_message(session, world.point_a, bot_said, "Tu pedido salió de Cuenca.", SenderType.BOT)
    elsewhere = await add_conversation(session, world.point_b, phone="+593991112234")
    await add_message(session, world.point_b, elsewhere, "envío EC123456")

    async def found(q: str) -> set[UUID]:
        url = f"/api/service-points/{world.point_a}/conversations?q={quote(q)}"
        response = await client.get(url, headers=world.agent_a.headers)
        assert response.status_code == 200, response.text
        return {UUID(item["id"]) for item in response.json()["items"]}

    for q in ("envio", "ENVIO", "cuando llega", "Envío", "QUITO"):
        assert await found(q) == {shipping}, q
    assert await found("cuenca") == {bot_said}  # any message of the thread
    for q in ("0991112233", "+593 99 111 2233", "099-111-2233", "(099) 111 2233", "593991112233", "991112233"):
        assert await found(q) == {phone}, q
    assert await found("099111") == {phone}  # the start of a local number
    for q in ("EC 123-456", "ec123456", "EC-123 456", "123456"):
        assert await found(q) == {compact}, q
    for q in ("QT654321", "qt 654 321", "654321"):
        assert await found(q) == {spaced}, q
    assert await found("envio rapido") == set()

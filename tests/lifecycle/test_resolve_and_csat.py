"""Resolve, reopen and the rating question, end to end: customer -> simulator socket -> pipeline -> bot -> phone."""

from __future__ import annotations

import asyncio
from uuid import UUID

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tests.conftest import World
from tests.flow import CUSTOMER, link, phone, say, wait_phone
from tests.whatsapp.conftest import eventually
from ventanilla.db.models import Conversation, CsatResponse, Message, ServicePoint
from ventanilla.lifecycle.csat import QUESTION, THANKS

Client = AsyncTestClient[Litestar]
HANDOFF = "quiero hablar con un asesor por favor"


def _conversations(point: UUID) -> str:
    return f"/api/service-points/{point}/conversations"


async def _handed_off(client: Client, world: World, sender: str = CUSTOMER) -> str:
    """A customer of point A asks for a person; returns the conversation's path once it is HUMAN."""
    await say(client, world, world.point_a, HANDOFF, sender=sender)
    listing = f"{_conversations(world.point_a)}?status=HUMAN&q={sender.removeprefix('+')}"

    async def handed_off() -> list[dict]:
        return (await client.get(listing, headers=world.agent_a.headers)).json()["items"]

    await eventually(handed_off, what="the handoff")
    [conversation] = await handed_off()
    return f"{_conversations(world.point_a)}/{conversation['id']}"


async def _detail(client: Client, world: World, path: str) -> dict:
    response = await client.get(path, headers=world.agent_a.headers)
    assert response.status_code == 200, response.text
    return response.json()


async def _resolve(client: Client, world: World, path: str) -> dict:
    response = await client.patch(path, json={"status": "RESOLVED"}, headers=world.agent_a.headers)
    assert response.status_code == 200, response.text
    return response.json()


async def _csat(session: AsyncSession, enabled: bool = True) -> None:
    await session.execute(update(ServicePoint).values(csat_enabled=enabled))
    await session.commit()


async def _row(session: AsyncSession, path: str) -> tuple:
    conversation_id = UUID(path.rsplit("/", 1)[1])
    return (
        await session.execute(
            select(
                Conversation.status,
                Conversation.assigned_to_user_id,
                Conversation.csat_requested_at,
                Conversation.resolved_at,
            ).where(Conversation.id == conversation_id)
        )
    ).one()


async def _ratings(session: AsyncSession) -> list[tuple]:
    return (
        await session.execute(
            select(CsatResponse.rating, CsatResponse.resolved_by_user_id, Message.content)
            .join(Message, Message.id == CsatResponse.message_id)
            .order_by(CsatResponse.created_at)
        )
    ).all()


async def test_resolve_keeps_the_assignee_and_the_next_message_reopens_for_the_bot(
    client: Client, world: World, session: AsyncSession
) -> None:
    await link(client, world, world.point_a)
    path = await _handed_off(client, world)
    await wait_phone(client, world, world.point_a, 1)
    taken = await client.patch(
        path, json={"status": "HUMAN", "assignedToUserId": str(world.agent_a.user_id)}, headers=world.agent_a.headers
    )
    assert taken.status_code == 200, taken.text

    resolved = await _resolve(client, world, path)
    assert resolved["status"] == "RESOLVED"
    assert resolved["assignedToUserId"] == str(world.agent_a.user_id)  # reports say who resolved it
    assert resolved["waitingSince"] is None
    listed = await client.get(f"{_conversations(world.point_a)}?status=RESOLVED", headers=world.agent_a.headers)
    assert [item["id"] for item in listed.json()["items"]] == [resolved["id"]]
    human = await client.get(f"{_conversations(world.point_a)}?status=HUMAN", headers=world.agent_a.headers)
    assert human.json()["items"] == []
    last = (await _detail(client, world, path))["events"][-1]
    assert (last["kind"], last["fromStatus"], last["toStatus"]) == ("RESOLVED", "HUMAN", "RESOLVED")
    assert last["actorUserId"] == str(world.agent_a.user_id)
    status, _, asked, resolved_at = await _row(session, path)
    assert status == "RESOLVED" and resolved_at is not None
    assert asked is None  # this point does not ask for ratings
    await asyncio.sleep(0.3)
    assert await phone(client, world, world.point_a) == [(await phone(client, world, world.point_a))[0]]

    await say(client, world, world.point_a, "hola de nuevo")
    await wait_phone(client, world, world.point_a, 2)  # the bot answers again
    detail = await _detail(client, world, path)
    assert detail["status"] == "BOT" and detail["assignedToUserId"] is None
    reopened = detail["events"][-1]
    assert (reopened["kind"], reopened["fromStatus"], reopened["toStatus"]) == ("REOPENED", "RESOLVED", "BOT")
    assert reopened["actorUserId"] is None


async def test_a_rating_is_stored_thanked_and_never_reaches_the_bot(
    client: Client, world: World, session: AsyncSession
) -> None:
    await _csat(session)
    await link(client, world, world.point_a)
    path = await _handed_off(client, world)
    reply = await client.post(f"{path}/messages", json={"content": "Hola, soy Ana."}, headers=world.agent_a.headers)
    assert reply.status_code == 201  # takes the waiting conversation
    await wait_phone(client, world, world.point_a, 2)

    await _resolve(client, world, path)
    assert (await wait_phone(client, world, world.point_a, 3))[-1] == QUESTION
    await _resolve(client, world, path)  # already RESOLVED: nothing changes, nothing is asked again
    assert (await _row(session, path))[2] is not None

    await say(client, world, world.point_a, "¡5 estrellas!")
    assert (await wait_phone(client, world, world.point_a, 4))[-1] == THANKS
    assert await _ratings(session) == [(5, world.agent_a.user_id, "¡5 estrellas!")]
    status, assignee, asked, _ = await _row(session, path)
    assert (status, assignee, asked) == ("RESOLVED", world.agent_a.user_id, None)
    handled = await session.scalar(select(Message.handled_at).where(Message.content == "¡5 estrellas!"))
    assert handled is not None  # no bot turn is owed
    questions = await session.scalar(select(func.count()).select_from(Message).where(Message.content == QUESTION))
    assert questions == 1
    await asyncio.sleep(0.3)
    assert len(await phone(client, world, world.point_a)) == 4  # the bot said nothing

    await say(client, world, world.point_a, "4")  # one rating per question: now it is a message like any other
    texts = await wait_phone(client, world, world.point_a, 5)
    assert texts[-1] not in (THANKS, QUESTION)
    assert len(await _ratings(session)) == 1
    assert (await _detail(client, world, path))["status"] == "BOT"


async def test_anything_else_reopens_and_reaches_the_bot(client: Client, world: World, session: AsyncSession) -> None:
    await _csat(session)
    await link(client, world, world.point_a)
    other = "+593990000077"
    first, second = await _handed_off(client, world), await _handed_off(client, world, other)
    for path in (first, second):
        await _resolve(client, world, path)
    await eventually(lambda: _count(client, world, QUESTION, 2), what="two questions")

    await say(client, world, world.point_a, "5 paquetes perdidos")
    await eventually(lambda: _count(client, world, None, 4), what="the bot's answer")  # 2 handoffs, 2 questions
    status, assignee, asked, _ = await _row(session, first)
    assert (status, assignee, asked) == ("BOT", None, None)
    assert (await _detail(client, world, first))["events"][-1]["kind"] == "REOPENED"
    assert await _ratings(session) == []

    # a rating and a question arriving together: the rating is stored, the question goes to the bot
    batch = [{"from": other, "text": "excelente"}, {"from": other, "text": "¿y mi paquete ABC123456?"}]
    response = await client.post(
        f"/api/service-points/{world.point_a}/simulator/inbound/batch", json=batch, headers=world.admin.headers
    )
    assert response.status_code == 202, response.text
    await eventually(lambda: _count(client, world, THANKS, 1), what="the thanks")
    await eventually(lambda: _count(client, world, None, 7), what="the bot's answer")
    # nobody held it: the agent who resolved it is credited
    assert await _ratings(session) == [(5, world.agent_a.user_id, "excelente")]
    assert (await _row(session, second))[0] == "BOT"


async def test_staff_writing_from_the_phone_takes_a_resolved_conversation(
    client: Client, world: World, session: AsyncSession
) -> None:
    await _csat(session)
    await link(client, world, world.point_a)
    path = await _handed_off(client, world)
    await _resolve(client, world, path)
    await eventually(lambda: _count(client, world, QUESTION, 1), what="the question")
    sent = await client.post(
        f"/api/service-points/{world.point_a}/simulator/phone-send",
        json={"to": CUSTOMER, "text": "Hola, le escribo de la sucursal"},
        headers=world.admin.headers,
    )
    assert sent.status_code == 202, sent.text

    async def taken() -> bool:
        return (await _row(session, path))[0] == "HUMAN"

    await eventually(taken, what="HUMAN")
    last = (await _detail(client, world, path))["events"][-1]
    assert (last["kind"], last["fromStatus"], last["toStatus"]) == ("TAKEN_FROM_PHONE", "RESOLVED", "HUMAN")
    assert (await _row(session, path))[2] is None  # the question is moot now
    await say(client, world, world.point_a, "5")
    await asyncio.sleep(0.3)
    assert await _ratings(session) == []  # the staff are talking with the customer: no rating, no bot
    assert (await _row(session, path))[0] == "HUMAN"
    assert not await _count(client, world, THANKS, 1)


async def _count(client: Client, world: World, text: str | None, count: int) -> bool:
    """Whether the customer's phones received `count` messages (with this text, if given)."""
    texts = await phone(client, world, world.point_a)
    return len([t for t in texts if text is None or t == text]) >= count

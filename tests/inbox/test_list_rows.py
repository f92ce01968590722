"""What a row of the list tells an agent: the customer's words as preview, who wrote last, the assignee's unread
count (and reading it), assignment and resolution times; and taking a conversation someone else holds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tests.conftest import World
from tests.inbox.thread import add_message
from tests.rows import add_conversation
from ventanilla.db.models import Conversation, ConversationEvent, SenderType, User

Client = AsyncTestClient[Litestar]


def _path(world: World, conversation_id: UUID) -> str:
    return f"/api/service-points/{world.point_a}/conversations/{conversation_id}"


async def _row(client: Client, world: World, conversation_id: UUID, caller: str = "agent_a") -> dict:
    headers = world.actors()[caller].headers
    items = (await client.get(f"/api/service-points/{world.point_a}/conversations", headers=headers)).json()["items"]
    return next(item for item in items if item["id"] == str(conversation_id))


async def test_preview_is_the_customers_latest_words(client: Client, world: World, session: AsyncSession) -> None:
    conversation_id = await add_conversation(session, world.point_a)  # the customer said "hola"
    start = datetime.now(UTC)
    await add_message(session, world.point_a, conversation_id, "¿dónde está mi paquete?", at=start)
    await add_message(
        session,
        world.point_a,
        conversation_id,
        "Tu paquete está en camino.",
        SenderType.BOT,
        start + timedelta(seconds=1),
    )

    row = await _row(client, world, conversation_id)

    assert row["lastMessagePreview"] == "¿dónde está mi paquete?" and row["lastMessageFrom"] == "BOT"
    # the branch wrote first (from its phone): with no word of the customer, the latest message is shown
    silent = Conversation(service_point_id=world.point_a, customer_phone="+593980000009")
    session.add(silent)
    await session.commit()
    await add_message(session, world.point_a, silent.id, "Hola, te escribimos de la sucursal.", SenderType.AGENT)
    row = await _row(client, world, silent.id)
    assert row["lastMessagePreview"] == "Hola, te escribimos de la sucursal." and row["lastMessageFrom"] == "AGENT"


async def test_unread_counts_the_customers_messages_since_the_assignee_read(
    client: Client, world: World, session: AsyncSession
) -> None:
    conversation_id = await add_conversation(session, world.point_a)
    await add_message(session, world.point_a, conversation_id, "¿hay alguien?")
    assert (await _row(client, world, conversation_id))["unreadCount"] == 0  # nobody holds it

    taken = await client.patch(
        _path(world, conversation_id),
        json={"status": "HUMAN", "assignedToUserId": str(world.agent_a.user_id), "expectedAssignedToUserId": None},
        headers=world.agent_a.headers,
    )
    assert taken.status_code == 200, taken.text
    assert taken.json()["unreadCount"] == 0 and taken.json()["assignedAt"] is not None
    for text in ("uno", "dos", "tres"):
        await add_message(session, world.point_a, conversation_id, text)
    await add_message(session, world.point_a, conversation_id, "Ya te respondo", SenderType.BOT)
    await client.post(f"{_path(world, conversation_id)}/notes", json={"content": "ojo"}, headers=world.admin.headers)

    assert (await _row(client, world, conversation_id))["unreadCount"] == 3  # the customer's; not the bot's, nor notes
    assert (await _row(client, world, conversation_id, "supervisor_a"))["unreadCount"] == 3  # the assignee's count
    by_someone_else = await client.post(f"{_path(world, conversation_id)}/read", headers=world.supervisor_a.headers)
    assert by_someone_else.status_code == 204
    assert (await _row(client, world, conversation_id))["unreadCount"] == 3
    read = await client.post(f"{_path(world, conversation_id)}/read", headers=world.agent_a.headers)
    assert read.status_code == 204
    assert (await _row(client, world, conversation_id))["unreadCount"] == 0
    await add_message(session, world.point_a, conversation_id, "¿sigues ahí?")
    assert (await _row(client, world, conversation_id))["unreadCount"] == 1

    resolved = await client.patch(
        _path(world, conversation_id), json={"status": "RESOLVED"}, headers=world.agent_a.headers
    )
    assert resolved.json()["resolvedAt"] is not None
    detail = (await client.get(_path(world, conversation_id), headers=world.agent_a.headers)).json()
    assert detail["resolvedAt"] == resolved.json()["resolvedAt"] and detail["assignedAt"] == taken.json()["assignedAt"]
    other = await add_conversation(session, world.point_b, phone="+593980000002")
    for url in (f"{_path(world, other)}/read", f"/api/service-points/{world.point_b}/conversations/{other}/read"):
        assert (await client.post(url, headers=world.agent_a.headers)).status_code == 404


async def test_taking_a_conversation_someone_else_holds_is_refused(
    client: Client, world: World, session: AsyncSession
) -> None:
    supervisor = await session.get_one(User, world.supervisor_a.user_id)
    supervisor.name = "Ana Pérez"
    await session.commit()
    conversation_id = await add_conversation(session, world.point_a)
    path = _path(world, conversation_id)
    mine = {"status": "HUMAN", "assignedToUserId": str(world.supervisor_a.user_id), "expectedAssignedToUserId": None}
    assert (await client.patch(path, json=mine, headers=world.supervisor_a.headers)).status_code == 200

    # agent A's page still showed it unassigned: taking it now names who holds it
    take = {"status": "HUMAN", "assignedToUserId": str(world.agent_a.user_id), "expectedAssignedToUserId": None}
    refused = await client.patch(path, json=take, headers=world.agent_a.headers)

    assert refused.status_code == 409, refused.text
    assert refused.json()["detail"] == "la atiende Ana Pérez"
    assert refused.json()["extra"][0]["key"] == "expectedAssignedToUserId"
    # the page asks "¿Tomarla de todos modos?", reads who holds it and sends the change again
    holder = (await client.get(path, headers=world.agent_a.headers)).json()["assignedToUserId"]
    confirmed = take | {"expectedAssignedToUserId": holder}
    taken = await client.patch(path, json=confirmed, headers=world.agent_a.headers)
    assert taken.status_code == 200 and taken.json()["assignedToUserId"] == str(world.agent_a.user_id)
    stale = await client.patch(path, json=confirmed, headers=world.supervisor_a.headers)
    assert stale.status_code == 409 and stale.json()["detail"] == "la atiende agent_a"
    bad = await client.patch(path, json={"expectedAssignedToUserId": "nadie"}, headers=world.agent_a.headers)
    assert bad.status_code == 400 and bad.json()["extra"][0]["key"] == "expectedAssignedToUserId"

    # the same take again changes nothing: no "agent_a assigned it to agent_a" in the history
    again = await client.patch(
        path, json=take | {"expectedAssignedToUserId": str(world.agent_a.user_id)}, headers=world.agent_a.headers
    )
    assert again.status_code == 200
    session.expire_all()
    events = (
        await session.scalars(
            select(ConversationEvent)
            .where(ConversationEvent.conversation_id == conversation_id)
            .order_by(ConversationEvent.created_at)
        )
    ).all()
    assert [(e.kind, e.actor_user_id, e.assigned_to_user_id) for e in events] == [
        ("STATUS_CHANGED", world.supervisor_a.user_id, world.supervisor_a.user_id),
        ("ASSIGNED", world.agent_a.user_id, world.agent_a.user_id),
    ]

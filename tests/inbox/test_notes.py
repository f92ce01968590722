"""Private notes: in the thread as `kind: note`, never sent, never shown to the bot, and they change nothing about
the conversation (its place in the list, its preview, its wait, its assignee)."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tests.conftest import World
from tests.fakes.openai_server import FakeOpenAI, completion
from tests.flow import fast_app, received, say, wait_phone, with_model
from tests.inbox.test_inbox_api import only_conversation
from tests.inbox.thread import add_message
from tests.rows import add_conversation
from ventanilla.config import Settings
from ventanilla.db.models import Conversation, ConversationEvent, ConversationStatus, Message, MessageKind, SenderType

Client = AsyncTestClient[Litestar]


@pytest.fixture
def app(settings: Settings, model: FakeOpenAI) -> Litestar:
    return fast_app(with_model(settings, model))


def _conversation(world: World, conversation_id: object, point: object = None) -> str:
    return f"/api/service-points/{point or world.point_a}/conversations/{conversation_id}"


async def test_a_note_is_in_the_thread_and_changes_nothing_else(
    client: Client, world: World, session: AsyncSession
) -> None:
    conversation_id = await add_conversation(session, world.point_a)
    earlier = datetime.now(UTC)
    await add_message(session, world.point_a, conversation_id, "¿Dónde está mi envío?", at=earlier)
    waiting_since = earlier + timedelta(seconds=1)
    conversation = await session.get_one(Conversation, conversation_id)
    conversation.status, conversation.waiting_since = ConversationStatus.HUMAN, waiting_since
    await session.commit()
    path = _conversation(world, conversation_id)

    created = await client.post(
        f"{path}/notes", json={"content": "  Cliente VIP: llamar  "}, headers=world.agent_a.headers
    )

    assert created.status_code == 201, created.text
    note = created.json()
    assert (
        note
        | {
            "kind": "note",
            "content": "Cliente VIP: llamar",
            "direction": "OUT",
            "senderType": "AGENT",
            "senderUserId": str(world.agent_a.user_id),
            "deliveryStatus": None,
        }
        == note
    )
    thread = (await client.get(f"{path}/messages", headers=world.agent_a.headers)).json()["items"]
    assert [(m["kind"], m["content"]) for m in thread[:2]] == [
        ("note", "Cliente VIP: llamar"),
        ("message", "¿Dónde está mi envío?"),
    ]
    [item] = (
        await client.get(f"/api/service-points/{world.point_a}/conversations", headers=world.agent_a.headers)
    ).json()["items"]
    assert item["lastMessagePreview"] == "¿Dónde está mi envío?"  # never the note
    assert item["lastMessageFrom"] == "CUSTOMER"
    session.expire_all()
    stored = await session.get_one(Conversation, conversation_id)
    assert stored.last_message_at == earlier  # no place in the list earned
    assert stored.waiting_since == waiting_since and stored.assigned_to_user_id is None  # not an answer
    assert stored.status is ConversationStatus.HUMAN
    assert (await session.scalars(select(ConversationEvent))).all() == []
    row = await session.get_one(Message, note["id"])
    assert row.kind is MessageKind.NOTE and row.delivery_status is None


async def test_bad_notes_are_a_400_naming_the_content(client: Client, world: World, session: AsyncSession) -> None:
    conversation_id = await add_conversation(session, world.point_a)
    url = f"{_conversation(world, conversation_id)}/notes"
    for body in (
        {"content": ""},
        {"content": " \n "},
        {"content": "a\u0000b"},
        {"content": "x" * 4097},
        {"content": 5},
        {},
    ):
        response = await client.post(url, json=body, headers=world.agent_a.headers)
        assert response.status_code == 400, (body, response.text)
        assert response.json()["extra"][0]["key"] == "content", response.text
    assert (await client.post(url, json={"content": "x" * 4096}, headers=world.agent_a.headers)).status_code == 201
    of_b = await add_conversation(session, world.point_b, phone="+593980000002")
    for target in (of_b, uuid4()):  # B's conversation under A's path, or none at all
        response = await client.post(
            f"{_conversation(world, target)}/notes", json={"content": "x"}, headers=world.admin.headers
        )
        assert response.status_code == 404, response.text
    assert (await client.post(url, json={"content": "x"}, headers=world.agent_b.headers)).status_code == 404


async def test_notes_are_never_sent_nor_shown_to_the_bot(
    client: Client, linked: World, model: FakeOpenAI, session: AsyncSession
) -> None:
    """A note naming a shipment the customer never mentioned: the model never reads it, the phone never gets it."""
    model.script(completion("¡Hola! ¿En qué puedo ayudarte?"), completion("¿Me das tu número de guía?"))
    await say(client, linked, linked.point_a, "hola")
    await wait_phone(client, linked, linked.point_a, 1)
    conversation = await only_conversation(client, linked, linked.point_a)
    path = _conversation(linked, conversation["id"])
    note = "Guía QTO777777 del primo, confidencial"
    assert (
        await client.post(f"{path}/notes", json={"content": note}, headers=linked.agent_a.headers)
    ).status_code == 201

    await say(client, linked, linked.point_a, "¿y mi paquete?")
    texts = await wait_phone(client, linked, linked.point_a, 2)
    await asyncio.sleep(0.3)  # the outbox is polled every 50 ms: a sent note would be there by now

    assert texts == ["¡Hola! ¿En qué puedo ayudarte?", "¿Me das tu número de guía?"]
    assert all("QTO777777" not in m["text"] for m in await received(client, linked, linked.point_a))
    assert len(model.requests) == 2
    seen_by_model = json.dumps(model.requests[1].body, ensure_ascii=False)
    assert "¿y mi paquete?" in seen_by_model and "QTO777777" not in seen_by_model and "primo" not in seen_by_model
    kinds = (await session.execute(select(Message.sender_type, Message.kind).order_by(Message.timestamp))).all()
    assert kinds == [
        (SenderType.CUSTOMER, MessageKind.MESSAGE),
        (SenderType.BOT, MessageKind.MESSAGE),
        (SenderType.AGENT, MessageKind.NOTE),
        (SenderType.CUSTOMER, MessageKind.MESSAGE),
        (SenderType.BOT, MessageKind.MESSAGE),
    ]

"""The agents' inbox over HTTP: listing and paging, takeover, replies through the right socket, give back, retry."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from tests.conftest import World
from tests.flow import CUSTOMER, fast_app, link, phone, say, wait_phone
from tests.whatsapp.conftest import eventually
from ventanilla.config import Settings
from ventanilla.db.models import Conversation, DeliveryStatus, Direction, Message, SenderType

Client = AsyncTestClient[Litestar]


@pytest.fixture
def app(settings: Settings) -> Litestar:
    return fast_app(settings)


def _point(point: UUID) -> str:
    return f"/api/service-points/{point}"


async def only_conversation(client: Client, world: World, point: UUID) -> dict:
    async def exists() -> bool:
        return (
            len((await client.get(f"{_point(point)}/conversations", headers=world.agent_a.headers)).json()["items"])
            == 1
        )

    await eventually(exists, what="the conversation")
    return (await client.get(f"{_point(point)}/conversations", headers=world.agent_a.headers)).json()["items"][0]


async def test_takeover_reply_and_give_back(client: Client, world: World) -> None:
    await link(client, world, world.point_a)
    await link(client, world, world.point_b)
    await say(client, world, world.point_a, "hola")
    await wait_phone(client, world, world.point_a, 1)  # the bot greeted
    conversation = await only_conversation(client, world, world.point_a)
    assert conversation["status"] == "BOT" and conversation["customerPhone"] == CUSTOMER
    path = f"{_point(world.point_a)}/conversations/{conversation['id']}"

    taken = await client.patch(
        path,
        json={"status": "HUMAN", "assignedToUserId": str(world.agent_a.user_id), "reason": "lo atiendo yo"},
        headers=world.agent_a.headers,
    )
    assert taken.status_code == 200 and taken.json()["status"] == "HUMAN"
    await say(client, world, world.point_a, "¿me ayudan?")
    await asyncio.sleep(0.4)
    assert len(await phone(client, world, world.point_a)) == 1  # the bot is silent now

    reply = await client.post(f"{path}/messages", json={"content": "Claro, soy Ana."}, headers=world.agent_a.headers)
    assert reply.status_code == 201
    assert reply.json()["senderType"] == "AGENT" and reply.json()["deliveryStatus"] == "PENDING"
    texts = await wait_phone(client, world, world.point_a, 2)
    assert texts[-1] == "Claro, soy Ana."
    assert await phone(client, world, world.point_b) == []  # never through another branch

    async def sent() -> bool:
        items = (await client.get(f"{path}/messages", headers=world.agent_a.headers)).json()["items"]
        return items[0]["deliveryStatus"] == "SENT"

    await eventually(sent, what="SENT")

    back = await client.patch(path, json={"status": "BOT"}, headers=world.agent_a.headers)
    assert back.json() == back.json() | {"status": "BOT", "assignedToUserId": None}
    await say(client, world, world.point_a, "QTO999999")
    await wait_phone(client, world, world.point_a, 3)  # the bot answers again

    detail = (await client.get(path, headers=world.agent_a.headers)).json()
    assert [(e["kind"], e["toStatus"]) for e in detail["events"]] == [
        ("STATUS_CHANGED", "HUMAN"),
        ("STATUS_CHANGED", "BOT"),
    ]
    assert detail["events"][0]["actorUserId"] == str(world.agent_a.user_id)
    assert detail["events"][0]["reason"] == "lo atiendo yo"


async def test_agent_reply_takes_a_bot_conversation(client: Client, world: World) -> None:
    await link(client, world, world.point_a)
    await say(client, world, world.point_a, "hola")
    conversation = await only_conversation(client, world, world.point_a)
    path = f"{_point(world.point_a)}/conversations/{conversation['id']}"
    await client.post(f"{path}/messages", json={"content": "Te atiendo yo"}, headers=world.supervisor_a.headers)
    detail = (await client.get(path, headers=world.agent_a.headers)).json()
    assert detail["status"] == "HUMAN" and detail["assignedToUserId"] == str(world.supervisor_a.user_id)
    mine = await client.get(f"{_point(world.point_a)}/conversations?assignedTo=me", headers=world.supervisor_a.headers)
    assert [c["id"] for c in mine.json()["items"]] == [conversation["id"]]
    theirs = await client.get(f"{_point(world.point_a)}/conversations?assignedTo=me", headers=world.agent_a.headers)
    assert theirs.json()["items"] == []


async def test_handoff_requests_are_visible(client: Client, world: World) -> None:
    await link(client, world, world.point_a)
    await say(client, world, world.point_a, "quiero hablar con una persona")
    await say(client, world, world.point_a, "hola", sender="+593990000001")

    async def waiting() -> list[dict]:
        return (
            await client.get(f"{_point(world.point_a)}/conversations?waiting=true", headers=world.agent_a.headers)
        ).json()["items"]

    async def one_waiting() -> bool:
        return len(await waiting()) == 1

    await eventually(one_waiting, what="a waiting conversation")
    [item] = await waiting()
    assert item["customerPhone"] == CUSTOMER and item["status"] == "HUMAN"
    assert item["handoffReason"] and item["waitingSince"]
    # an agent's answer ends the wait
    path = f"{_point(world.point_a)}/conversations/{item['id']}/messages"
    await client.post(path, json={"content": "Hola, te ayudo"}, headers=world.agent_a.headers)
    assert await waiting() == []


async def _conversations(session: AsyncSession, point: UUID, count: int) -> list[UUID]:
    base = datetime.now(UTC) - timedelta(hours=2)
    ids = []
    for index in range(count):
        at = base + timedelta(minutes=index)
        conversation = Conversation(service_point_id=point, customer_phone=f"+5939800{index:05d}", last_message_at=at)
        session.add(conversation)
        await session.flush()
        session.add(
            Message(
                conversation_id=conversation.id,
                service_point_id=point,
                direction=Direction.IN,
                sender_type=SenderType.CUSTOMER,
                content=f"mensaje {index}",
                provider_message_id=f"P{index}",
                timestamp=at,
                created_at=at,
                handled_at=at,
            )
        )
        ids.append(conversation.id)
    await session.commit()
    return ids


async def _new_activity(session: AsyncSession, point: UUID, conversation_id: UUID, text: str) -> None:
    now = datetime.now(UTC)
    session.add(
        Message(
            conversation_id=conversation_id,
            service_point_id=point,
            direction=Direction.IN,
            sender_type=SenderType.CUSTOMER,
            content=text,
            provider_message_id=str(uuid4()),
            timestamp=now,
            handled_at=now,
        )
    )
    await session.execute(update(Conversation).where(Conversation.id == conversation_id).values(last_message_at=now))
    await session.commit()


async def test_paging_returns_each_conversation_once_while_messages_arrive(
    client: Client, world: World, session: AsyncSession
) -> None:
    ids = await _conversations(session, world.point_a, 35)
    seen: list[str] = []
    url = f"{_point(world.point_a)}/conversations?limit=4"
    page = (await client.get(url, headers=world.agent_a.headers)).json()
    assert page["items"][0]["lastMessagePreview"] == "mensaje 34"
    step = 0
    while True:
        seen.extend(item["id"] for item in page["items"])
        # meanwhile customers write: an unseen conversation jumps to the top, a seen one too, a brand new one appears
        await _new_activity(session, world.point_a, ids[step], f"nuevo {step}")
        if step < len(ids) - 1:
            await _new_activity(session, world.point_a, UUID(seen[0]), "otra vez")
        step += 1
        if not page["nextCursor"]:
            break
        page = (await client.get(f"{url}&cursor={page['nextCursor']}", headers=world.agent_a.headers)).json()
    assert len(seen) == len(set(seen)) == 35
    assert set(seen) == {str(i) for i in ids}
    # a new first page shows the newest activity first
    fresh = (await client.get(url, headers=world.agent_a.headers)).json()
    assert fresh["items"][0]["lastMessagePreview"] in {"otra vez", f"nuevo {step - 1}"}


async def test_filters_and_search(client: Client, world: World, session: AsyncSession) -> None:
    ids = await _conversations(session, world.point_a, 5)
    await session.execute(update(Conversation).where(Conversation.id == ids[1]).values(status="HUMAN"))
    await session.commit()
    base = f"{_point(world.point_a)}/conversations"
    human = (await client.get(f"{base}?status=HUMAN", headers=world.agent_a.headers)).json()["items"]
    assert [c["id"] for c in human] == [str(ids[1])]
    bot = (await client.get(f"{base}?status=BOT", headers=world.agent_a.headers)).json()["items"]
    assert len(bot) == 4
    by_phone = (await client.get(f"{base}?q=980000003", headers=world.agent_a.headers)).json()["items"]
    assert [c["id"] for c in by_phone] == [str(ids[3])]
    by_text = (await client.get(f"{base}?q=MENSAJE 2", headers=world.agent_a.headers)).json()["items"]
    assert [c["id"] for c in by_text] == [str(ids[2])]
    literal = (await client.get(f"{base}?q=%25", headers=world.agent_a.headers)).json()["items"]
    assert literal == []  # % is searched literally, not as a wildcard


async def test_messages_newest_first_with_before_cursor(client: Client, world: World, session: AsyncSession) -> None:
    [conversation_id] = await _conversations(session, world.point_a, 1)
    for index in range(6):
        await _new_activity(session, world.point_a, conversation_id, f"m{index}")
    url = f"{_point(world.point_a)}/conversations/{conversation_id}/messages?limit=3"
    first = (await client.get(url, headers=world.agent_a.headers)).json()
    assert [m["content"] for m in first["items"]] == ["m5", "m4", "m3"]
    second = (await client.get(f"{url}&before={first['nextCursor']}", headers=world.agent_a.headers)).json()
    assert [m["content"] for m in second["items"]] == ["m2", "m1", "m0"]
    third = (await client.get(f"{url}&before={second['nextCursor']}", headers=world.agent_a.headers)).json()
    assert [m["content"] for m in third["items"]] == ["mensaje 0"] and third["nextCursor"] is None


async def test_bad_input_is_a_4xx(client: Client, world: World, session: AsyncSession) -> None:
    [conversation_id] = await _conversations(session, world.point_a, 1)
    base = f"{_point(world.point_a)}/conversations"
    path = f"{base}/{conversation_id}"
    headers = world.agent_a.headers
    cases = [
        ("GET", f"{base}?status=ASLEEP", None, 400, "status"),
        ("GET", f"{base}?limit=0", None, 400, "limit"),
        ("GET", f"{base}?limit=201", None, 400, "limit"),
        ("GET", f"{base}?cursor=garbage", None, 400, "cursor"),
        ("GET", f"{base}?assignedTo=someone", None, 400, "assignedTo"),
        ("GET", f"{path}/messages?before=zzz", None, 400, "before"),
        ("PATCH", path, {"status": "SLEEPING"}, 400, "status"),
        ("PATCH", path, {"assignedToUserId": "nope"}, 400, "assignedToUserId"),
        ("PATCH", path, {"status": "HUMAN", "assignedToUserId": str(world.agent_b.user_id)}, 400, "assignedToUserId"),
        ("PATCH", path, {"assignedToUserId": str(world.agent_a.user_id)}, 409, "HUMAN"),
        ("PATCH", path, {"colour": "red"}, 400, "colour"),
        ("POST", f"{path}/messages", {"content": ""}, 400, "content"),
        ("POST", f"{path}/messages", {"content": "   "}, 400, "content"),
        ("POST", f"{path}/messages", {"content": "x" * 4097}, 400, "content"),
        ("POST", f"{path}/messages", {}, 400, "content"),
        ("POST", f"{path}/messages/{uuid4()}/retry", None, 404, "not found"),
    ]
    for method, url, body, status, needle in cases:
        response = await client.request(method, url, json=body, headers=headers)
        assert response.status_code == status, (method, url, body, response.text)
        assert needle in response.text, (url, response.text)


async def test_failed_message_can_be_retried(client: Client, world: World, session: AsyncSession) -> None:
    """Replies queued while the point is unlinked wait; an agent's FAILED message goes back with retry."""
    [conversation_id] = await _conversations(session, world.point_a, 1)
    path = f"{_point(world.point_a)}/conversations/{conversation_id}/messages"
    sent = (await client.post(path, json={"content": "¿sigues ahí?"}, headers=world.agent_a.headers)).json()
    await session.execute(
        update(Message)
        .where(Message.id == UUID(sent["id"]))
        .values(delivery_status=DeliveryStatus.FAILED, attempts=2, delivery_error="websocket not connected")
    )
    await session.commit()
    failed = (await client.get(path, headers=world.agent_a.headers)).json()["items"][0]
    assert failed["deliveryStatus"] == "FAILED" and failed["deliveryError"] == "websocket not connected"
    retried = await client.post(f"{path}/{sent['id']}/retry", headers=world.agent_a.headers)
    assert retried.status_code == 201 and retried.json()["deliveryStatus"] == "PENDING"
    again = await client.post(f"{path}/{sent['id']}/retry", headers=world.agent_a.headers)
    assert again.status_code == 409
    await link(client, world, world.point_a)
    assert await wait_phone(client, world, world.point_a, 1) == ["¿sigues ahí?"]

"""Labels on conversations: normalised, a history entry only when they change, a list filter served by the GIN
index, and the labels in use with their counts."""

from __future__ import annotations

from uuid import UUID, uuid4

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tests.conftest import World
from tests.rows import add_conversation
from ventanilla.db.models import Conversation, ConversationEvent, ConversationEventKind
from ventanilla.inbox.services import ConversationFilters, InboxService

Client = AsyncTestClient[Litestar]


def _base(point: UUID) -> str:
    return f"/api/service-points/{point}"


async def _label(client: Client, world: World, conversation_id: UUID, labels: object) -> dict:
    response = await client.put(
        f"{_base(world.point_a)}/conversations/{conversation_id}/labels", json=labels, headers=world.agent_a.headers
    )
    assert response.status_code == 200, response.text
    return response.json()


async def _events(session: AsyncSession, conversation_id: UUID) -> list[ConversationEvent]:
    session.expire_all()
    return list(
        (
            await session.scalars(
                select(ConversationEvent)
                .where(ConversationEvent.conversation_id == conversation_id)
                .order_by(ConversationEvent.created_at)
            )
        ).all()
    )


async def test_labels_are_normalised_and_each_change_is_in_the_history(
    client: Client, world: World, session: AsyncSession
) -> None:
    conversation_id = await add_conversation(session, world.point_a)

    summary = await _label(client, world, conversation_id, ["  Reclamo ", "ENVÍO   urgente", "reclamo"])

    assert summary["labels"] == ["envío urgente", "reclamo"] and summary["id"] == str(conversation_id)
    [event] = await _events(session, conversation_id)
    assert event.kind is ConversationEventKind.LABELS_CHANGED and event.actor_user_id == world.agent_a.user_id
    assert event.reason == "envío urgente, reclamo"
    # the same labels written differently change nothing: no new entry
    await _label(client, world, conversation_id, ["RECLAMO", "envío urgente"])
    assert len(await _events(session, conversation_id)) == 1
    cleared = await _label(client, world, conversation_id, [])
    assert cleared["labels"] == []
    events = await _events(session, conversation_id)
    assert len(events) == 2 and events[1].reason is None
    detail = (
        await client.get(f"{_base(world.point_a)}/conversations/{conversation_id}", headers=world.agent_a.headers)
    ).json()
    assert detail["labels"] == [] and [e["kind"] for e in detail["events"]] == ["LABELS_CHANGED"] * 2


async def test_filter_by_label_and_labels_in_use(client: Client, world: World, session: AsyncSession) -> None:
    first = await add_conversation(session, world.point_a, phone="+593980000001")
    second = await add_conversation(session, world.point_a, phone="+593980000002")
    third = await add_conversation(session, world.point_a, phone="+593980000003")
    of_b = await add_conversation(session, world.point_b, phone="+593980000004")
    await _label(client, world, first, ["reclamo", "vip"])
    await _label(client, world, second, ["reclamo"])
    await _label(client, world, third, ["envío urgente"])
    session.add(Conversation(service_point_id=world.point_b, customer_phone="+593980000005", labels=["reclamo"]))
    await session.commit()

    async def listed(query: str) -> set[str]:
        response = await client.get(f"{_base(world.point_a)}/conversations?{query}", headers=world.agent_a.headers)
        assert response.status_code == 200, response.text
        return {item["id"] for item in response.json()["items"]}

    assert await listed("label=reclamo") == {str(first), str(second)}
    assert await listed("label=%20VIP%20") == {str(first)}  # normalised like the labels
    assert await listed("label=Envío%20%20urgente") == {str(third)}
    assert await listed("label=reclamo&q=980000002") == {str(second)}
    assert await listed("label=nadie") == set()
    items = (await client.get(f"{_base(world.point_a)}/conversations", headers=world.agent_a.headers)).json()["items"]
    assert {item["id"]: item["labels"] for item in items}[str(first)] == ["reclamo", "vip"]

    in_use = await client.get(f"{_base(world.point_a)}/labels", headers=world.agent_a.headers)
    assert in_use.status_code == 200
    assert in_use.json() == [
        {"label": "reclamo", "count": 2},  # B's conversation is not counted
        {"label": "envío urgente", "count": 1},
        {"label": "vip", "count": 1},
    ]
    assert (await client.get(f"{_base(world.point_a)}/labels", headers=world.agent_b.headers)).status_code == 404
    response = await client.put(
        f"{_base(world.point_a)}/conversations/{of_b}/labels", json=["x"], headers=world.admin.headers
    )
    assert response.status_code == 404  # B's conversation under A's path


async def test_the_label_filter_uses_the_gin_index(world: World, session: AsyncSession) -> None:
    filtered = InboxService(session)._filtered(world.point_a, ConversationFilters(label="reclamo"), Conversation.id)
    connection = await session.connection()
    await connection.exec_driver_sql(  # a busy point where few conversations carry the label
        "INSERT INTO conversation (id, service_point_id, customer_phone, status, labels, created_at, updated_at) "
        "SELECT gen_random_uuid(), $1, '+5939' || (10000000 + n), 'BOT', "
        "CASE WHEN n % 500 = 0 THEN '{reclamo}'::text[] ELSE '{}'::text[] END, now(), now() "
        "FROM generate_series(1, 5000) AS n",
        (world.point_a,),
    )
    await connection.exec_driver_sql("ANALYZE conversation")
    compiled = filtered.compile(dialect=connection.dialect)
    values = tuple(compiled.params[name] for name in compiled.positiontup or ())
    plan = "\n".join(row[0] for row in await connection.exec_driver_sql(f"EXPLAIN {compiled}", values))
    assert "ix_conversation_labels" in plan, plan


async def test_bad_labels_are_a_400_naming_the_field(client: Client, world: World, session: AsyncSession) -> None:
    conversation_id = await add_conversation(session, world.point_a)
    url = f"{_base(world.point_a)}/conversations/{conversation_id}/labels"
    cases = [
        ({"labels": ["x"]}, "body"),
        ("reclamo", "body"),
        ([5], "[0]"),
        (["ok", None], "[1]"),
        (["ok", "a\u0000b"], "[1]"),
        (["ok", "   "], "[1]"),
        (["ok", "x" * 41], "[1]"),
        ([f"l{i}" for i in range(21)], "body"),
    ]
    for body, key in cases:
        response = await client.put(url, json=body, headers=world.agent_a.headers)
        assert response.status_code == 400, (body, response.text)
        assert response.json()["extra"][0]["key"] == key, (body, response.text)
    assert (await _label(client, world, conversation_id, ["x" * 40] + [f"l{i}" for i in range(19)]))["labels"]
    missing = await client.put(
        f"{_base(world.point_a)}/conversations/{uuid4()}/labels", json=[], headers=world.agent_a.headers
    )
    assert missing.status_code == 404
    assert (await client.put(url, json=["x"], headers=world.agent_b.headers)).status_code == 404

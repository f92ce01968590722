"""Whoever answers a customer nobody holds takes the conversation: a waiting, unassigned one becomes theirs, a
RESOLVED one opens again in their hands, and one someone else holds stays theirs."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tests.conftest import World
from tests.rows import add_conversation
from ventanilla.db.models import Conversation, ConversationEvent, ConversationEventKind, ConversationStatus

Client = AsyncTestClient[Litestar]


async def _with(session: AsyncSession, conversation_id: UUID, **values: object) -> None:
    conversation = await session.get_one(Conversation, conversation_id)
    for name, value in values.items():
        setattr(conversation, name, value)
    await session.commit()


async def _reply(client: Client, world: World, conversation_id: UUID) -> None:
    response = await client.post(
        f"/api/service-points/{world.point_a}/conversations/{conversation_id}/messages",
        json={"content": "Hola, le ayudo"},
        headers=world.agent_a.headers,
    )
    assert response.status_code == 201, response.text


async def _state(session: AsyncSession, conversation_id: UUID) -> tuple[Conversation, list[ConversationEvent]]:
    session.expire_all()
    conversation = await session.get_one(Conversation, conversation_id)
    events = (
        await session.scalars(
            select(ConversationEvent)
            .where(ConversationEvent.conversation_id == conversation_id)
            .order_by(ConversationEvent.created_at)
        )
    ).all()
    return conversation, list(events)


async def test_replying_to_a_waiting_unassigned_conversation_assigns_it(
    client: Client, world: World, session: AsyncSession
) -> None:
    conversation_id = await add_conversation(session, world.point_a)
    await _with(session, conversation_id, status=ConversationStatus.HUMAN, waiting_since=datetime.now(UTC))

    await _reply(client, world, conversation_id)

    conversation, events = await _state(session, conversation_id)
    assert conversation.assigned_to_user_id == world.agent_a.user_id
    assert conversation.waiting_since is None
    assert conversation.assigned_at is not None and conversation.assignee_read_at is not None
    assert [(e.kind, e.actor_user_id, e.assigned_to_user_id) for e in events] == [
        (ConversationEventKind.ASSIGNED, world.agent_a.user_id, world.agent_a.user_id)
    ]


async def test_replying_to_a_resolved_conversation_takes_it(
    client: Client, world: World, session: AsyncSession
) -> None:
    conversation_id = await add_conversation(session, world.point_a)
    await _with(session, conversation_id, status=ConversationStatus.RESOLVED, resolved_at=datetime.now(UTC))

    await _reply(client, world, conversation_id)

    conversation, events = await _state(session, conversation_id)
    assert conversation.status is ConversationStatus.HUMAN
    assert conversation.assigned_to_user_id == world.agent_a.user_id
    assert [(e.kind, e.from_status, e.to_status) for e in events] == [
        (ConversationEventKind.STATUS_CHANGED, ConversationStatus.RESOLVED, ConversationStatus.HUMAN)
    ]


async def test_replying_never_takes_a_conversation_someone_else_holds(
    client: Client, world: World, session: AsyncSession
) -> None:
    conversation_id = await add_conversation(session, world.point_a)
    holder = world.supervisor_a.user_id
    await _with(
        session,
        conversation_id,
        status=ConversationStatus.HUMAN,
        assigned_to_user_id=holder,
        waiting_since=datetime.now(UTC),
    )

    await _reply(client, world, conversation_id)

    conversation, events = await _state(session, conversation_id)
    assert conversation.assigned_to_user_id == holder
    assert conversation.waiting_since is None  # the customer got an answer all the same
    assert events == []

"""The assigner against the real database, one round at a time (`run_once`): who gets a waiting conversation, when
it moves on, and when it waits."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from tests.conftest import World
from tests.outage import Outage
from tests.whatsapp.conftest import eventually
from ventanilla.app import create_app
from ventanilla.assignment.assigner import Assigner, AssignmentPolicy, AssignmentReport
from ventanilla.config import Settings
from ventanilla.db.models import (
    Availability,
    Conversation,
    ConversationEvent,
    ConversationEventKind,
    ConversationStatus,
    MemberRole,
    Membership,
    User,
)

Client = AsyncTestClient[Litestar]


@pytest.fixture
def app(settings: Settings) -> Litestar:
    """The app's own assigner stays out of the way: these tests run the rounds themselves, at chosen instants."""
    return create_app(settings, assignment_policy=AssignmentPolicy(first_run_seconds=3600))


def _assigner(engine: AsyncEngine, policy: AssignmentPolicy | None = None) -> Assigner:
    return Assigner(async_sessionmaker(engine, expire_on_commit=False), policy)


async def _person(
    session: AsyncSession,
    point: UUID | None,
    name: str,
    *,
    online_at: datetime | None = None,
    active: bool = True,
    admin: bool = False,
) -> UUID:
    """A user (a member of `point` unless None), ONLINE as confirmed at `online_at`, AWAY without it."""
    user = User(
        email=f"{name}@example.com",
        name=name,
        password_hash="x",
        is_active=active,
        is_admin=admin,
        availability=Availability.ONLINE if online_at else Availability.AWAY,
        availability_at=online_at,
    )
    user.memberships = []
    session.add(user)
    await session.flush()
    if point is not None:
        session.add(Membership(user_id=user.id, service_point_id=point, role=MemberRole.AGENT))
    await session.commit()
    return user.id


async def _conversation(
    session: AsyncSession,
    point: UUID,
    phone: str,
    *,
    waiting_since: datetime | None,
    assignee: UUID | None = None,
    assigned_at: datetime | None = None,
    status: ConversationStatus = ConversationStatus.HUMAN,
) -> UUID:
    conversation = Conversation(
        service_point_id=point,
        customer_phone=phone,
        status=status,
        waiting_since=waiting_since,
        assigned_to_user_id=assignee,
        assigned_at=assigned_at,
    )
    session.add(conversation)
    await session.commit()
    return conversation.id


async def _assignees(session: AsyncSession, ids: list[UUID]) -> list[UUID | None]:
    session.expire_all()
    rows = dict((await session.execute(select(Conversation.id, Conversation.assigned_to_user_id))).all())
    return [rows[i] for i in ids]


async def test_fewest_open_first_ties_in_turn_and_only_online_active_members(
    world: World, session: AsyncSession, engine: AsyncEngine
) -> None:
    now = datetime.now(UTC)
    a = world.point_a
    ana = await _person(session, a, "ana", online_at=now)
    beto = await _person(session, a, "beto", online_at=now - timedelta(seconds=60))
    caro = await _person(session, a, "caro", online_at=now)
    await _person(session, a, "dani")  # AWAY
    await _person(session, a, "eva", online_at=now, active=False)  # deactivated
    await _person(session, a, "fede", online_at=now - timedelta(minutes=3))  # the page stopped confirming
    await _person(session, None, "root", online_at=now, admin=True)  # admins only where they are members
    await _person(session, world.point_b, "bruno", online_at=now)  # another branch
    for index in range(2):  # ana already holds two open conversations
        await _conversation(session, a, f"+59397000000{index}", waiting_since=None, assignee=ana, assigned_at=now)
    # beto got one an hour ago (resolved since): caro, who never got one, goes first among those with none open
    hour_ago = now - timedelta(hours=1)
    await _conversation(
        session,
        a,
        "+593970000009",
        waiting_since=None,
        assignee=beto,
        assigned_at=hour_ago,
        status=ConversationStatus.RESOLVED,
    )
    waiting = [
        await _conversation(session, a, f"+59398000000{i}", waiting_since=now - timedelta(minutes=10 - i))
        for i in range(4)
    ]

    report = await _assigner(engine).run_once(now)

    assert report == AssignmentReport(assigned=4, reassigned=0)
    assert await _assignees(session, waiting) == [caro, beto, caro, beto]
    events = (
        await session.scalars(select(ConversationEvent).where(ConversationEvent.conversation_id == waiting[0]))
    ).all()
    assert [(e.kind, e.actor_user_id, e.assigned_to_user_id, e.reason) for e in events] == [
        (ConversationEventKind.ASSIGNED, None, caro, "asignación automática")
    ]
    again = await _assigner(engine).run_once(now + timedelta(seconds=2))
    assert again == AssignmentReport()  # nothing is due: each assignee has 5 minutes to answer


async def test_silent_assignee_loses_it_to_the_next_online_member(
    client: Client, world: World, session: AsyncSession, engine: AsyncEngine
) -> None:
    now = datetime.now(UTC)
    a, b = world.point_a, world.point_b
    ana = await _person(session, a, "ana", online_at=now)
    beto = await _person(session, a, "beto", online_at=now)
    late = now - timedelta(minutes=6)
    silent = await _conversation(session, a, "+593980000001", waiting_since=late, assignee=ana, assigned_at=late)
    fresh = await _conversation(
        session, a, "+593980000002", waiting_since=late, assignee=ana, assigned_at=now - timedelta(minutes=4)
    )
    answered = await _conversation(session, a, "+593980000003", waiting_since=None, assignee=ana, assigned_at=late)
    # point B: the assignee is the only one ONLINE, so it stays with them
    await session.execute(
        update(User).where(User.id == world.agent_b.user_id).values(availability="ONLINE", availability_at=now)
    )
    await session.commit()
    alone = await _conversation(
        session, b, "+593980000004", waiting_since=late, assignee=world.agent_b.user_id, assigned_at=late
    )

    report = await _assigner(engine).run_once(now)

    assert report == AssignmentReport(assigned=0, reassigned=1)
    assert await _assignees(session, [silent, fresh, answered, alone]) == [beto, ana, ana, world.agent_b.user_id]
    detail = await client.get(f"/api/service-points/{a}/conversations/{silent}", headers=world.supervisor_a.headers)
    [event] = detail.json()["events"]
    assert event["kind"] == "ASSIGNED" and event["actorUserId"] is None
    assert event["assignedToUserId"] == str(beto) and event["reason"] == "reasignada: sin respuesta en 5 min"

    # the point's own timeout counts: at 10 minutes, the one ana kept is due 9 minutes from now, beto's at 10
    await client.patch(f"/api/service-points/{a}", json={"assignmentTimeoutMinutes": 10}, headers=world.admin.headers)
    await session.execute(update(User).values(availability_at=now + timedelta(minutes=9)))
    await session.commit()
    assert await _assigner(engine).run_once(now + timedelta(minutes=9)) == AssignmentReport(reassigned=1)
    assert await _assignees(session, [silent, fresh]) == [beto, beto]
    assert await _assigner(engine).run_once(now + timedelta(minutes=10)) == AssignmentReport(reassigned=1)
    assert await _assignees(session, [silent, fresh]) == [ana, beto]


async def test_nobody_online_or_point_closed_it_waits(
    client: Client, world: World, session: AsyncSession, engine: AsyncEngine
) -> None:
    a = world.point_a
    base = f"/api/service-points/{a}"
    now = datetime.now(UTC)
    waiting = await _conversation(session, a, "+593980000001", waiting_since=now - timedelta(minutes=1))

    assert await _assigner(engine).run_once() == AssignmentReport()  # everyone is AWAY (the default)
    listed = await client.get(f"{base}/conversations?waiting=true", headers=world.supervisor_a.headers)
    assert [(c["id"], c["assignedToUserId"]) for c in listed.json()["items"]] == [(str(waiting), None)]

    online = await client.put("/api/me/availability", json={"status": "ONLINE"}, headers=world.agent_a.headers)
    assert online.status_code == 200 and online.json()["status"] == "ONLINE"
    # closed today (hours only three days from now, in Tokyo): the customer waits for opening time
    tokyo_day = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")[
        (datetime.now(UTC) + timedelta(hours=9, days=3)).weekday()
    ]
    closed = {"timezone": "Asia/Tokyo", "businessHours": {tokyo_day: [["08:00", "18:00"]]}}
    assert (await client.patch(base, json=closed, headers=world.supervisor_a.headers)).status_code == 200
    assert await _assigner(engine).run_once() == AssignmentReport()
    assert await _assignees(session, [waiting]) == [None]

    assert (
        await client.patch(base, json={"businessHours": None}, headers=world.supervisor_a.headers)
    ).status_code == 200
    assert await _assigner(engine).run_once() == AssignmentReport(assigned=1)
    assert await _assignees(session, [waiting]) == [world.agent_a.user_id]
    mine = await client.get(f"{base}/conversations?assignedTo=me", headers=world.agent_a.headers)
    assert [c["id"] for c in mine.json()["items"]] == [str(waiting)]


async def test_availability_is_set_confirmed_and_lapses(client: Client, world: World, session: AsyncSession) -> None:
    me = "/api/me/availability"
    headers = world.agent_a.headers
    assert (await client.get(me, headers=headers)).json() == {"status": "AWAY", "since": None}
    online = await client.put(me, json={"status": "ONLINE"}, headers=headers)
    assert online.status_code == 200 and online.json()["status"] == "ONLINE"
    assert (await client.get(me, headers=headers)).json() == online.json()
    for bad in ({"status": "BUSY"}, {"status": "online"}, {}):
        response = await client.put(me, json=bad, headers=headers)
        assert response.status_code == 400 and response.json()["extra"][0]["key"] == "status", response.text
    assert (await client.put(me, json={"status": "ONLINE"})).status_code == 401

    confirmed = datetime.now(UTC) - timedelta(minutes=3)  # the tab was closed three minutes ago
    await session.execute(update(User).where(User.id == world.agent_a.user_id).values(availability_at=confirmed))
    await session.commit()
    lapsed = (await client.get(me, headers=headers)).json()
    assert lapsed["status"] == "AWAY"
    assert datetime.fromisoformat(lapsed["since"]) == confirmed + timedelta(minutes=2)
    away = await client.put(me, json={"status": "AWAY"}, headers=headers)
    assert away.json()["status"] == "AWAY"
    assert (await client.get(me, headers=world.supervisor_a.headers)).json()["status"] == "AWAY"  # per person


async def test_the_worker_survives_the_database_going_away(
    world: World, session: AsyncSession, engine: AsyncEngine, outage: Outage, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="ventanilla.assignment")
    now = datetime.now(UTC)
    ana = await _person(session, world.point_a, "ana", online_at=now)
    waiting = await _conversation(session, world.point_a, "+593980000001", waiting_since=now)
    await session.close()
    assigner = _assigner(engine, AssignmentPolicy(first_run_seconds=0.05, every_seconds=0.1, retry_seconds=0.2))
    await outage.refuse()
    assigner.start()
    try:
        await asyncio.sleep(0.5)  # the first rounds meet no database
        await outage.allow()

        async def assigned() -> bool:
            return await _assignees(session, [waiting]) == [ana]

        await eventually(assigned, timeout=10, what="the assignment once the database is back")
    finally:
        await outage.allow()
        await assigner.stop()
    messages = [r.getMessage() for r in caplog.records if r.name == "ventanilla.assignment.assigner"]
    assert any("waits for the database" in m for m in messages), messages
    assert "assigner: 1 assigned, 0 reassigned" in messages

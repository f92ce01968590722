"""The assigner: hands each conversation waiting for a person to an ONLINE member of its point, and moves it on when
the assignee stays silent (an invitation with a timeout).

Every `every_seconds`, one round in one transaction:
- points with someone waiting are read with their hours; a closed point's customers wait for opening time;
- each waiting HUMAN conversation of an open point nobody holds goes to the ONLINE, active member of the point with
  the fewest open (HUMAN) conversations, ties to whoever got one least recently (then by id, to be deterministic);
- a waiting conversation whose assignee has not answered within the point's `assignmentTimeoutMinutes` since it was
  assigned goes to the next ONLINE member, never back to the same one; with nobody else ONLINE it stays;
- with nobody ONLINE it waits unassigned (listed under `waiting=true`, where supervisors see it).

Admins take conversations only where they are members. Rows are claimed `FOR UPDATE SKIP LOCKED`, so replicas
running rounds at once (or an agent's action) never wait on each other; at most `batch` conversations per round.
Each change is an ASSIGNED event with no actor and a Spanish reason, and a `conversation.updated` live event after
the commit. A round the database cuts short changes nothing and the next one tries again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from uuid import UUID

from sqlalchemy import func, literal, literal_column, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.types import DateTime

from ventanilla.assignment.hours import BusinessHours
from ventanilla.assignment.services import is_online
from ventanilla.db.models import Conversation, ConversationStatus, Membership, ServicePoint, User
from ventanilla.db.session import SessionFactory
from ventanilla.inbox.writer import ConversationWriter
from ventanilla.live.events import ConversationUpdated, after_commit
from ventanilla.periodic import Periodic, Schedule

logger = logging.getLogger(__name__)
AUTOMATIC = "asignación automática"


def _log(report: AssignmentReport) -> None:
    if report.assigned or report.reassigned:
        logger.info("assigner: %d assigned, %d reassigned", report.assigned, report.reassigned)


@dataclass(frozen=True)
class AssignmentPolicy:
    first_run_seconds: float = 1.0
    every_seconds: float = 2.0
    retry_seconds: float = 10.0  # after a round the database cut short
    batch: int = 200  # conversations per round


@dataclass(frozen=True, slots=True)
class AssignmentReport:
    assigned: int = 0
    reassigned: int = 0


@dataclass(slots=True)
class _Candidate:
    user_id: UUID
    open_conversations: int
    last_assigned: datetime | None
    points: set[UUID] = field(default_factory=set)
    turn: int = 0  # order of the assignments of this round (they share one `now`)

    def rank(self) -> tuple[int, datetime, int, str]:
        last = self.last_assigned or datetime.min.replace(tzinfo=UTC)
        return (self.open_conversations, last, self.turn, str(self.user_id))


class Assigner:
    def __init__(self, sessions: SessionFactory, policy: AssignmentPolicy | None = None) -> None:
        self.sessions = sessions
        self.policy = policy or AssignmentPolicy()
        schedule = Schedule(self.policy.first_run_seconds, self.policy.every_seconds, self.policy.retry_seconds)
        self._periodic = Periodic("assigner", self.run_once, schedule, logger, _log)

    def start(self) -> None:
        self._periodic.start()

    async def stop(self) -> None:
        """A round cut short here rolls back whole; the next start picks the same conversations up."""
        await self._periodic.stop()

    async def run_once(self, now: datetime | None = None) -> AssignmentReport:
        """One round (see the module): assign and reassign what is due at `now`, commit, publish."""
        now = now or datetime.now(UTC)
        async with self.sessions() as session, session.begin():
            open_points = await _open_points_with_waiting(session, now)
            if not open_points:
                return AssignmentReport()
            candidates = await _online_members(session, list(open_points), now)
            staffed = {point for candidate in candidates for point in candidate.points}
            due = await _due_conversations(session, [p for p in open_points if p in staffed], now, self.policy.batch)
            return _assign(session, due, candidates, open_points, now)


async def _open_points_with_waiting(session: AsyncSession, now: datetime) -> dict[UUID, int]:
    """The points open at `now` that have someone waiting, with their assignment timeout in minutes."""
    waiting = (
        select(Conversation.service_point_id)
        .where(Conversation.waiting_since.is_not(None), Conversation.status == ConversationStatus.HUMAN)
        .distinct()
        .scalar_subquery()
    )
    rows = await session.execute(
        select(
            ServicePoint.id, ServicePoint.timezone, ServicePoint.business_hours, ServicePoint.assignment_timeout_minutes
        ).where(ServicePoint.id.in_(waiting))
    )
    return {
        point_id: timeout
        for point_id, timezone, hours, timeout in rows.all()
        if BusinessHours.of(timezone, hours).is_open(now)
    }


async def _online_members(session: AsyncSession, point_ids: list[UUID], now: datetime) -> list[_Candidate]:
    """Active members of these points who are ONLINE now, with their open conversations (in every point: a person's
    load is theirs wherever it comes from) and when they last got one."""
    held = select(func.count()).where(
        Conversation.assigned_to_user_id == User.id, Conversation.status == ConversationStatus.HUMAN
    )
    latest = select(func.max(Conversation.assigned_at)).where(Conversation.assigned_to_user_id == User.id)
    rows = await session.execute(
        select(Membership.service_point_id, User.id, held.scalar_subquery(), latest.scalar_subquery())
        .join(User, User.id == Membership.user_id)
        .where(Membership.service_point_id.in_(point_ids), User.is_active, is_online(now))
    )
    people: dict[UUID, _Candidate] = {}
    for point_id, user_id, count, last in rows.all():
        people.setdefault(user_id, _Candidate(user_id, count, last)).points.add(point_id)
    return list(people.values())


async def _due_conversations(
    session: AsyncSession, point_ids: list[UUID], now: datetime, batch: int
) -> list[Conversation]:
    """Waiting conversations of these points nobody holds, or whose assignee's time is up; claimed, oldest first."""
    if not point_ids:
        return []
    deadline = literal(now, DateTime(timezone=True)) - ServicePoint.assignment_timeout_minutes * literal_column(
        "interval '1 minute'"
    )
    statement = (
        select(Conversation)
        .join(ServicePoint, ServicePoint.id == Conversation.service_point_id)
        .where(
            Conversation.service_point_id.in_(point_ids),
            Conversation.waiting_since.is_not(None),
            Conversation.status == ConversationStatus.HUMAN,
            or_(Conversation.assigned_to_user_id.is_(None), Conversation.assigned_at <= deadline),
        )
        .order_by(Conversation.assigned_to_user_id.is_not(None), Conversation.waiting_since, Conversation.id)
        .limit(batch)
        .with_for_update(of=Conversation, skip_locked=True)
    )
    return list(await session.scalars(statement))


def _assign(
    session: AsyncSession,
    due: list[Conversation],
    candidates: list[_Candidate],
    timeouts: dict[UUID, int],
    now: datetime,
) -> AssignmentReport:
    writer = ConversationWriter(session)
    assigned = reassigned = 0
    for turn, conversation in enumerate(due, start=1):
        previous = conversation.assigned_to_user_id
        eligible = [c for c in candidates if conversation.service_point_id in c.points and c.user_id != previous]
        if not eligible:
            continue  # nobody (else) is ONLINE: it waits, or stays with its assignee
        chosen = min(eligible, key=_Candidate.rank)
        if previous is None:
            reason = AUTOMATIC
            assigned += 1
        else:
            reason = f"reasignada: sin respuesta en {timeouts[conversation.service_point_id]} min"
            reassigned += 1
            for candidate in candidates:
                if candidate.user_id == previous:
                    candidate.open_conversations -= 1
        writer.change(conversation, actor_id=None, assignee=chosen.user_id, reason=reason, now=now)
        chosen.open_conversations += 1
        chosen.last_assigned, chosen.turn = now, turn
        after_commit(
            session,
            ConversationUpdated(
                service_point_id=conversation.service_point_id,
                conversation_id=conversation.id,
                status=conversation.status,
                assigned_to_user_id=chosen.user_id,
            ),
        )
    return AssignmentReport(assigned, reassigned)

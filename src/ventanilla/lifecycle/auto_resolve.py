"""Auto-resolve: a HUMAN conversation with no message for its point's `auto_resolve_hours` becomes RESOLVED.

Every `every_seconds` (the first run shortly after start), idle conversations are resolved a batch per transaction,
oldest first (`FOR UPDATE SKIP LOCKED`: replicas running it at once share the work, and a conversation an agent or
the intake holds right now is left for the next round). Each gets a RESOLVED event without actor ("sin mensajes en
24 h"), and the rating question when its point asks for ratings; the delivery worker is told once the batch
commits. The database going away ends the round with one warning line; the next round tries again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from advanced_alchemy.types import DateTimeUTC
from sqlalchemy import Select, func, literal, select

from ventanilla.db.models import Conversation, ConversationStatus, ServicePoint
from ventanilla.db.session import SessionFactory
from ventanilla.inbox.writer import ConversationWriter
from ventanilla.lifecycle.csat import ask
from ventanilla.live.events import ConversationUpdated, after_commit
from ventanilla.periodic import Periodic, Schedule

logger = logging.getLogger(__name__)


def _log(resolved: int) -> None:
    if resolved:
        logger.info("auto-resolve: %d idle conversations resolved", resolved)


HOUR = timedelta(hours=1)


@dataclass(frozen=True)
class AutoResolvePolicy:
    first_run_seconds: float = 30.0  # after start: let the service settle first
    every_seconds: float = 60.0
    batch: int = 200  # conversations per transaction


class AutoResolver:
    def __init__(
        self, sessions: SessionFactory, queued: Callable[[], None], policy: AutoResolvePolicy | None = None
    ) -> None:
        self.sessions = sessions
        self.queued = queued  # tells the delivery worker a rating question is waiting
        self.policy = policy or AutoResolvePolicy()
        schedule = Schedule(self.policy.first_run_seconds, self.policy.every_seconds, self.policy.every_seconds)
        self._periodic = Periodic("auto-resolve", self.run_once, schedule, logger, _log)

    def start(self) -> None:
        self._periodic.start()

    async def stop(self) -> None:
        """A round cut short here resumes next time: each batch is whole."""
        await self._periodic.stop()

    async def run_once(self, now: datetime | None = None) -> int:
        """Resolve every conversation idle past its point's hours, batch by batch; returns how many."""
        now = now or datetime.now(UTC)
        total = 0
        while True:
            async with self.sessions() as session, session.begin():
                rows = (await session.execute(_idle(now, self.policy.batch))).all()
                writer = ConversationWriter(session)
                asked = False
                for conversation, hours, csat_enabled in rows:
                    writer.change(
                        conversation,
                        actor_id=None,
                        status=ConversationStatus.RESOLVED,
                        reason=f"sin mensajes en {hours} h",
                        now=now,
                    )
                    if csat_enabled:
                        ask(session, conversation, now)
                        asked = True
                    else:
                        conversation.csat_requested_at = None  # one asked at an earlier resolution is not this one's
                    after_commit(
                        session,
                        ConversationUpdated(
                            service_point_id=conversation.service_point_id,
                            conversation_id=conversation.id,
                            status=conversation.status,
                            assigned_to_user_id=conversation.assigned_to_user_id,
                        ),
                    )
            if asked:
                self.queued()
            total += len(rows)
            if len(rows) < self.policy.batch:
                return total


def _idle(now: datetime, batch: int) -> Select[tuple[Conversation, int, bool]]:
    """HUMAN conversations idle past their point's hours, oldest first. The shortest hours of any point bound the
    walk of `ix_conversation_human_idle`; each point's own hours filter what it finds."""
    shortest = select(func.min(ServicePoint.auto_resolve_hours)).scalar_subquery()
    at = literal(now, DateTimeUTC(timezone=True))
    return (
        select(Conversation, ServicePoint.auto_resolve_hours, ServicePoint.csat_enabled)
        .join(ServicePoint, ServicePoint.id == Conversation.service_point_id)
        .where(
            Conversation.status == ConversationStatus.HUMAN,
            Conversation.last_message_at < at - shortest * HOUR,
            Conversation.last_message_at < at - ServicePoint.auto_resolve_hours * HOUR,
        )
        .order_by(Conversation.last_message_at)
        .limit(batch)
        .with_for_update(of=Conversation, skip_locked=True)
    )

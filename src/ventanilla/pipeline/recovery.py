"""Recovery: nothing stored is left unanswered, nothing journaled is left on disk.

- Resume: every stored inbound message not yet handled (a crash, a failed turn) goes back to its lane, oldest
  first: at start-up, then by a sweep for those older than `stale_seconds`, and at once for a point this replica
  has just taken over from another. With several replicas, each resumes only the points it owns (`owned`): the
  decision is applied once anyway (`handled_at`), but the model would be asked twice.
- Replay: the journal's messages (kept on disk while the database was away) are stored in order as soon as the
  database answers again, and at start-up before anything else; each is then handled like a new arrival.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID

from sqlalchemy import select

from ventanilla.db.errors import describe, is_unavailable
from ventanilla.db.models import Direction, Message
from ventanilla.db.session import SessionFactory
from ventanilla.pipeline.intake import Arrival, DatabaseUnavailable, Intake
from ventanilla.pipeline.journal import Journal

logger = logging.getLogger(__name__)
REPLAY_CHUNK = 500  # journaled messages stored together (one transaction when the database is well)

Resubmit = Callable[[UUID, UUID, UUID], bool]  # (point, conversation, message) -> queued now
Arrived = Callable[[UUID, Arrival], None]


@dataclass(frozen=True)
class RecoveryPolicy:
    sweep_seconds: float = 30.0  # how often stored-but-unhandled messages are looked for
    stale_seconds: float = 30.0  # how old such a message must be before the sweep takes it again
    replay_seconds: float = 1.0  # how often the journal is tried while it holds messages


class Recovery:
    def __init__(
        self,
        sessions: SessionFactory,
        intake: Intake,
        journal: Journal,
        resubmit: Resubmit,
        arrived: Arrived,
        policy: RecoveryPolicy,
        owned: Callable[[], Collection[UUID]] | None = None,
    ) -> None:
        self.sessions = sessions
        self.intake = intake
        self.journal = journal
        self.resubmit = resubmit
        self.arrived = arrived
        self.policy = policy
        self.owned = owned  # the points whose messages this replica answers (None: every point)
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        await self._replay_if_needed()
        await self.resume(older_than=None)
        self._tasks = [
            asyncio.create_task(self._every(self.policy.sweep_seconds, self._sweep), name="pipeline-sweep"),
            asyncio.create_task(self._every(self.policy.replay_seconds, self._replay_if_needed), name="journal"),
        ]

    def stop(self) -> None:
        for task in self._tasks:
            task.cancel()

    async def resume(self, older_than: timedelta | None, points: Collection[UUID] | None = None) -> int:
        """Queue every stored, unhandled inbound message (oldest first) that is not already queued, of `points`
        (default: the points we own)."""
        if points is None and self.owned is not None:
            points = self.owned()
        if points is not None and not points:
            return 0
        statement = (
            select(Message.service_point_id, Message.conversation_id, Message.id)
            .where(Message.direction == Direction.IN, Message.handled_at.is_(None))
            .order_by(Message.timestamp, Message.id)
        )
        if older_than is not None:
            statement = statement.where(Message.created_at < datetime.now(UTC) - older_than)
        if points is not None:
            statement = statement.where(Message.service_point_id.in_(list(points)))
        async with self.sessions() as session:
            rows = (await session.execute(statement)).all()
        resumed = sum(self.resubmit(point, conversation, message) for point, conversation, message in rows)
        if resumed:
            logger.info("resumed %d stored messages that were not answered yet", resumed)
        return resumed

    async def replay(self) -> int:
        """Store the journal's messages in order; stops (keeping the rest on disk) if the database goes away."""
        replayed = 0
        for segment in await self.journal.seal():
            entries = list(self.journal.read(segment))
            for start in range(0, len(entries), REPLAY_CHUNK):
                chunk = entries[start : start + REPLAY_CHUNK]
                arrivals = await asyncio.gather(
                    *(self.intake.store(entry.point, entry.message(), replaying=True) for entry in chunk),
                    return_exceptions=True,
                )
                for entry, arrival in zip(chunk, arrivals, strict=True):
                    if isinstance(arrival, Arrival):
                        self.arrived(entry.point, arrival)
                failed = next((a for a in arrivals if isinstance(a, BaseException)), None)
                if failed is not None:
                    raise failed
            await self.journal.forget(segment, len(entries))
            replayed += len(entries)
            logger.info("journal: %d messages stored from %s", len(entries), segment.name)
        return replayed

    async def _replay_if_needed(self) -> None:
        if self.journal.active:
            try:
                await self.replay()
            except DatabaseUnavailable as exc:
                logger.info("journal replay waits for the database (%s)", exc)

    async def _sweep(self) -> None:
        await self.resume(older_than=timedelta(seconds=self.policy.stale_seconds))

    @staticmethod
    async def _every(seconds: float, step: Callable[[], Awaitable[object]]) -> None:
        while True:
            await asyncio.sleep(seconds)
            try:
                await step()
            except Exception as exc:
                name = getattr(step, "__name__", "step").strip("_")
                if is_unavailable(exc):
                    logger.warning("%s waits for the database (%s)", name, describe(exc))
                else:
                    logger.exception("%s failed; trying again in %.1f s", name, seconds)

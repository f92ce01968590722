"""Retention: files older than MEDIA_RETENTION_DAYS are deleted; their messages stay, showing "media expired".

Once a day (the first run shortly after start), READY media created before the cutoff become EXPIRED, a batch per
transaction (`FOR UPDATE SKIP LOCKED`: replicas running it at once share the work instead of waiting). Only the
row's `source` is cleared; type, name, size and SHA-256 stay. Files are shared by content, so a file is deleted only
when no media row that is not EXPIRED still names its SHA-256, and not if it was stored again within
`fresh_file_seconds` (a row about to name it may not be committed yet; see `MediaStorage.put`).

Running it again changes nothing. Files are deleted after their batch commits: a crash in between leaves them on the
disk (space, never a READY row without its file). The database going away ends the run with one warning line; the
next try comes after `retry_seconds`. No live event is published: nobody is looking at months-old messages, and a
first run on a large install would flood every open inbox.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import String, text

from ventanilla.db.session import SessionFactory
from ventanilla.media.storage import MediaStorage
from ventanilla.metrics import Metrics
from ventanilla.periodic import Periodic, Schedule

logger = logging.getLogger(__name__)

_EXPIRE = text(
    """
    UPDATE media SET status = 'EXPIRED', source = NULL, updated_at = :now
    WHERE id IN (
        SELECT id FROM media WHERE status = 'READY' AND created_at < :cutoff
        ORDER BY created_at LIMIT :batch FOR UPDATE SKIP LOCKED
    )
    RETURNING sha256
    """
).columns(sha256=String())
_STILL_USED = text(
    "SELECT DISTINCT sha256 FROM media WHERE sha256 = ANY(CAST(:shas AS text[])) AND status <> 'EXPIRED'"
).columns(sha256=String())


@dataclass(frozen=True)
class RetentionPolicy:
    first_run_seconds: float = 120.0  # after start: let the service settle first
    every_seconds: float = 24 * 3600.0
    retry_seconds: float = 600.0  # after a run the database cut short
    batch: int = 500  # rows per transaction
    fresh_file_seconds: float = 3600.0  # a file stored again this recently is kept (its new row may be on its way)


@dataclass(frozen=True, slots=True)
class RetentionReport:
    expired: int
    files_deleted: int


class MediaRetention:
    def __init__(
        self,
        sessions: SessionFactory,
        storage: MediaStorage,
        metrics: Metrics,
        days: int,
        policy: RetentionPolicy | None = None,
    ) -> None:
        self.sessions = sessions
        self.storage = storage
        self.metrics = metrics
        self.days = days
        self.policy = policy or RetentionPolicy()
        schedule = Schedule(self.policy.first_run_seconds, self.policy.every_seconds, self.policy.retry_seconds)
        self._periodic = Periodic("media retention", self.run_once, schedule, logger, self._log)

    def start(self) -> None:
        self._periodic.start()

    async def stop(self) -> None:
        """A run cut short here resumes next time: each batch is whole, and files of unfinished ones stay."""
        await self._periodic.stop()

    def _log(self, report: RetentionReport) -> None:
        if report.expired:
            logger.info(
                "media retention: %d files older than %d days expired, %d deleted from disk",
                report.expired,
                self.days,
                report.files_deleted,
            )

    async def run_once(self, now: datetime | None = None) -> RetentionReport:
        """Expire what is older than the retention, batch by batch, deleting the files nobody uses any more."""
        now = now or datetime.now(UTC)
        cutoff = now - timedelta(days=self.days)
        expired = deleted = 0
        while True:
            async with self.sessions() as session, session.begin():
                batch = list(await session.scalars(_EXPIRE, {"now": now, "cutoff": cutoff, "batch": self.policy.batch}))
                candidates = sorted({sha for sha in batch if sha})
                used = set(await session.scalars(_STILL_USED, {"shas": candidates})) if candidates else set()
            removed = await asyncio.to_thread(self._delete, [sha for sha in candidates if sha not in used])
            self.metrics.media_expired(len(batch), removed)
            expired += len(batch)
            deleted += removed
            if len(batch) < self.policy.batch:
                return RetentionReport(expired, deleted)

    def _delete(self, shas: list[str]) -> int:
        removed = 0
        for sha in shas:
            try:
                removed += self.storage.delete_unless_fresh(sha, self.policy.fresh_file_seconds)
            except OSError as exc:  # one unreadable file must not stop the others
                logger.warning("media retention: a file could not be deleted (%s)", type(exc).__name__)
        return removed

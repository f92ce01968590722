"""The downloader: fetches the files customers sent (PENDING media) through their own point's socket, and stores them.

Which rows. Only points whose socket is up here are read (with several replicas, a point's files are fetched by
the replica that owns its socket), each on its own: per point, the due PENDING rows oldest first, up to
`per_point` downloads in flight; all points together up to `concurrency`, handed out round-robin from a rotating
start, so one branch flooding photos fills its own slots and never delays another branch's one photo.

Claims. A row is claimed by pushing its `next_attempt_at` forward by `lease_seconds` in the same statement that
checks it is still due (`UPDATE ... WHERE next_attempt_at <= now`): a row is never fetched twice at once, here or
by another replica, and a claim a crash left behind is taken again once its lease runs out. No database connection
is held while downloading or writing the file.

Outcomes, recorded together `WHERE still PENDING` (once, whatever happens):
- READY: the bytes went through `MediaStorage.put` (a thread), the sniffed type replaces the declared one, size
  and SHA-256 are kept and `source` is cleared;
- retry with capped exponential backoff after a transient failure (network, timeout, storage), counted;
- waiting: the point's socket went down (NotConnectedError); looked at again later, not counted as an attempt;
- FAILED with a short reason after `max_attempts`, or at once when WhatsApp says the file can never be fetched
  (expired, gone, too large); an agent may retry it from the inbox.
After each commit: `MessageUpdated` is published (the inbox refetches), `ventanilla_media_downloads_total` counted,
and `settled` is called for the customer's photos and voice notes whose bot turn waits for them.

Wake-ups: `notify()` when a message with a file is stored, and a sweep every `sweep_seconds` (retries, restarts,
points that connect). The database going away never stops the worker: one warning line, and it tries again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol
from uuid import UUID

from sqlalchemy import DateTime, String, Uuid, text

from ventanilla.db.errors import describe, is_unavailable
from ventanilla.db.models import Direction
from ventanilla.db.session import SessionFactory
from ventanilla.draining import drain
from ventanilla.live.events import MessageUpdated, after_commit
from ventanilla.media.storage import MediaStorage, StoredFile
from ventanilla.metrics import Metrics
from ventanilla.pipeline.intake import AWAITED
from ventanilla.whatsapp.manager import NotConnectedError
from ventanilla.whatsapp.transport import MediaRef, TransportError

logger = logging.getLogger(__name__)

# Each listed point's due PENDING rows, oldest first, at most its room. 'PENDING' is a literal so that even a
# generic prepared plan can use the partial indexes on PENDING media.
_DUE = text(
    """
    SELECT cursor.point_id, m.id
    FROM unnest(CAST(:points AS uuid[]), CAST(:room AS int[])) AS cursor (point_id, room)
    CROSS JOIN LATERAL (
        SELECT id, next_attempt_at FROM media
        WHERE service_point_id = cursor.point_id AND status = 'PENDING' AND next_attempt_at <= :now
        ORDER BY next_attempt_at, id
        LIMIT cursor.room
    ) AS m
    ORDER BY cursor.point_id, m.next_attempt_at, m.id
    """
).columns(point_id=Uuid(), id=Uuid())
# The lease: a row is ours only if it was still due when this statement reached it.
_CLAIM = text(
    """
    UPDATE media SET next_attempt_at = :lease
    FROM message
    WHERE media.id = ANY(CAST(:ids AS uuid[])) AND media.status = 'PENDING' AND media.next_attempt_at <= :now
        AND message.id = media.message_id
    RETURNING media.id, media.service_point_id, media.message_id, message.conversation_id, media.source,
        media.mime_type, media.file_name, media.size, media.voice, media.attempts
    """
)
_SETTLED_COLUMNS = {
    "id": Uuid(),
    "service_point_id": Uuid(),
    "message_id": Uuid(),
    "conversation_id": Uuid(),
    "direction": String(),
    "type": String(),
    "handled_at": DateTime(timezone=True),
}
_READY = text(
    """
    UPDATE media SET status = 'READY', mime_type = o.mime_type, size = o.size, sha256 = o.sha256, source = NULL,
        error = NULL, next_attempt_at = NULL, attempts = o.attempts, updated_at = :now
    FROM unnest(CAST(:ids AS uuid[]), CAST(:mimes AS text[]), CAST(:sizes AS bigint[]), CAST(:shas AS text[]),
            CAST(:attempts AS int[])) AS o (id, mime_type, size, sha256, attempts),
        message
    WHERE media.id = o.id AND media.status = 'PENDING' AND message.id = media.message_id
    RETURNING media.id, media.service_point_id, message.id AS message_id, message.conversation_id,
        message.direction, message.type, message.handled_at
    """
).columns(**_SETTLED_COLUMNS)
_FAILED = text(
    """
    UPDATE media SET status = 'FAILED', error = o.error, next_attempt_at = NULL, attempts = o.attempts,
        updated_at = :now
    FROM unnest(CAST(:ids AS uuid[]), CAST(:errors AS text[]), CAST(:attempts AS int[])) AS o (id, error, attempts),
        message
    WHERE media.id = o.id AND media.status = 'PENDING' AND message.id = media.message_id
    RETURNING media.id, media.service_point_id, message.id AS message_id, message.conversation_id,
        message.direction, message.type, message.handled_at
    """
).columns(**_SETTLED_COLUMNS)
_LATER = text(
    """
    UPDATE media SET attempts = o.attempts, error = o.error, next_attempt_at = o.at
    FROM unnest(CAST(:ids AS uuid[]), CAST(:attempts AS int[]), CAST(:errors AS text[]), CAST(:ats AS timestamptz[]))
        AS o (id, attempts, error, at)
    WHERE media.id = o.id AND media.status = 'PENDING'
    """
)
_RELEASE = text("UPDATE media SET next_attempt_at = :now WHERE id = ANY(CAST(:ids AS uuid[])) AND status = 'PENDING'")
MAX_REASON_CHARS = 200


class MediaSource(Protocol):
    """The sockets, as the downloader needs them (`whatsapp.manager.SessionManager`)."""

    def connected_points(self) -> Collection[UUID]: ...

    async def download(self, point_id: UUID, media: MediaRef, max_bytes: int) -> bytes: ...


Settled = Callable[[UUID, UUID, UUID], None]  # (point, conversation, message): its file is READY or FAILED


@dataclass(frozen=True)
class DownloadPolicy:
    concurrency: int = 16  # downloads at once, all points together
    per_point: int = 4  # downloads at once for one point: a flood fills these and no one else's
    max_attempts: int = 5  # transient failures before FAILED (a socket that is down does not count)
    retry_base_seconds: float = 10.0
    retry_max_seconds: float = 600.0
    waiting_seconds: float = 15.0  # the point's socket was down: look again after this
    sweep_seconds: float = 5.0  # how often due rows (retries, restarts, points back online) are looked for
    timeout_seconds: float = 120.0  # one download; a slower one is a failed attempt
    lease_seconds: float = 300.0  # a claimed row is not taken again for this long (> timeout + storing + recording)
    drain_seconds: float = 5.0  # graceful shutdown: how long downloads in flight may finish


@dataclass(frozen=True, slots=True)
class _Job:
    id: UUID
    point_id: UUID
    message_id: UUID
    conversation_id: UUID
    ref: MediaRef
    attempts: int


@dataclass(frozen=True, slots=True)
class _Outcome:
    job: _Job
    stored: StoredFile | None = None
    data: bytes | None = None  # kept until recorded: written again if retention removed it meanwhile
    error: str | None = None
    permanent: bool = False
    offline: bool = False


class MediaDownloader:
    def __init__(
        self,
        sessions: SessionFactory,
        source: MediaSource,
        storage: MediaStorage,
        metrics: Metrics,
        *,
        max_bytes: int,
        settled: Settled | None = None,
        policy: DownloadPolicy | None = None,
    ) -> None:
        self.sessions = sessions
        self.source = source
        self.storage = storage
        self.metrics = metrics
        self.max_bytes = max_bytes
        self.settled = settled
        self.policy = policy or DownloadPolicy()
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._jobs: dict[UUID, _Job] = {}  # claimed and not yet recorded (in flight, or finished)
        self._finished: list[_Outcome] = []
        self._downloads: set[asyncio.Task[None]] = set()
        self._turn = 0  # where the round-robin over points starts this time
        self._away = False  # the database is unavailable (warned once)

    def notify(self) -> None:
        """A message with a file was stored: look now instead of at the next sweep."""
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="media-downloader")

    async def stop(self) -> None:
        """Stop claiming; downloads in flight get `drain_seconds`, then what finished is recorded and the rest
        released (due again at once, for whichever replica runs next)."""
        if self._task is None:
            return
        self._stopping = True
        self._wake.set()
        await drain(self._task, self._downloads, self.policy.drain_seconds)
        try:
            await self._record_finished()
            abandoned = list(self._jobs)  # cancelled downloads: their claims are released, not left to expire
            if abandoned:
                async with self.sessions() as session, session.begin():
                    await session.execute(_RELEASE, {"ids": abandoned, "now": datetime.now(UTC)})
        except Exception as exc:
            logger.warning("media downloads not recorded at shutdown (%s); fetched again later", describe(exc))

    async def _run(self) -> None:
        while not self._stopping:
            self._wake.clear()  # a download ending or a file stored from here on wakes the wait below
            try:
                await self._record_finished()
                await self._fill()
            except Exception as exc:
                if not is_unavailable(exc):
                    logger.exception("media download step failed; retrying shortly")
                elif not self._away:
                    self._away = True
                    logger.warning("media downloads wait for the database (%s)", describe(exc))
            else:
                if self._away:
                    self._away = False
                    logger.info("media downloads resumed: the database answers again")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.policy.sweep_seconds)

    async def _fill(self) -> None:
        """Claim due rows of the connected points with free slots, round-robin, and start their downloads."""
        if self._stopping:
            return
        policy = self.policy
        free = policy.concurrency - len(self._jobs)
        if free <= 0:
            return
        busy = Counter(job.point_id for job in self._jobs.values())
        room = {p: policy.per_point - busy[p] for p in self.source.connected_points() if busy[p] < policy.per_point}
        if not room:
            return
        now = datetime.now(UTC)
        async with self.sessions() as session, session.begin():
            due: dict[UUID, list[UUID]] = {}
            rows = await session.execute(_DUE, {"points": list(room), "room": list(room.values()), "now": now})
            for point_id, media_id in rows:
                due.setdefault(point_id, []).append(media_id)
            chosen = self._round_robin(due, free)
            if not chosen:
                return
            lease = now + timedelta(seconds=policy.lease_seconds)
            claimed = (await session.execute(_CLAIM, {"ids": chosen, "now": now, "lease": lease})).all()
        for row in claimed:
            if row.source is None:  # nothing to fetch it with: recorded as FAILED with the others
                job = _Job(row.id, row.service_point_id, row.message_id, row.conversation_id, MediaRef(b""), 0)
                self._jobs[job.id] = job
                self._finished.append(_Outcome(job, error="sin referencia para descargarlo", permanent=True))
                self._wake.set()
                continue
            ref = MediaRef(bytes(row.source), row.mime_type, row.file_name, row.size, row.voice)
            job = _Job(row.id, row.service_point_id, row.message_id, row.conversation_id, ref, row.attempts)
            self._jobs[job.id] = job
            task = asyncio.create_task(self._download(job), name=f"media-{job.id}")
            self._downloads.add(task)
            task.add_done_callback(self._downloads.discard)

    def _round_robin(self, due: dict[UUID, list[UUID]], free: int) -> list[UUID]:
        """Up to `free` rows, one per point in turn, starting from a different point each time."""
        points = sorted(due)
        if not points:
            return []
        start = self._turn % len(points)
        self._turn += 1
        queues = [list(reversed(due[p])) for p in points[start:] + points[:start]]
        chosen: list[UUID] = []
        while len(chosen) < free and any(queues):
            for queue in queues:
                if queue and len(chosen) < free:
                    chosen.append(queue.pop())
        return chosen

    async def _download(self, job: _Job) -> None:
        try:
            async with asyncio.timeout(self.policy.timeout_seconds):
                data = await self.source.download(job.point_id, job.ref, self.max_bytes)
            if len(data) > self.max_bytes:
                outcome = _Outcome(job, error=f"el archivo supera {self.max_bytes} bytes", permanent=True)
            elif not data:
                outcome = _Outcome(job, error="WhatsApp entregó un archivo vacío", permanent=True)
            else:
                stored = await asyncio.to_thread(self.storage.put, data)
                outcome = _Outcome(job, stored=stored, data=data)
        except NotConnectedError:
            outcome = _Outcome(job, offline=True)
        except TimeoutError:
            outcome = _Outcome(job, error=f"WhatsApp no entregó el archivo en {self.policy.timeout_seconds:g} s")
        except TransportError as exc:
            outcome = _Outcome(job, error=_reason(exc), permanent=exc.permanent)
        except OSError as exc:
            logger.warning("media %s: could not be stored (%s)", job.id, type(exc).__name__)
            outcome = _Outcome(job, error="no se pudo guardar el archivo en el servidor")
        except Exception as exc:  # the transport may raise anything: a failed attempt, never a crash
            logger.warning("media %s: unexpected download error %s", job.id, type(exc).__name__, exc_info=True)
            outcome = _Outcome(job, error=f"error inesperado ({type(exc).__name__})")
        self._finished.append(outcome)
        self._wake.set()

    async def _record_finished(self) -> None:
        """Record the downloads that ended, in one transaction; then publish, count and hand messages back."""
        results = list(self._finished)
        if not results:
            return
        policy = self.policy
        now = datetime.now(UTC)
        ready = [o for o in results if o.stored is not None]
        failed: list[tuple[_Outcome, int]] = []
        later: list[tuple[_Outcome, int, datetime, str]] = []
        labels: dict[UUID, str] = {}
        for outcome in results:
            job = outcome.job
            if outcome.stored is not None:
                labels[job.id] = "ready"
            elif outcome.offline:
                labels[job.id] = "waiting"
                later.append((outcome, job.attempts, now + timedelta(seconds=policy.waiting_seconds), ""))
            elif outcome.permanent or job.attempts + 1 >= policy.max_attempts:
                labels[job.id] = "failed"
                failed.append((outcome, job.attempts + 1))
            else:
                labels[job.id] = "retry"
                wait = min(policy.retry_max_seconds, policy.retry_base_seconds * 2**job.attempts)
                later.append((outcome, job.attempts + 1, now + timedelta(seconds=wait), outcome.error or ""))
        settled_rows: list[Any] = []
        async with self.sessions() as session, session.begin():
            if ready:
                stored = [o.stored for o in ready if o.stored is not None]
                settled_rows += await session.execute(
                    _READY,
                    {
                        "ids": [o.job.id for o in ready],
                        "mimes": [s.mime_type for s in stored],
                        "sizes": [s.size for s in stored],
                        "shas": [s.sha256 for s in stored],
                        "attempts": [o.job.attempts + 1 for o in ready],
                        "now": now,
                    },
                )
            if failed:
                settled_rows += await session.execute(
                    _FAILED,
                    {
                        "ids": [o.job.id for o, _ in failed],
                        "errors": [o.error or "no se pudo descargar" for o, _ in failed],
                        "attempts": [n for _, n in failed],
                        "now": now,
                    },
                )
            if later:
                await session.execute(
                    _LATER,
                    {
                        "ids": [o.job.id for o, _, _, _ in later],
                        "attempts": [n for _, n, _, _ in later],
                        "errors": [error or None for _, _, _, error in later],
                        "ats": [at for _, _, at, _ in later],
                    },
                )
            after_commit(
                session,
                *(
                    MessageUpdated(
                        service_point_id=row.service_point_id,
                        conversation_id=row.conversation_id,
                        message_id=row.message_id,
                    )
                    for row in settled_rows
                ),
            )
        del self._finished[: len(results)]  # downloads that ended meanwhile stay for the next step
        for outcome in results:
            self._jobs.pop(outcome.job.id, None)
            self.metrics.media_download(outcome.job.point_id, labels[outcome.job.id])
        if ready:
            await asyncio.to_thread(self._keep, ready)
        if self.settled is not None:
            for row in settled_rows:
                if row.direction == Direction.IN.value and row.type in AWAITED and row.handled_at is None:
                    self.settled(row.service_point_id, row.conversation_id, row.message_id)

    def _keep(self, ready: list[_Outcome]) -> None:
        """Retention may have removed a shared file between `put` and the READY commit: write it again."""
        for outcome in ready:
            stored, data = outcome.stored, outcome.data
            if stored is not None and data is not None and not self.storage.exists(stored.sha256):
                self.storage.put(data)


def _reason(error: TransportError) -> str:
    """For the agent (the inbox shows it with the retry button): the transport's own words, first line, short."""
    lines = str(error).strip().splitlines()
    return (lines[0] if lines else type(error).__name__)[:MAX_REASON_CHARS]

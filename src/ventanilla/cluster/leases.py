"""Which replica owns each point's socket: leases in PostgreSQL, renewed by a heartbeat, fenced by an epoch.

Every replica writes its heartbeat to `replica` and renews the leases it holds (`point_lease`) every
`heartbeat_seconds`; a lease lasts `lease_seconds`. A point whose lease expired (its owner died or froze) is free,
and so is a point nobody ever held (a new branch). Each beat, a replica claims free points up to its fair share
(points / live replicas, rounded up) and hands over what it holds beyond that share plus `slack_points` (a replica
that joined gets work; a one-point imbalance does not make points move back and forth). A clean shutdown hands
every point over at once and says so by NOTIFY, so the others claim them on the spot instead of at their next beat.

Fencing. Every claim gives the point a new `epoch`; the writes only the owner may make name theirs (the session's
status in `SessionManager._set`), so a frozen old owner that wakes up changes nothing. Locally, a lease counts only
until `lease_seconds` after the start of the last renewal that succeeded (monotonic clock, which keeps running while
the process is stopped): a replica that was paused past its lease stops sending at once, before it even learns from
the database that its points are gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol
from uuid import UUID

from sqlalchemy import text

from ventanilla.db.errors import describe, is_unavailable
from ventanilla.db.session import SessionFactory

logger = logging.getLogger(__name__)
CLUSTER_CHANNEL = "ventanilla_cluster"  # NOTIFY payloads: "joined:<id>", "released:<id>"


@dataclass(frozen=True)
class LeasePolicy:
    heartbeat_seconds: float = 5.0
    lease_seconds: float = 15.0  # a dead replica's points are free this long after its last beat
    slack_points: int = 1  # points a replica may hold beyond its fair share before handing some over
    forget_replicas_after_seconds: float = 3600.0  # dead replicas stay listed in /api/cluster this long
    forget_commands_after_seconds: float = 3600.0  # answered commands are kept this long (for investigation)


class Owner(Protocol):
    """What the session manager does as points come and go."""

    def acquired(self, point_id: UUID, epoch: int) -> None:
        """The point is ours from now on (start its socket if it is linked). Must not block."""

    async def lost(self, point_id: UUID) -> None:
        """The point is no longer ours: close its socket without writing anything about it."""


_REGISTER = text(
    """
    INSERT INTO replica (id, started_at, last_seen_at, draining) VALUES (:me, :started, now(), :draining)
    ON CONFLICT (id) DO UPDATE SET last_seen_at = now(), draining = excluded.draining,
        started_at = excluded.started_at
    """
)
_RENEW = text(
    "UPDATE point_lease SET expires_at = now() + make_interval(secs => :ttl) WHERE replica_id = :me "
    "RETURNING service_point_id, epoch"
)
_ADOPT = text(
    """
    UPDATE point_lease SET epoch = epoch + 1, acquired_at = now(), expires_at = now() + make_interval(secs => :ttl),
        qr_code = NULL, qr_expires_at = NULL
    WHERE replica_id = :me AND service_point_id = ANY(CAST(:points AS uuid[]))
    RETURNING service_point_id, epoch
    """
)
_SIZES = text(
    """
    SELECT (SELECT count(*) FROM replica
            WHERE last_seen_at > now() - make_interval(secs => :ttl) AND NOT draining) AS live,
           (SELECT count(*) FROM service_point) AS points
    """
)
# Free points (never leased, or expired), in random order so that replicas claiming together rarely collide; the
# conflict clause takes an existing row only while it is still expired (another replica may have just claimed it).
# A point its previous owner left CONNECTED reads CONNECTING from the claim on: the new owner has no socket yet.
_CLAIM = text(
    """
    WITH free AS (
        SELECT sp.id FROM service_point AS sp LEFT JOIN point_lease AS l ON l.service_point_id = sp.id
        WHERE (l.service_point_id IS NULL OR l.expires_at < now())
            AND (CAST(:only AS uuid) IS NULL OR sp.id = CAST(:only AS uuid))
        ORDER BY random() LIMIT :n
    ), claimed AS (
    INSERT INTO point_lease AS l (service_point_id, replica_id, epoch, acquired_at, expires_at)
    SELECT id, :me, 1, now(), now() + make_interval(secs => :ttl) FROM free
    ON CONFLICT (service_point_id) DO UPDATE
        SET replica_id = excluded.replica_id, epoch = l.epoch + 1, acquired_at = now(),
            expires_at = excluded.expires_at, qr_code = NULL, qr_expires_at = NULL
        WHERE l.expires_at < now()
    RETURNING service_point_id, epoch
    ), marked AS (
        UPDATE service_point AS sp SET whatsapp_status = 'CONNECTING' FROM claimed
        WHERE sp.id = claimed.service_point_id AND sp.whatsapp_status = 'CONNECTED'
    )
    SELECT service_point_id, epoch FROM claimed
    """
)
_RELEASE = text(
    """
    DELETE FROM point_lease AS l USING unnest(CAST(:points AS uuid[]), CAST(:epochs AS bigint[])) AS mine (point, epoch)
    WHERE l.service_point_id = mine.point AND l.epoch = mine.epoch AND l.replica_id = :me
    """
)
_CLEAN_UP = (
    text("DELETE FROM replica WHERE last_seen_at < now() - make_interval(secs => :replicas)"),
    text("DELETE FROM point_command WHERE created_at < now() - make_interval(secs => :commands)"),
)


class PointLeases:
    def __init__(
        self,
        sessions: SessionFactory,
        replica_id: str,
        policy: LeasePolicy | None = None,
        notify: Callable[[str, str], None] | None = None,
    ) -> None:
        self.sessions = sessions
        self.replica_id = replica_id
        self.policy = policy or LeasePolicy()
        self.started_at = datetime.now(UTC)
        self.draining = False
        self._notify = notify  # NotifyHub.notify when the replicas talk (None: nobody to tell)
        self._owner: Owner | None = None
        self._watchers: list[Callable[[UUID], None]] = []  # told of every point we gain (after the owner)
        self._held: dict[UUID, int] = {}  # point -> epoch of our claim
        self._valid_until = 0.0  # monotonic: our leases count until then
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._beats = 0
        self._live_replicas = 1  # as counted at the last beat

    def bind(self, owner: Owner) -> None:
        self._owner = owner

    def watch(self, gained: Callable[[UUID], None]) -> None:
        """Also tell `gained` of every point that becomes ours (the pipeline resumes what it left unanswered)."""
        self._watchers.append(gained)

    # --- what others ask -----------------------------------------------------------------------------------

    def holds(self, point_id: UUID) -> bool:
        """Ours, and still within the lease we last renewed: only then may we send or write for the point."""
        return point_id in self._held and time.monotonic() < self._valid_until

    def epoch(self, point_id: UUID) -> int | None:
        return self._held.get(point_id)

    def held(self) -> list[UUID]:
        return list(self._held)

    def has_peers(self) -> bool:
        """Another replica was alive at our last beat (a new one says so at once: "joined" wakes our beat)."""
        return self._live_replicas > 1

    def wake(self) -> None:
        """Beat now (another replica joined or handed points over)."""
        self._wake.set()

    # --- lifecycle -----------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Register, take back what we held before a restart, claim our share; then beat in the background."""
        try:
            await self.beat()
        except Exception as exc:
            if not is_unavailable(exc):
                raise
            logger.warning("leases wait for the database (%s)", describe(exc))
        self._say("joined")
        self._task = asyncio.create_task(self._run(), name="point-leases")

    async def stop(self) -> None:
        """Hand every point over (sockets closed first), say so, and leave the list of replicas."""
        self.draining = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        async with self._lock:
            points = dict(self._held)
            await self._lose(list(points))
            try:
                async with self.sessions() as session, session.begin():
                    await self._release_rows(session, points)
                    await session.execute(text("DELETE FROM replica WHERE id = :me"), {"me": self.replica_id})
            except Exception as exc:
                logger.warning("could not hand points over (%s); they are free when the leases expire", describe(exc))
                return
        self._say("released")
        logger.info("replica %s: handed over %d points", self.replica_id, len(points))

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.policy.heartbeat_seconds)
            self._wake.clear()
            try:
                await self.beat()
            except Exception as exc:
                if is_unavailable(exc):
                    logger.warning("leases wait for the database (%s)", describe(exc))
                else:
                    logger.exception("lease beat failed; trying again shortly")

    # --- the beat ------------------------------------------------------------------------------------------

    async def beat(self) -> None:
        """One heartbeat: say we live, renew, notice losses, then claim or hand over to reach our fair share."""
        async with self._lock:
            ttl = self.policy.lease_seconds
            started = time.monotonic()
            async with self.sessions() as session, session.begin():
                me = {"me": self.replica_id, "ttl": ttl}
                await session.execute(_REGISTER, {**me, "started": self.started_at, "draining": self.draining})
                renewed = {row.service_point_id: row.epoch for row in await session.execute(_RENEW, me)}
                lost = [p for p, epoch in self._held.items() if renewed.get(p) != epoch]
                unknown = [p for p in renewed if p not in self._held]  # ours before a restart: take them back
                adopted = (await session.execute(_ADOPT, {**me, "points": unknown})).all() if unknown else []
                sizes = (await session.execute(_SIZES, {"ttl": ttl})).one()
                self._live_replicas = sizes.live
                current = {p: e for p, e in self._held.items() if p not in lost}
                current |= {row.service_point_id: row.epoch for row in adopted}
                share = 0 if self.draining else math.ceil(sizes.points / max(1, sizes.live))
                excess = dict(list(current.items())[share:]) if len(current) > share + self.policy.slack_points else {}
                claimed: list[Any] = []
                if len(current) < share:
                    params = {**me, "n": share - len(current), "only": None}
                    claimed = (await session.execute(_CLAIM, params)).all()
                self._beats += 1
                if self._beats % 12 == 1:
                    limits = {
                        "replicas": self.policy.forget_replicas_after_seconds,
                        "commands": self.policy.forget_commands_after_seconds,
                    }
                    for statement in _CLEAN_UP:
                        await session.execute(statement, limits)
            self._valid_until = self._valid_after(started)
            if lost:
                logger.warning("replica %s: lost %d points to other replicas", self.replica_id, len(lost))
            await self._lose(lost)
            for row in (*adopted, *claimed):
                self._gain(row.service_point_id, row.epoch)
            if excess:
                await self._hand_over(excess)

    async def claim(self, point_id: UUID) -> bool:
        """Claim one free point now (someone asked for its socket and nobody owns it); True when it is ours."""
        if self.draining:
            return False
        async with self._lock:
            if point_id in self._held:
                return True
            started = time.monotonic()
            params = {"me": self.replica_id, "ttl": self.policy.lease_seconds, "n": 1, "only": point_id}
            async with self.sessions() as session, session.begin():
                row = (await session.execute(_CLAIM, params)).one_or_none()
            if row is None:
                return False
            if not self._held:  # our first point: its lease counts from this claim
                self._valid_until = self._valid_after(started)
            self._gain(row.service_point_id, row.epoch)
            return True

    def _valid_after(self, renewed_at: float) -> float:
        """Until when leases renewed at `renewed_at` (monotonic, taken before the statement) count here: a little
        less than their length, for the clocks' sake."""
        ttl = self.policy.lease_seconds
        return renewed_at + ttl - min(1.0, ttl / 10)

    def _gain(self, point_id: UUID, epoch: int) -> None:
        self._held[point_id] = epoch
        if self._owner is not None:
            self._owner.acquired(point_id, epoch)
        for gained in self._watchers:
            gained(point_id)

    async def _lose(self, points: list[UUID]) -> None:
        for point in points:
            self._held.pop(point, None)
        if self._owner is not None and points:
            owner = self._owner
            await asyncio.gather(*(owner.lost(point) for point in points), return_exceptions=True)

    async def _hand_over(self, points: dict[UUID, int]) -> None:
        """Close the sockets first (the next owner must not meet ours), then free the rows, then say so."""
        await self._lose(list(points))
        async with self.sessions() as session, session.begin():
            await self._release_rows(session, points)
        logger.info("replica %s: handed %d points to other replicas", self.replica_id, len(points))
        self._say("released")

    async def _release_rows(self, session: Any, points: dict[UUID, int]) -> None:
        if points:
            params = {"me": self.replica_id, "points": list(points), "epochs": list(points.values())}
            await session.execute(_RELEASE, params)

    def _say(self, what: str) -> None:
        if self._notify is not None:
            with contextlib.suppress(Exception):
                self._notify(CLUSTER_CHANNEL, f"{what}:{self.replica_id}")


def on_cluster_news(leases: PointLeases) -> Callable[[str], None]:
    """The LISTEN callback: another replica joined or handed points over, so beat now rather than later."""

    def heard(payload: str) -> None:
        _, _, sender = payload.partition(":")
        if sender != leases.replica_id:
            leases.wake()

    return heard

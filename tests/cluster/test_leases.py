"""Leases on the real database, several keepers in one process (each a replica): fair shares, one owner per point,
a frozen owner's points taken over under a new epoch, its writes fenced, a clean stop handing points over."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path
from uuid import UUID

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from tests.whatsapp.conftest import eventually
from ventanilla.cluster.leases import LeasePolicy, PointLeases
from ventanilla.db.models import PointLease, ServicePoint, WhatsappStatus
from ventanilla.whatsapp.credentials import CredentialStore
from ventanilla.whatsapp.manager import SessionManager, SessionPolicy
from ventanilla.whatsapp.simulator import SimulatorTransport

SHORT = LeasePolicy(heartbeat_seconds=0.2, lease_seconds=1.0)


class Recorder:
    """An owner that only notes what it is told."""

    def __init__(self) -> None:
        self.gained: list[UUID] = []
        self.taken_away: list[UUID] = []

    def acquired(self, point_id: UUID, epoch: int) -> None:
        self.gained.append(point_id)

    async def lost(self, point_id: UUID) -> None:
        self.taken_away.append(point_id)


async def _points(session: AsyncSession, count: int) -> list[UUID]:
    points = [ServicePoint(name=f"Punto {i}") for i in range(count)]
    session.add_all(points)
    await session.commit()
    return [point.id for point in points]


def _keeper(engine: AsyncEngine, name: str, policy: LeasePolicy = SHORT) -> PointLeases:
    return PointLeases(async_sessionmaker(engine, expire_on_commit=False), name, policy)


async def test_points_are_shared_fairly_and_owned_once(engine: AsyncEngine, session: AsyncSession) -> None:
    points = await _points(session, 7)
    keepers = [_keeper(engine, f"r{i}") for i in range(3)]
    for keeper in keepers:
        await keeper.start()

    async def fair() -> bool:
        for keeper in keepers:
            keeper.wake()
        held = [set(keeper.held()) for keeper in keepers]
        return sorted(len(h) for h in held) in ([2, 2, 3], [1, 3, 3]) and set().union(*held) == set(points)

    try:
        await eventually(fair, timeout=10, what="a fair spread")
        owners = Counter((await session.scalars(select(PointLease.replica_id))).all())
        assert sum(owners.values()) == 7 and set(owners) == {"r0", "r1", "r2"}
        assert all(len(set(a.held()) & set(b.held())) == 0 for a in keepers for b in keepers if a is not b)
    finally:
        for keeper in keepers:
            await keeper.stop()


async def test_a_frozen_owner_loses_its_points_under_a_new_epoch(engine: AsyncEngine, session: AsyncSession) -> None:
    [point] = await _points(session, 1)
    frozen, other = _keeper(engine, "frozen"), _keeper(engine, "other")
    frozen_owner, other_owner = Recorder(), Recorder()
    frozen.bind(frozen_owner)  # type: ignore[arg-type]
    other.bind(other_owner)  # type: ignore[arg-type]
    assert await frozen.claim(point)
    first_epoch = frozen.epoch(point)
    assert frozen.holds(point) and not await other.claim(point)  # held: nobody else may take it

    await asyncio.sleep(SHORT.lease_seconds + 0.2)  # no beat: as if the process were stopped
    assert not frozen.holds(point)  # it stops sending by itself, before it even hears of the loss
    assert await other.claim(point)
    assert other.epoch(point) == (first_epoch or 0) + 1
    await frozen.beat()  # it wakes up: the renewal finds the point gone
    assert frozen_owner.taken_away == [point] and frozen.epoch(point) is None
    await other.stop()
    await frozen.stop()


async def test_a_status_written_by_a_replaced_owner_is_refused(
    engine: AsyncEngine, session: AsyncSession, tmp_path: Path
) -> None:
    [point] = await _points(session, 1)
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    frozen, other = _keeper(engine, "frozen"), _keeper(engine, "other")

    async def ignore(*_: object) -> None:
        return None

    class Quiet:
        def publish(self, _: object) -> None:
            return None

    transport, credentials = SimulatorTransport(sessions), CredentialStore(tmp_path)
    manager = SessionManager(transport, credentials, sessions, ignore, Quiet(), frozen, SessionPolicy())
    assert await frozen.claim(point)
    await asyncio.sleep(SHORT.lease_seconds + 0.2)
    assert await other.claim(point)  # the new owner, epoch + 1
    await session.execute(
        update(ServicePoint).where(ServicePoint.id == point).values(whatsapp_status=WhatsappStatus.CONNECTING)
    )
    await session.commit()
    await manager._set(manager._point(point), WhatsappStatus.DISCONNECTED, last_error="del dueño anterior")
    session.expire_all()
    row = await session.get(ServicePoint, point)
    assert row is not None and row.whatsapp_status is WhatsappStatus.CONNECTING and row.last_error is None
    await other.stop()


async def test_a_clean_stop_hands_points_over_at_once(engine: AsyncEngine, session: AsyncSession) -> None:
    points = await _points(session, 4)
    slow = LeasePolicy(heartbeat_seconds=30, lease_seconds=60)  # only the stop's NOTIFY-less hand-over can help
    leaving, staying = _keeper(engine, "leaving", slow), _keeper(engine, "staying", slow)
    await leaving.start()
    assert set(leaving.held()) == set(points)
    await staying.start()
    await leaving.stop()
    await staying.beat()  # what the "released" notification makes it do at once
    assert set(staying.held()) == set(points)
    await staying.stop()

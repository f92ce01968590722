"""`GET /api/cluster` (admins): the replicas sharing this database and which one owns each point's socket."""

from __future__ import annotations

from litestar import Controller, get
from litestar.datastructures import State
from litestar.di import NamedDependency
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from ventanilla.auth.guards import requires_admin
from ventanilla.cluster.schemas import ClusterRead, PointOwner, ReplicaRead
from ventanilla.db.models import PointLease, Replica, ServicePoint


class ClusterController(Controller):
    path = "/api/cluster"
    tags = ["operations"]
    guards = [requires_admin]

    @get("/", summary="Replicas on this database and the owner of each point's socket (admin)")
    async def cluster(self, state: State, db_session: NamedDependency[AsyncSession]) -> ClusterRead:
        now = func.now()
        leases = state.leases
        ttl = func.make_interval(0, 0, 0, 0, 0, 0, leases.policy.lease_seconds)
        valid = PointLease.expires_at > now
        owners = (
            await db_session.execute(
                select(ServicePoint.id, PointLease.replica_id, valid)
                .outerjoin(PointLease, PointLease.service_point_id == ServicePoint.id)
                .order_by(ServicePoint.name)
            )
        ).all()
        held = select(func.count()).where(PointLease.replica_id == Replica.id, valid).scalar_subquery()
        replicas = (
            await db_session.execute(
                select(Replica, Replica.last_seen_at > now - ttl, held).order_by(Replica.started_at, Replica.id)
            )
        ).all()
        return ClusterRead(
            answered_by=leases.replica_id,
            replicas=[
                ReplicaRead(r.id, r.started_at, r.last_seen_at, bool(alive), r.draining, count)
                for r, alive, count in replicas
            ],
            points=[PointOwner(point, owner if ok else None) for point, owner, ok in owners],
        )

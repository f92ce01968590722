"""What `GET /api/cluster` answers."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import msgspec

from ventanilla.schemas import CamelStruct


class ReplicaRead(CamelStruct):
    id: str
    started_at: datetime
    last_seen_at: datetime
    alive: bool  # heard from within a lease's length
    draining: bool  # shutting down: handing its points over
    points: int  # points it holds a valid lease on


class PointOwner(CamelStruct):
    service_point_id: UUID
    owner: str | None  # None: nobody holds a valid lease right now (being taken over)


class ClusterRead(CamelStruct):
    answered_by: str = msgspec.field(name="self")  # the replica that answered
    replicas: list[ReplicaRead]
    points: list[PointOwner]

"""`GET /api/cluster`: the replicas on this database and each point's owner, for admins only."""

from __future__ import annotations

from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.conftest import World
from tests.whatsapp.conftest import eventually

Client = AsyncTestClient[Litestar]


async def test_an_admin_sees_this_replica_owning_every_point(client: Client, app: Litestar, world: World) -> None:
    me = app.state.settings.replica_id

    async def owned() -> bool:
        app.state.leases.wake()
        body = (await client.get("/api/cluster", headers=world.admin.headers)).json()
        return {p["owner"] for p in body["points"]} == {me}

    await eventually(owned, what="every point owned")
    body = (await client.get("/api/cluster", headers=world.admin.headers)).json()
    assert body["self"] == me
    [replica] = body["replicas"]
    assert replica["id"] == me and replica["alive"] and not replica["draining"]
    assert replica["points"] == len(body["points"]) == 2
    assert {p["servicePointId"] for p in body["points"]} == {str(world.point_a), str(world.point_b)}


async def test_members_cannot_read_the_cluster(client: Client, world: World) -> None:
    for user in (world.supervisor_a, world.agent_a, world.outsider):
        assert (await client.get("/api/cluster", headers=user.headers)).status_code == 403

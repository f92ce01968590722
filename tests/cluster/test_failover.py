"""Several replicas on one PostgreSQL, as separate processes: a replica killed (kill -9) or frozen (SIGSTOP) in the
middle of traffic. Its points come back on the others within 30 s; every accepted message is answered once; no reply
reaches a phone twice; a frozen replica that wakes up sends nothing for the points it lost."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import time
from collections import Counter
from pathlib import Path
from uuid import UUID

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from tests.helpers import ADMIN, Server, login_headers, wait_until_ready
from tests.ledger import assert_exactly_once, settled
from tests.whatsapp.conftest import eventually
from ventanilla.db.models import ServicePoint, Shipment, ShipmentStatus

pytestmark = pytest.mark.slow
FAILOVER_SECONDS = 30  # the promise: a dead replica's points are CONNECTED elsewhere within this


class Replica(Server):
    """One `ventanilla serve` of the cluster: its own data dir and name, the shared database."""

    def __init__(self, tmp_path: Path, database_url: str, name: str) -> None:
        super().__init__(tmp_path / name, database_url)
        (tmp_path / name).mkdir()
        self.name = name
        self.env["VENTANILLA_REPLICA_ID"] = name
        self.env["JWT_SECRET"] = "a-secret-every-replica-shares-0123456789"
        self.env["DATABASE_POOL_SIZE"] = "15"  # three replicas and the other tests share the server's 100

    def signal(self, number: int) -> None:
        assert self.process is not None
        os.kill(self.process.pid, number)


@pytest.fixture
def replicas(tmp_path: Path, database_url: str):
    started: list[Replica] = []

    def start(*names: str) -> list[Replica]:
        group = [Replica(tmp_path, database_url, name) for name in names]
        for replica in group:
            replica.launch()
        for replica in group:
            assert replica.process is not None
            wait_until_ready(replica.base, replica.process)
        started.extend(group)
        return group

    yield start
    outputs = {}
    for replica in started:  # every one stopped before any verdict: none is left running
        if replica.process is not None and replica.process.poll() is None:
            replica.signal(signal.SIGCONT)
        outputs[replica.name] = replica.stop()
    for name, output in outputs.items():
        assert "Traceback" not in output, f"{name}:\n{output[-4000:]}"


async def _points(session: AsyncSession, count: int) -> list[str]:
    points = [ServicePoint(name=f"Sucursal {i:02d}", phone_number=f"+5932000{i:05d}") for i in range(count)]
    session.add_all(points)
    await session.flush()
    session.add(Shipment(service_point_id=points[0].id, tracking_number="ABC123456", status=ShipmentStatus.IN_TRANSIT))
    await session.commit()
    return [str(point.id) for point in points]


async def _cluster(http: httpx.AsyncClient, headers: dict[str, str]) -> dict:
    response = await http.get("/api/cluster", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


async def _link_all(clients: list[httpx.AsyncClient], headers: dict[str, str], points: list[str]) -> None:
    """Link every point through a replica that is (usually) not its owner: commands travel to the owner."""

    async def link(index: int, point: str) -> None:
        http = clients[index % len(clients)]
        assert (await http.post(f"/api/service-points/{point}/whatsapp/connect", headers=headers)).status_code == 202
        for _ in range(300):
            state = (await http.get(f"/api/service-points/{point}/whatsapp", headers=headers)).json()
            if state["qrAvailable"]:
                break
            await asyncio.sleep(0.05)
        scan = await http.post(f"/api/service-points/{point}/simulator/scan", headers=headers)
        assert scan.status_code == 201, scan.text

    await asyncio.gather(*(link(i, point) for i, point in enumerate(points)))
    await eventually(lambda: _all_connected(clients[0], headers, points, {}), timeout=30, what="every point linked")


async def _all_connected(
    http: httpx.AsyncClient, headers: dict[str, str], points: list[str], owners_not: dict[str, str]
) -> bool:
    """Every point CONNECTED, owned by a live replica (and not by the ones in `owners_not`)."""
    statuses = {
        p["servicePointId"]: p["status"] for p in (await http.get("/api/whatsapp/status", headers=headers)).json()
    }
    cluster = await _cluster(http, headers)
    alive = {r["id"] for r in cluster["replicas"] if r["alive"]} - set(owners_not.values())
    owners = {p["servicePointId"]: p["owner"] for p in cluster["points"]}
    return all(statuses.get(p) == "CONNECTED" and owners.get(p) in alive for p in points)


class Traffic:
    """Customers writing to every point, a message at a time per point, through every replica in turn. A message
    no replica accepted (202) is delivered again later, as WhatsApp does until the device acknowledges it."""

    def __init__(self, clients: list[httpx.AsyncClient], headers: dict[str, str], points: list[str]) -> None:
        self.clients = clients
        self.headers = headers
        self.points = points
        self.accepted: set[str] = set()
        self.refused: Counter[int | str] = Counter()
        self.stopping = False

    async def run(self, point_index: int) -> None:
        point = self.points[point_index]
        n = 0
        while not self.stopping:
            message_id = f"F{point_index:02d}-{n:04d}"
            body = {
                "from": f"+5939{point_index:02d}{n % 40:06d}",
                "text": "¿dónde está ABC123456?",
                "messageId": message_id,
            }
            await self.deliver(point, body, n)
            n += 1
            await asyncio.sleep(0.5)  # 60 messages a second in all

    async def deliver(self, point: str, body: dict, attempt: int) -> None:
        for turn in range(attempt, attempt + 200):
            http = self.clients[turn % len(self.clients)]
            try:
                response = await http.post(
                    f"/api/service-points/{point}/simulator/inbound", json=body, headers=self.headers, timeout=20
                )
            except httpx.HTTPError as exc:
                self.refused[type(exc).__name__] += 1
            else:
                if response.status_code == 202:
                    self.accepted.add(body["messageId"])
                    return
                self.refused[response.status_code] += 1
            await asyncio.sleep(0.3)
        raise AssertionError(f"message {body['messageId']} was never accepted")


async def test_kill_9_of_a_replica_moves_its_points_within_30_s_and_loses_nothing(
    replicas, session: AsyncSession, database_url: str
) -> None:
    points = await _points(session, 30)
    group = replicas("replica-a", "replica-b", "replica-c")
    async with (
        httpx.AsyncClient(base_url=group[0].base, timeout=30) as a,
        httpx.AsyncClient(base_url=group[1].base, timeout=30) as b,
        httpx.AsyncClient(base_url=group[2].base, timeout=30) as c,
    ):
        headers = await login_headers(a)  # one token for every replica: they share JWT_SECRET
        await eventually(lambda: _spread(a, headers, 3), timeout=30, what="points spread over three replicas")
        await _link_all([b, c, a], headers, points)

        traffic = Traffic([a, b, c], headers, points)
        senders = [asyncio.create_task(traffic.run(i)) for i in range(len(points))]
        await asyncio.sleep(4)  # steady traffic through all three
        victim = group[1]
        owned = [p["servicePointId"] for p in (await _cluster(a, headers))["points"] if p["owner"] == victim.name]
        assert owned, "the victim owned no point"
        killed_at = time.monotonic()
        victim.kill()
        traffic.clients = [a, c]

        health = Counter()

        async def api_keeps_answering() -> None:
            while not traffic.stopping:
                for http in (a, c):
                    health[(await http.get("/api/service-points", headers=headers)).status_code] += 1
                await asyncio.sleep(0.2)

        watcher = asyncio.create_task(api_keeps_answering())
        await eventually(
            lambda: _all_connected(a, headers, points, {"dead": victim.name}),
            timeout=FAILOVER_SECONDS,
            what=f"the dead replica's {len(owned)} points connected elsewhere",
        )
        failover = time.monotonic() - killed_at
        await asyncio.sleep(4)  # traffic goes on through the survivors
        traffic.stopping = True
        await asyncio.gather(*senders, watcher)

        everything = len(traffic.accepted)
        await eventually(lambda: settled(database_url, everything), timeout=90, what="every message answered")
        phones = {
            UUID(point): (await a.get(f"/api/service-points/{point}/simulator/sent", headers=headers)).json()
            for point in points
        }
    print(f"failover of {len(owned)} points: {failover:.1f} s; accepted {everything}; refused {dict(traffic.refused)}")
    assert failover < FAILOVER_SECONDS
    assert set(health) == {200}, health  # the survivors' API never failed meanwhile
    await assert_exactly_once(database_url, traffic.accepted, phones)


async def _spread(http: httpx.AsyncClient, headers: dict[str, str], replicas: int) -> bool:
    cluster = await _cluster(http, headers)
    counts = Counter(p["owner"] for p in cluster["points"])
    return (
        len([r for r in cluster["replicas"] if r["alive"]]) == replicas
        and None not in counts
        and len(counts) == replicas
    )


async def test_a_frozen_replica_sends_nothing_for_the_points_it_lost(
    replicas, session: AsyncSession, database_url: str
) -> None:
    points = await _points(session, 6)
    group = replicas("replica-a", "replica-b")
    async with (
        httpx.AsyncClient(base_url=group[0].base, timeout=30) as a,
        httpx.AsyncClient(base_url=group[1].base, timeout=30) as b,
    ):
        headers = await login_headers(a)
        await eventually(lambda: _spread(a, headers, 2), timeout=30, what="points spread over two replicas")
        await _link_all([a, b], headers, points)
        frozen = group[1]
        lost = [p["servicePointId"] for p in (await _cluster(a, headers))["points"] if p["owner"] == frozen.name]
        assert lost
        sent_before = await _sent_by(b, lost)

        frozen.signal(signal.SIGSTOP)  # past its lease: replica-a takes its points
        await eventually(
            lambda: _all_connected(a, headers, points, {"frozen": frozen.name}),
            timeout=FAILOVER_SECONDS,
            what="the frozen replica's points connected on the other",
        )
        # Work for the lost points waits in the outbox when the frozen replica wakes: replies queued by customers'
        # messages, answered by their new owner.
        network = Traffic([a], headers, lost)  # delivers again what is refused while a socket settles
        for index, point in enumerate(lost):
            for n in range(20):
                body = {
                    "from": f"+59398{index:02d}{n:05d}",
                    "text": "¿dónde está ABC123456?",
                    "messageId": f"S{index}-{n}",
                }
                await network.deliver(point, body, 0)
        frozen.signal(signal.SIGCONT)
        await eventually(lambda: settled(database_url, 20 * len(lost)), timeout=60, what="every message answered")
        await asyncio.sleep(2)  # time for a careless replica to send what it thought was still its own
        assert await _sent_by(b, lost) == sent_before  # the woken replica sent nothing for the points it lost
        phones = {
            UUID(point): (await a.get(f"/api/service-points/{point}/simulator/sent", headers=headers)).json()
            for point in lost
        }
        delivered = {f"S{index}-{n}" for index in range(len(lost)) for n in range(20)}
    for point, received in phones.items():
        ids = [m["messageId"] for m in received]
        assert len(ids) == len(set(ids)) == 20, f"point {point}: {len(ids)} on the phone"
    assert await settled(database_url, len(delivered))


async def _sent_by(http: httpx.AsyncClient, points: list[str]) -> int:
    """Sends this replica's delivery worker attempted for `points` (sent, failed or to retry), from its /metrics."""
    text = (await http.get("/metrics")).text
    total = 0
    for point in points:
        for match in re.finditer(
            rf'ventanilla_outbound_messages_total\{{service_point="{point}",outcome="\w+"\}} (\S+)', text
        ):
            total += int(float(match.group(1)))
    return total


async def test_three_replicas_started_together_migrate_once_and_create_the_admin_once(
    tmp_path: Path, empty_database_url: str
) -> None:
    """A database nobody migrated yet: three replicas start at the same moment."""
    group = [Replica(tmp_path, empty_database_url, f"fresh-{i}") for i in range(3)]
    for replica in group:
        replica.launch()
    try:
        for replica in group:
            assert replica.process is not None
            wait_until_ready(replica.base, replica.process)
        async with httpx.AsyncClient(base_url=group[2].base, timeout=30) as http:
            assert (await http.post("/api/auth/login", json=ADMIN)).status_code == 201
    finally:
        outputs = [replica.stop() for replica in group]
    for output in outputs:
        assert "Traceback" not in output, output[-3000:]


async def test_a_replica_stopped_cleanly_hands_its_points_over_at_once(replicas, session: AsyncSession) -> None:
    """SIGTERM: the replica closes its sockets, frees its leases and says so; the other claims them on the spot,
    long before the leases would have expired (15 s)."""
    points = await _points(session, 4)
    group = replicas("replica-a", "replica-b")
    async with httpx.AsyncClient(base_url=group[0].base, timeout=30) as a:
        headers = await login_headers(a)
        await eventually(lambda: _spread(a, headers, 2), timeout=30, what="points spread over two replicas")
        await _link_all([a], headers, points)
        leaving = group[1]
        stopped_at = time.monotonic()
        leaving.stop()
        await eventually(
            lambda: _all_connected(a, headers, points, {"gone": leaving.name}), timeout=10, what="points taken over"
        )
        handover = time.monotonic() - stopped_at
        cluster = await _cluster(a, headers)
    assert handover < 8, f"hand-over took {handover:.1f} s"
    assert [r["id"] for r in cluster["replicas"]] == ["replica-a"]  # it left the list as it went

"""What every benchmark needs: a scratch Ventanilla (data dir, migrated database) and `ventanilla serve` on it; and
for those that drive the pipeline, linked points with the shipment customers ask about, and a paced injector of
customers' messages (`Pacer`) with the latency of their replies (`settled`)."""

from __future__ import annotations

import asyncio
import itertools
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.helpers import free_port, process_env, stop  # noqa: E402

ADMIN = {"email": "bench@example.com", "password": "bench-password"}


@dataclass(frozen=True)
class Workspace:
    directory: Path
    env: dict[str, str]
    database_url: str  # postgresql+asyncpg://...

    @property
    def dsn(self) -> str:
        """The same database for plain asyncpg."""
        return self.database_url.replace("postgresql+asyncpg", "postgresql")


@contextmanager
def workspace(database_url: str | None, **env: str) -> Iterator[Workspace]:
    """A temporary data dir and a migrated database: `database_url` (an empty scratch one) or an embedded server."""
    with tempfile.TemporaryDirectory(prefix="ventanilla-bench-") as tmp:
        directory = Path(tmp)
        environment = process_env(
            VENTANILLA_DATA_DIR=str(directory / "data"),
            AUTH_SESSIONS_DIR=str(directory / "auth"),
            WHATSAPP_TRANSPORT="simulator",
            ADMIN_EMAIL=ADMIN["email"],
            ADMIN_PASSWORD=ADMIN["password"],
            LOG_LEVEL="WARNING",
            **env,
        )
        if database_url:
            environment["DATABASE_URL"] = database_url
        migrate = subprocess.run(
            [sys.executable, "-m", "ventanilla", "migrate"],
            check=False,
            env=environment,
            cwd=directory,
            capture_output=True,
        )
        if migrate.returncode:
            raise SystemExit(migrate.stderr.decode())
        if not database_url:
            from ventanilla.db.embedded import start_embedded_server

            database_url = start_embedded_server(directory / "data")
        yield Workspace(directory, environment, database_url)


@contextmanager
def serving(space: Workspace) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """`ventanilla serve` on a free port of this machine; yields its base URL and the process."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "ventanilla", "serve", "--port", str(port)],
        env=space.env,
        cwd=space.directory,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        yield f"http://127.0.0.1:{port}", server
    finally:
        stop(server)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def link_points(dsn: str, auth_dir: Path, count: int) -> list[str]:
    """`count` service points whose simulated phones are already linked (a restart resumes them without a QR).
    The simulator keeps its links in the database: `auth_dir` (the credentials' directory) stays empty."""
    import asyncpg

    rows = [(uuid.uuid4(), f"Bench {index:04d}", f"+5932{index:07d}") for index in range(count)]
    connection = await asyncpg.connect(dsn)
    try:
        async with connection.transaction():
            await connection.executemany(
                "INSERT INTO service_point (id, name, phone_number, whatsapp_status, created_at, updated_at) "
                "VALUES ($1, $2, $3, 'DISCONNECTED', now(), now())",
                rows,
            )
            await connection.executemany(
                "INSERT INTO simulator_phone (service_point_id, phone_number, linked_at) VALUES ($1, $2, now())",
                [(point_id, phone) for point_id, _, phone in rows],
            )
    finally:
        await connection.close()
    return [str(point_id) for point_id, _, _ in rows]


TRACKING = "ABC123456"
QUESTION = f"¿dónde está mi paquete {TRACKING}?"  # what the offline bot answers from the database
BASELINE_POOL = 16
BATCH = 100  # messages per simulator request, as the network hands them over under load
_customers = itertools.count()  # paced customers of this process, all new, whichever Pacer sends them


async def pipeline_points(dsn: str, auth_dir: Path, count: int) -> list[str]:
    """`count` linked points, and the shipment every customer asks about (the offline bot looks it up)."""
    import asyncpg

    ids = await link_points(dsn, auth_dir, count)
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute(
            "INSERT INTO shipment (id, service_point_id, tracking_number, status, destination, last_update, "
            "created_at, updated_at) VALUES ($1, $2, $3, 'IN_TRANSIT', 'Quito', now(), now(), now())",
            uuid.uuid4(),
            uuid.UUID(ids[0]),
            TRACKING,
        )
    finally:
        await connection.close()
    return ids


@asynccontextmanager
async def signed_in(base: str, points: int = 0) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client logged in as the bench admin; with `points`, once that many points are CONNECTED."""
    async with httpx.AsyncClient(base_url=base, timeout=120) as http:
        token = (await http.post("/api/auth/login", json=ADMIN)).json()["accessToken"]
        http.headers["Authorization"] = f"Bearer {token}"
        while points:
            rows = (await http.get("/api/whatsapp/status")).json()
            if sum(row["status"] == "CONNECTED" for row in rows) >= points:
                break
            await asyncio.sleep(0.1)
        yield http


class Pacer:
    """New customers' messages through the simulator at a steady `rate` (messages/s), open loop.

    Every `tick` seconds it sends what is due by then (rate x elapsed, less what was sent), in batches of up to 100
    to the points in turn (`POST .../simulator/inbound/batch`). Each batch is its own request, so a slow answer
    never delays the next batch: if the server falls behind, requests pile up and the achieved rate shows it.
    Every message comes from a new customer (+5938 and a number no other Pacer of the process used; one reply
    each), with WhatsApp id `<tag><number>`; `settled(dsn, pacer.sent, tag)` gives their latencies.
    """

    def __init__(self, http: httpx.AsyncClient, points: list[str], rate: float, tag: str = "P", tick: float = 0.1):
        self.http, self.points, self.rate, self.tag, self.tick = http, points, rate, tag, tick
        self.sent = 0  # messages accepted (202)
        self.seconds = 0.0  # from the start to the last batch accepted
        self.max_request_ms = 0.0  # slowest batch request: storing is done when it answers

    @property
    def achieved(self) -> float:
        """Messages accepted per second."""
        return self.sent / self.seconds if self.seconds else 0.0

    async def run(self, seconds: float | None = None, stop: asyncio.Event | None = None) -> None:
        """For `seconds`, or until `stop` is set; returns once every request sent has been answered."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        requests: list[asyncio.Task[None]] = []
        scheduled, turn, tick = 0, 0, 0
        ticks = None if seconds is None else max(1, round(seconds / self.tick))

        async def post(point: str, batch: list[dict]) -> None:
            before = loop.time()
            response = await self.http.post(f"/api/service-points/{point}/simulator/inbound/batch", json=batch)
            assert response.status_code == 202, response.text
            self.max_request_ms = max(self.max_request_ms, (loop.time() - before) * 1000)
            self.sent += len(batch)
            self.seconds = loop.time() - started

        while not (stop is not None and stop.is_set()) and (ticks is None or tick < ticks):
            tick += 1
            await asyncio.sleep(max(0.0, started + tick * self.tick - loop.time()))
            due = round(self.rate * tick * self.tick) - scheduled
            scheduled += due
            numbers = [next(_customers) for _ in range(due)]
            messages = [{"from": f"+5938{n:08d}", "text": QUESTION, "messageId": f"{self.tag}{n:09d}"} for n in numbers]
            for start in range(0, len(messages), BATCH):
                task = asyncio.create_task(post(self.points[turn % len(self.points)], messages[start : start + BATCH]))
                turn += 1
                requests.append(task)
        await asyncio.gather(*requests)


async def settled(dsn: str, expected: int, tag: str, timeout: float = 300) -> list[float]:
    """Once no inbound message waits to be handled and no reply to be sent: ms from each `<tag>`-message stored
    (its created_at) to its reply SENT. Fails if fewer than `expected` have a sent reply within `timeout`."""
    import asyncpg

    deadline = time.monotonic() + timeout
    connection = await asyncpg.connect(dsn)
    try:
        while True:
            idle = await connection.fetchval(
                "SELECT NOT EXISTS (SELECT 1 FROM message WHERE direction = 'IN' AND handled_at IS NULL) "
                "AND NOT EXISTS (SELECT 1 FROM message WHERE delivery_status = 'PENDING')"
            )
            if idle:
                values = await stored_to_sent(connection, tag)
                if len(values) >= expected:
                    return values
            if time.monotonic() > deadline:
                raise SystemExit(f"only {len(values) if idle else '?'} of {expected} '{tag}' messages answered")
            await asyncio.sleep(0.2)
    finally:
        await connection.close()


async def stored_to_sent(connection: Any, tag: str = "") -> list[float]:
    """Sorted ms from inbound stored (created_at) to its reply SENT, for inbound WhatsApp ids starting with `tag`.
    Each message's reply is the one its turn wrote: same conversation, written when the message was handled."""
    rows = await connection.fetch(
        """
        SELECT extract(epoch FROM o.sent_at - i.created_at) * 1000 AS ms
        FROM message i JOIN message o ON o.conversation_id = i.conversation_id
             AND o.sender_type = 'BOT' AND o.timestamp = i.handled_at
        WHERE i.direction = 'IN' AND i.provider_message_id LIKE $1 AND o.sent_at IS NOT NULL
        """,
        tag + "%",
    )
    return sorted(float(row["ms"]) for row in rows)


def message_plan(points: list[str], customers: int, messages: int) -> list[tuple[str, list[dict]]]:
    """Batches per point; every customer's messages are in order (round k holds everybody's k-th message)."""
    plan = []
    for p, point in enumerate(points):
        payload = [
            {"from": f"+5939{p:03d}{c:05d}", "text": QUESTION, "messageId": f"B{p:03d}{c:05d}{k:02d}"}
            for k in range(messages)
            for c in range(customers)
        ]
        plan.extend((point, payload[i : i + BATCH]) for i in range(0, len(payload), BATCH))
    return plan


async def raw_baseline(dsn: str, plan: list[tuple[str, list[dict]]], connections: int = BASELINE_POOL) -> float:
    """The floor of what the database costs, as the issue defines it: raw asyncpg, a pool of 16, and per message
    (each customer's messages in order) one transaction that upserts the conversation and inserts the message, then
    one that inserts the reply and marks it sent."""
    import asyncpg

    pool = await asyncpg.create_pool(dsn, min_size=connections, max_size=connections)
    lanes: dict[tuple[str, str], list[dict]] = {}
    for point, batch in plan:
        for message in batch:
            lanes.setdefault((point, message["from"]), []).append(message)
    queue: asyncio.Queue[tuple[tuple[str, str], list[dict]]] = asyncio.Queue()
    for item in lanes.items():
        queue.put_nowait(item)

    async def handle(point: str, message: dict) -> None:
        async with pool.acquire() as connection:
            async with connection.transaction():
                conversation = await connection.fetchval(
                    "INSERT INTO conversation (id, service_point_id, customer_phone, status, last_message_at, "
                    "created_at, updated_at) VALUES ($1, $2, $3, 'BOT', now(), now(), now()) "
                    "ON CONFLICT (service_point_id, customer_phone) DO UPDATE SET last_message_at = now() RETURNING id",
                    uuid.uuid4(),
                    uuid.UUID(point),
                    message["from"],
                )
                await connection.execute(
                    "INSERT INTO message (id, conversation_id, service_point_id, direction, sender_type, content, "
                    "provider_message_id, timestamp, attempts, created_at, updated_at) VALUES ($1, $2, $3, 'IN', "
                    "'CUSTOMER', $4, $5, now(), 0, now(), now()) ON CONFLICT DO NOTHING",
                    uuid.uuid4(),
                    conversation,
                    uuid.UUID(point),
                    message["text"],
                    "RAW" + message["messageId"],
                )
            async with connection.transaction():
                reply = await connection.fetchval(
                    "INSERT INTO message (id, conversation_id, service_point_id, direction, sender_type, content, "
                    "provider_message_id, timestamp, delivery_status, attempts, next_attempt_at, created_at, "
                    "updated_at) VALUES ($1, $2, $3, 'OUT', 'BOT', $4, $5, now(), 'PENDING', 0, now(), now(), now()) "
                    "RETURNING id",
                    uuid.uuid4(),
                    conversation,
                    uuid.UUID(point),
                    "Tu envío está En tránsito",
                    "RAWOUT" + message["messageId"],
                )
                await connection.execute(
                    "UPDATE message SET delivery_status = 'SENT', sent_at = now(), attempts = 1 WHERE id = $1", reply
                )

    async def worker() -> None:
        while not queue.empty():
            (point, _), messages = queue.get_nowait()
            for message in messages:
                await handle(point, message)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(connections)))
    elapsed = time.perf_counter() - started
    await pool.close()
    return sum(len(batch) for _, batch in plan) / elapsed


@dataclass(frozen=True)
class BurstEnd:
    """How a burst ended: every message handled and no reply PENDING."""

    cpu_seconds: float  # the server's, since `cpu_before`
    last_sent: datetime
    replies: int
    stored_to_sent_ms: list[float]  # sorted


async def burst_end(dsn: str, total: int, tag: str, server_pid: int, cpu_before: float) -> BurstEnd:
    """Wait until `total` inbound messages are handled and nothing is PENDING, then read the figures."""
    import asyncpg

    connection = await asyncpg.connect(dsn)
    try:
        while not await connection.fetchval(
            "SELECT count(*) FILTER (WHERE direction = 'IN' AND handled_at IS NOT NULL) >= $1 "
            "AND count(*) FILTER (WHERE delivery_status = 'PENDING') = 0 FROM message",
            total,
        ):
            await asyncio.sleep(0.2)
        cpu = cpu_seconds(server_pid) - cpu_before
        last_sent = await connection.fetchval("SELECT max(sent_at) FROM message WHERE direction = 'OUT'")
        replies = await connection.fetchval("SELECT count(*) FROM message WHERE sender_type = 'BOT'")
        values = await stored_to_sent(connection, tag)
    finally:
        await connection.close()
    return BurstEnd(cpu, last_sent, replies, values)

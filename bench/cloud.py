"""Cloud API throughput: customers' messages in through Meta's signed webhook, answers out through the Graph API.

    .venv/bin/python bench/cloud.py [--points 10] [--customers 600] [--database-url ...]

The same burst as `bench/pipeline.py` (every customer new, one question each, the offline bot answering from the
database), but on Cloud API points: each request is one webhook body of up to 100 messages, signed with the
point's app secret, as Meta batches them; each answer is a real Graph API call (to a local fake Graph server in its
own process) and is SENT once Meta's fake returns its wamid. Prints messages/s from the first webhook to the last
answer SENT, p50/p99 inbound stored -> reply SENT, the server's CPU per message, how long Meta waited for the
webhook's 200 (p50/p99/max: the store-first acknowledgement), and the raw asyncpg baseline of the same run (the
same two transactions per message as `bench/pipeline.py`), with the ratio.

Without --database-url a fresh embedded PostgreSQL in a temporary directory is used; with it, give an empty
scratch database.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from contextlib import ExitStack
from datetime import UTC, datetime

import asyncpg
import httpx
from harness import (
    BASELINE_POOL,
    ROOT,
    burst_end,
    cpu_seconds,
    message_plan,
    percentile,
    raw_baseline,
    serving,
    signed_in,
    workspace,
)
from tests.fakes.graph_api import BENCH_NUMBER_BASE, envelope, sign
from tests.helpers import wait_until_ready

from ventanilla.secret_box import SecretBox

SECRET_KEY = "bench-secret-key-bench-secret-key-0123456789"
TOKEN = "bench-access-token"
APP_SECRET = "bench-app-secret"
TRACKING = "ABC123456"


def _fake_graph(numbers: int) -> tuple[subprocess.Popen[str], str]:
    meta = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.graph_api", "--numbers", str(numbers), "--token", TOKEN],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert meta.stdout is not None
    return meta, meta.stdout.readline().strip()


async def _cloud_points(dsn: str, count: int) -> dict[str, str]:
    """`count` Cloud API points (point id -> phone number id) with their secrets sealed as the server's key does,
    and the shipment every customer asks about."""
    box = SecretBox([SECRET_KEY])
    rows = [(uuid.uuid4(), f"Nube {i:04d}", str(BENCH_NUMBER_BASE + i)) for i in range(count)]
    connection = await asyncpg.connect(dsn)
    try:
        async with connection.transaction():
            await connection.executemany(
                "INSERT INTO service_point (id, name, whatsapp_status, transport, created_at, updated_at) "
                "VALUES ($1, $2, 'DISCONNECTED', 'cloud', now(), now())",
                [(point, name) for point, name, _ in rows],
            )
            await connection.executemany(
                "INSERT INTO cloud_account (service_point_id, phone_number_id, access_token, app_secret, "
                "verify_token_sha256) VALUES ($1, $2, $3, $4, repeat('0', 64))",
                [(point, number, box.seal(TOKEN), box.seal(APP_SECRET)) for point, _, number in rows],
            )
            await connection.execute(
                "INSERT INTO shipment (id, service_point_id, tracking_number, status, destination, last_update, "
                "created_at, updated_at) VALUES ($1, $2, $3, 'IN_TRANSIT', 'Quito', now(), now(), now())",
                uuid.uuid4(),
                rows[0][0],
                TRACKING,
            )
    finally:
        await connection.close()
    return {str(point): number for point, _, number in rows}


def _bodies(plan: list[tuple[str, list[dict]]], numbers: dict[str, str]) -> list[bytes]:
    """One webhook body per batch of the plan, as Meta sends them."""
    now = str(int(time.time()))
    bodies = []
    for point, batch in plan:
        messages = [
            {
                "from": message["from"].lstrip("+"),
                "id": "wamid." + message["messageId"],
                "timestamp": now,
                "type": "text",
                "text": {"body": message["text"]},
            }
            for message in batch
        ]
        bodies.append(json.dumps(envelope(numbers[point], messages=messages)).encode())
    return bodies


async def _burst(base: str, bodies: list[bytes], dsn: str, total: int, server_pid: int) -> dict[str, float]:
    acknowledged: list[float] = []
    async with httpx.AsyncClient(base_url=base, timeout=120) as http:
        started, cpu_before = datetime.now(UTC), cpu_seconds(server_pid)

        async def post(body: bytes) -> None:
            headers = {"Content-Type": "application/json", "X-Hub-Signature-256": sign(APP_SECRET, body)}
            sent = time.perf_counter()
            response = await http.post("/webhooks/whatsapp-cloud", content=body, headers=headers)
            acknowledged.append(1000 * (time.perf_counter() - sent))
            assert response.status_code == 200, response.text

        queue = list(bodies)

        async def sender() -> None:  # as many webhook deliveries in flight as Meta's would be: a few per number
            while queue:
                await post(queue.pop())

        await asyncio.gather(*(sender() for _ in range(16)))
    end = await burst_end(dsn, total, "wamid.B", server_pid, cpu_before)
    cpu, last_sent, replies, values = end.cpu_seconds, end.last_sent, end.replies, end.stored_to_sent_ms
    elapsed = (last_sent - started).total_seconds()
    return {
        "per_second": total / elapsed,
        "seconds": elapsed,
        "replies": replies,
        "cpu_ms_per_message": 1000 * cpu / total,
        "p50_ms": statistics.median(values),
        "p99_ms": percentile(values, 0.99),
        "ack_p50_ms": statistics.median(acknowledged),
        "ack_p99_ms": percentile(acknowledged, 0.99),
        "ack_max_ms": max(acknowledged),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--points", type=int, default=10)
    parser.add_argument("--customers", type=int, default=600, help="customers per point")
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL"))
    args = parser.parse_args()
    total = args.points * args.customers
    with ExitStack() as stack:
        meta, graph_url = _fake_graph(args.points)
        stack.callback(meta.kill)
        space = stack.enter_context(
            workspace(args.database_url, VENTANILLA_SECRET_KEY=SECRET_KEY, WHATSAPP_CLOUD_API_BASE=graph_url)
        )
        numbers = asyncio.run(_cloud_points(space.dsn, args.points))
        plan = message_plan(list(numbers), args.customers, 1)
        bodies = _bodies(plan, numbers)
        with serving(space) as (base, server):
            wait_until_ready(base, server)
            asyncio.run(_connected(base, args.points))
            figures = asyncio.run(_burst(base, bodies, space.dsn, total, server.pid))
        baseline = asyncio.run(raw_baseline(space.dsn, plan))
    print(f"Cloud API benchmark, offline bot: {args.points} points x {args.customers} customers = {total} messages")
    print(
        f"  Ventanilla       {figures['per_second']:8.1f} messages/s   ({figures['seconds']:.1f} s end to end, "
        f"{figures['replies']} replies through the Graph API)"
    )
    print(f"  p50 / p99        {figures['p50_ms']:8.0f} / {figures['p99_ms']:.0f} ms  inbound stored -> reply SENT")
    print(
        f"  webhook 200      {figures['ack_p50_ms']:8.0f} / {figures['ack_p99_ms']:.0f} / {figures['ack_max_ms']:.0f} "
        "ms  p50 / p99 / max, 100 messages a body"
    )
    print(f"  server CPU       {figures['cpu_ms_per_message']:8.2f} ms per message")
    print(f"  raw asyncpg      {baseline:8.1f} messages/s   (pool of {BASELINE_POOL}, two transactions per message)")
    print(f"  ratio            {figures['per_second'] / baseline:8.0%}")


async def _connected(base: str, points: int) -> None:
    """Until every point's Graph client is up (sends only leave from a connected point)."""
    async with signed_in(base, points):
        pass


if __name__ == "__main__":
    main()

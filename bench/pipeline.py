"""End-to-end pipeline throughput: customers' messages in through the simulator, answers out as SENT.

    .venv/bin/python bench/pipeline.py [--points 10] [--customers 600] [--messages 1]
                                       [--paced-seconds 10] [--rate N] [--database-url ...]

Offline mode (default): many points and customers send through `POST .../simulator/inbound/batch` (100 messages a
request) into a live `ventanilla serve` with the offline bot. Two phases on the same server:

1. The maximum rate: everything injected at once. Prints messages/s from the first message in to the last answer
   SENT, p50/p99 of inbound-stored -> reply-SENT (mostly queueing behind the burst), the server's CPU per message
   and, in the same run on the same database server, the raw asyncpg baseline: a pool of 16, and per message one
   transaction that upserts the conversation and inserts the message, then one that inserts the reply and marks
   it sent. And the ratio.
2. Paced ("paced, same server"): new customers, one message each, at half the measured maximum (or `--rate`),
   evenly: every 100 ms what is due, in batches of up to 100 to the points in turn, for `--paced-seconds`
   (0 skips it). Prints the achieved injection rate, p50/p99/max of inbound stored -> reply SENT of these
   messages only (the latency a customer sees when the server is not saturated), and the server's CPU per message.

By default every message of phase 1 comes from a new customer (one reply per message, as in the baseline). With
`--messages N` a customer's messages arrive together and the bot answers them in one turn (one reply per burst), so
replies are fewer than messages; the phase ends when every message is handled and every reply SENT.

The model path has its own benchmark, `bench/model.py`.

Without --database-url a fresh embedded PostgreSQL in a temporary directory is used; with it, give an empty
scratch database (points and messages are inserted there).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
from contextlib import ExitStack
from datetime import UTC, datetime

import httpx
from harness import (
    BASELINE_POOL,
    Pacer,
    burst_end,
    cpu_seconds,
    message_plan,
    percentile,
    pipeline_points,
    raw_baseline,
    serving,
    settled,
    signed_in,
    workspace,
)
from tests.helpers import wait_until_ready

PACER_TICK = 0.1


async def _burst(
    http: httpx.AsyncClient, plan: list[tuple[str, list[dict]]], dsn: str, total: int, server_pid: int
) -> dict[str, float]:
    """Everything at once: the maximum rate, and latency that is mostly queueing behind the burst."""
    points = sorted({point for point, _ in plan})

    async def sender(point: str) -> None:
        for batch_point, batch in plan:
            if batch_point == point:
                response = await http.post(f"/api/service-points/{point}/simulator/inbound/batch", json=batch)
                assert response.status_code == 202, response.text

    started, cpu_before = datetime.now(UTC), cpu_seconds(server_pid)
    await asyncio.gather(*(sender(point) for point in points))
    end = await burst_end(dsn, total, "B", server_pid, cpu_before)
    cpu, last_sent, replies, values = end.cpu_seconds, end.last_sent, end.replies, end.stored_to_sent_ms
    elapsed = (last_sent - started).total_seconds()
    return {
        "messages": total,
        "replies": replies,
        "cpu_ms_per_message": 1000 * cpu / total,
        "seconds": elapsed,
        "per_second": total / elapsed,
        "p50_ms": statistics.median(values),
        "p99_ms": percentile(values, 0.99),
    }


async def _paced(
    http: httpx.AsyncClient, points: list[str], dsn: str, rate: float, seconds: float, server_pid: int
) -> dict[str, float]:
    """New customers at a steady `rate` for `seconds`: latency when the server is not saturated."""
    pacer = Pacer(http, points, rate, tag="P", tick=PACER_TICK)
    cpu_before = cpu_seconds(server_pid)
    await pacer.run(seconds)
    values = await settled(dsn, pacer.sent, "P")
    cpu = cpu_seconds(server_pid) - cpu_before  # includes the idle wait for the last replies
    return {
        "rate": rate,
        "messages": pacer.sent,
        "achieved": pacer.achieved,
        "max_request_ms": pacer.max_request_ms,
        "cpu_ms_per_message": 1000 * cpu / pacer.sent,
        "p50_ms": statistics.median(values),
        "p99_ms": percentile(values, 0.99),
        "max_ms": values[-1],
    }


async def _drive(
    base: str,
    plan: list[tuple[str, list[dict]]],
    dsn: str,
    total: int,
    server_pid: int,
    rate: float | None,
    seconds: float,
) -> tuple[dict[str, float], dict[str, float] | None]:
    points = sorted({point for point, _ in plan})
    async with signed_in(base, len(points)) as http:
        burst = await _burst(http, plan, dsn, total, server_pid)
        if seconds <= 0:
            return burst, None
        paced = await _paced(http, points, dsn, rate or burst["per_second"] / 2, seconds, server_pid)
    return burst, paced


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--points", type=int, default=10)
    parser.add_argument("--customers", type=int, default=600, help="customers per point")
    parser.add_argument("--messages", type=int, default=1, help="messages per customer")
    parser.add_argument("--rate", type=float, help="messages/s of the paced phase (default: half the measured max)")
    parser.add_argument("--paced-seconds", type=float, default=10.0, help="length of the paced phase (0: none)")
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL"))
    args = parser.parse_args()
    total = args.points * args.customers * args.messages
    with ExitStack() as stack:
        space = stack.enter_context(workspace(args.database_url))
        point_ids = asyncio.run(pipeline_points(space.dsn, space.directory / "auth", args.points))
        plan = message_plan(point_ids, args.customers, args.messages)
        with serving(space) as (base, server):
            wait_until_ready(base, server)
            figures, paced = asyncio.run(
                _drive(base, plan, space.dsn, total, server.pid, args.rate, args.paced_seconds)
            )
        baseline = asyncio.run(raw_baseline(space.dsn, plan))
    print(
        f"pipeline benchmark, offline bot: {args.points} points x {args.customers} customers x {args.messages} "
        f"messages = {total} messages, {os.cpu_count()} CPUs"
    )
    print(
        f"  Ventanilla       {figures['per_second']:8.1f} messages/s   ({figures['seconds']:.1f} s end to end, "
        f"{figures['replies']} replies)"
    )
    print(f"  p50 / p99        {figures['p50_ms']:8.0f} / {figures['p99_ms']:.0f} ms  inbound stored -> reply SENT")
    print(f"  server CPU       {figures['cpu_ms_per_message']:8.2f} ms per message")
    print(f"  raw asyncpg      {baseline:8.1f} messages/s   (pool of {BASELINE_POOL}, two transactions per message)")
    print(f"  ratio            {figures['per_second'] / baseline:8.0%}")
    if paced:
        share = "given rate" if args.rate else "half the max above"
        print(
            f"paced, same server: {paced['messages']} new customers at {paced['rate']:.0f} messages/s ({share}) "
            f"for {args.paced_seconds:g} s, a batch every {PACER_TICK * 1000:.0f} ms across the points"
        )
        print(
            f"  achieved         {paced['achieved']:8.1f} messages/s   (slowest batch request "
            f"{paced['max_request_ms']:.0f} ms)"
        )
        print(
            f"  p50 / p99 / max  {paced['p50_ms']:8.0f} / {paced['p99_ms']:.0f} / {paced['max_ms']:.0f} ms  "
            "inbound stored -> reply SENT"
        )
        print(f"  server CPU       {paced['cpu_ms_per_message']:8.2f} ms per message (idle tail included)")


if __name__ == "__main__":
    main()

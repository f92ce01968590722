"""The server's memory: idle with many linked points, then after each round of messages; no growth per message.

    .venv/bin/python bench/memory.py [--points 200] [--messages 100000] [--rounds 2] [--settle 5] [--database-url ...]

Starts `ventanilla serve` with N linked simulated points and, once every point is CONNECTED and a few seconds have
passed, prints the server's memory: RSS (VmRSS in /proc/<pid>/status), PSS (shared pages split among the processes
sharing them) and USS (its private pages only) from /proc/<pid>/smaps_rollup. Then, round after round, it pushes
`--messages` messages through `POST .../simulator/inbound/batch` (100 a request, spread evenly over the points,
every message from a new customer, so each one is a new conversation), waits until every message is handled and
every reply (the offline bot's) is SENT, lets the server settle for `--settle` seconds and prints the memory again.

The figure that matters is the last line: RSS growth per message between the end of the first round and the end of
the last one. The first round pays for what is allocated once (connection pools, statement caches, the allocator's
arenas at their high-water mark); after it, anything kept per message or per conversation (a cache without a bound,
a map never cleaned) shows up as bytes per message. Near 0 is the goal; the whole process is measured, the
simulator (which stands in for WhatsApp's servers) included. One thing is kept on purpose for a while: the
per-customer limit remembers the conversations of the last minute (`pipeline.limits`), and forgets older ones at the
next turn. So that each measurement holds one round's worth of it, whatever a round lasts, the next round starts
only once that minute has passed since the last one ended.

Without --database-url a fresh embedded PostgreSQL in a temporary directory is used; with it, give an empty
scratch database (points and messages are inserted there).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from pathlib import Path

import asyncpg
import httpx
from harness import BATCH, QUESTION, pipeline_points, serving, signed_in, workspace
from tests.helpers import wait_until_ready

from ventanilla.pipeline.flow import PipelinePolicy

SENDERS = 16  # batch requests in flight at once
POLL_SECONDS = 1.0
GAP_SECONDS = PipelinePolicy().customer_window_seconds + 1  # between rounds: the limiter's memory of one has passed


def memory(pid: int) -> dict[str, int]:
    """RSS, PSS and USS of the process, in bytes (Linux /proc)."""
    status = Path(f"/proc/{pid}/status").read_text()
    figures = {"rss": _kilobytes(status, "VmRSS:")}
    try:
        rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:  # kernels before 4.14
        return figures
    figures["pss"] = _kilobytes(rollup, "Pss:")
    figures["uss"] = _kilobytes(rollup, "Private_Clean:") + _kilobytes(rollup, "Private_Dirty:")
    return figures


def _kilobytes(text: str, field: str) -> int:
    for line in text.splitlines():
        if line.startswith(field):
            return int(line.split()[1]) * 1024
    raise ValueError(f"{field} not found")


def _mib(value: int) -> str:
    return f"{value / 2**20:7.1f} MiB"


def _line(label: str, figures: dict[str, int]) -> str:
    extra = "".join(f"   {name.upper()} {_mib(figures[name])}" for name in ("pss", "uss") if name in figures)
    return f"  {label:28s} RSS {_mib(figures['rss'])}{extra}"


def _batches(points: list[str], messages: int, round_number: int) -> list[tuple[str, list[dict]]]:
    """`messages` messages from new customers (this round's own), spread over the points, 100 to a request."""
    per_point = [messages // len(points) + (p < messages % len(points)) for p in range(len(points))]
    plan = []
    for p, (point, count) in enumerate(zip(points, per_point, strict=True)):
        payload = [
            {
                "from": f"+5939{p:03d}{round_number:02d}{c:05d}",
                "text": QUESTION,
                "messageId": f"M{round_number:02d}{p:03d}{c:05d}",
            }
            for c in range(count)
        ]
        plan.extend((point, payload[i : i + BATCH]) for i in range(0, count, BATCH))
    # interleave the points, so that every point is busy throughout the round
    plan.sort(key=lambda item: (int(item[1][0]["messageId"][6:]), item[0]))
    return plan


async def _push(http: httpx.AsyncClient, plan: list[tuple[str, list[dict]]]) -> None:
    queue: asyncio.Queue[tuple[str, list[dict]]] = asyncio.Queue()
    for item in plan:
        queue.put_nowait(item)

    async def sender() -> None:
        while not queue.empty():
            point, batch = queue.get_nowait()
            response = await http.post(f"/api/service-points/{point}/simulator/inbound/batch", json=batch)
            if response.status_code != 202:
                raise SystemExit(f"inbound batch refused: {response.status_code} {response.text}")

    await asyncio.gather(*(sender() for _ in range(SENDERS)))


async def _answered(dsn: str, total: int) -> int:
    """Wait until `total` customer messages are stored and handled and no reply is PENDING; the replies SENT."""
    connection = await asyncpg.connect(dsn)
    try:
        while True:
            # both partial indexes (unhandled inbound, pending outbox) answer these at once, however big the table
            busy = await connection.fetchval(
                "SELECT EXISTS (SELECT 1 FROM message WHERE direction = 'IN' AND handled_at IS NULL) "
                "OR EXISTS (SELECT 1 FROM message WHERE delivery_status = 'PENDING')"
            )
            if not busy and await connection.fetchval("SELECT count(*) FROM message WHERE direction = 'IN'") >= total:
                return await connection.fetchval(
                    "SELECT count(*) FROM message WHERE direction = 'OUT' AND delivery_status = 'SENT'"
                )
            await asyncio.sleep(POLL_SECONDS)
    finally:
        await connection.close()


async def _run(
    base: str, pid: int, dsn: str, points: list[str], messages: int, rounds: int, settle: float
) -> list[dict[str, int]]:
    samples = []
    async with signed_in(base, len(points)) as http:
        await asyncio.sleep(settle)
        samples.append(memory(pid))
        print(_line(f"idle, {len(points)} points connected", samples[-1]), flush=True)
        ended = 0.0
        for number in range(1, rounds + 1):
            await asyncio.sleep(max(0.0, ended + GAP_SECONDS - time.monotonic()))
            started = time.monotonic()
            await _push(http, _batches(points, messages, number))
            sent = await _answered(dsn, number * messages)
            ended = time.monotonic()
            elapsed = ended - started
            await asyncio.sleep(settle)
            samples.append(memory(pid))
            label = f"after {number * messages:,} messages"
            print(
                f"{_line(label, samples[-1])}   ({elapsed:.0f} s, {messages / elapsed:.0f} messages/s; "
                f"{sent:,} replies SENT in all)",
                flush=True,
            )
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--points", type=int, default=200)
    parser.add_argument("--messages", type=int, default=100_000, help="messages per round")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of --messages (at least 2)")
    parser.add_argument("--settle", type=float, default=5.0, help="seconds of quiet before each measurement")
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL"))
    args = parser.parse_args()
    if not (1 <= args.points <= 999 and 2 <= args.rounds <= 99 and 1 <= args.messages <= 99_999 * args.points):
        parser.error("1 to 999 points, 2 to 99 rounds, 1 to 99,999 messages per point and round")
    print(
        f"memory benchmark: {args.points} linked points (simulator), {args.rounds} rounds of {args.messages:,} "
        f"messages from new customers, offline bot, {os.cpu_count()} CPUs"
    )
    with workspace(args.database_url) as space:
        points = asyncio.run(pipeline_points(space.dsn, space.directory / "auth", args.points))
        with serving(space) as (base, server):
            wait_until_ready(base, server)
            samples = asyncio.run(_run(base, server.pid, space.dsn, points, args.messages, args.rounds, args.settle))
    first, last = samples[1], samples[-1]
    between = args.messages * (args.rounds - 1)
    print(f"  growth, idle -> round 1      {(first['rss'] - samples[0]['rss']) / args.messages:8.1f} bytes/message")
    print(
        f"  growth, round 1 -> {args.rounds:<2d}        {(last['rss'] - first['rss']) / between:8.1f} bytes/message "
        f"(RSS; USS {(last.get('uss', 0) - first.get('uss', 0)) / between:.1f})"
    )


if __name__ == "__main__":
    main()

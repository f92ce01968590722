"""The model path: how many answers per second when the model takes its time, and what each turn costs us.

    .venv/bin/python bench/model.py [--conversations 200] [--turns 5] [--latency 1.0] [--database-url ...]

N customers of one branch talk to the bot at once, each like a person: the next message only after the reply to
the previous one reached the phone; they start over the first model latency, as independent people do. The bot is
the real openai SDK (its aiohttp transport) against a local OpenAI-compatible fake, run as its own process, that
answers every request after `--latency` seconds. With a 1 s model the ceiling is N answers per second. Printed:

- sustained answers/s: N divided by the mean time from one answer to the next within a conversation (model,
  server and the customer's turnaround), i.e. the rate while all N are under way, without the ramp at either end;
- overall answers/s: every answer over the whole run, ramp up and down included;
- p50/p99 from inbound stored to reply SENT, and the server's CPU per turn (the SDK's per-request work included).

Where the server's time goes (py-spy, 1,000 conversations, 2026-11-28): with the SDK's default httpx transport,
connection-pool bookkeeping and anyio/httpcore stream work were ~45 % of the server's CPU (5 to 7.5 ms per turn);
with the SDK's aiohttp transport and one client, what is left per turn is the SDK building each request (~0.35 ms:
request options, headers, URL parsing), SQLAlchemy parameter processing of the batched writes, and the event loop.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
import uuid
from collections import Counter, deque
from contextlib import ExitStack
from datetime import UTC, datetime

import asyncpg
import httpx
from harness import ADMIN, ROOT, cpu_seconds, link_points, percentile, serving, workspace
from tests.helpers import stop, wait_until_ready

BATCH = 100
POLL_SECONDS = 0.005  # how often the customers look at their phones
SETTLE_SECONDS = 1.0  # longer than any send takes to commit after drawing its seq
ARRIVAL_STEP = 0.01  # seconds between groups of customers starting


class _Phones:
    """What the customers' phones received from the point (the simulator's `simulator_sent`), new rows each call.

    Rows are read past a floor of `seq` that trails the newest one seen by `SETTLE_SECONDS`: a send that drew its
    `seq` before another but committed after it is still found, and `seen` keeps each row counted once."""

    def __init__(self, connection: asyncpg.Connection, point: str) -> None:
        self.connection, self.point = connection, point
        self.seen: set[int] = set()
        self.floor = 0
        self.newest: deque[tuple[float, int]] = deque()  # (when, the largest seq seen by then)

    async def received(self) -> list[str]:
        now = time.monotonic()
        while self.newest and now - self.newest[0][0] > SETTLE_SECONDS:
            self.floor = max(self.floor, self.newest.popleft()[1])
        rows = await self.connection.fetch(
            "SELECT seq, to_phone FROM simulator_sent WHERE service_point_id = $1 AND seq > $2",
            uuid.UUID(self.point),
            self.floor,
        )
        fresh = [row for row in rows if row["seq"] not in self.seen]
        self.seen.update(row["seq"] for row in fresh)
        self.seen = {seq for seq in self.seen if seq > self.floor}
        if fresh:
            self.newest.append((now, max(row["seq"] for row in fresh)))
        return [row["to_phone"] for row in fresh]


async def _converse(base: str, dsn: str, point: str, args: argparse.Namespace, server_pid: int) -> dict:
    conversations, turns = args.conversations, args.turns
    phones = [f"+5939{c:08d}" for c in range(conversations)]
    sent: Counter[str] = Counter()
    answered: Counter[str] = Counter()
    async with httpx.AsyncClient(base_url=base, timeout=120) as http:
        token = (await http.post("/api/auth/login", json=ADMIN)).json()["accessToken"]
        http.headers["Authorization"] = f"Bearer {token}"
        url = f"/api/service-points/{point}/simulator/inbound/batch"

        async def say(who: list[str]) -> None:
            for start in range(0, len(who), BATCH):
                batch = [
                    {"from": phone, "text": f"hola, pregunta {sent[phone]}", "messageId": f"C{phone[1:]}-{sent[phone]}"}
                    for phone in who[start : start + BATCH]
                ]
                for phone in who[start : start + BATCH]:
                    sent[phone] += 1
                response = await http.post(url, json=batch)
                assert response.status_code == 202, response.text

        async def arrive() -> None:
            """Customers start over one model latency, a few every 10 ms, as independent people do."""
            steps = max(1, int(args.latency / ARRIVAL_STEP))
            for step in range(steps):
                await say(phones[step * conversations // steps : (step + 1) * conversations // steps])
                await asyncio.sleep(ARRIVAL_STEP)

        connection = await asyncpg.connect(dsn)
        try:
            started, cpu_before = datetime.now(UTC), cpu_seconds(server_pid)
            arriving = asyncio.create_task(arrive())
            handsets = _Phones(connection, point)
            while sum(answered.values()) < conversations * turns:
                await asyncio.sleep(POLL_SECONDS)
                ready = []
                for to in await handsets.received():
                    answered[to] += 1
                    if sent[to] < turns and answered[to] >= sent[to]:
                        ready.append(to)
                if ready:
                    await say(ready)
            await arriving
            cpu = cpu_seconds(server_pid) - cpu_before
            while (
                await connection.fetchval(  # the last outcomes are recorded just after the phones got them
                    "SELECT count(*) FROM message WHERE sender_type = 'BOT' AND delivery_status = 'SENT'"
                )
                < conversations * turns
            ):
                await asyncio.sleep(POLL_SECONDS)
            last_sent = await connection.fetchval("SELECT max(sent_at) FROM message")
            latencies = sorted(
                row["ms"]
                for row in await connection.fetch(
                    "SELECT extract(epoch FROM o.sent_at - i.created_at) * 1000 AS ms FROM message i JOIN message o "
                    "ON o.conversation_id = i.conversation_id AND o.sender_type = 'BOT' AND o.timestamp = i.handled_at "
                    "WHERE i.direction = 'IN'"
                )
            )
            # Each conversation's time from one answer to the next (the customer's turnaround included): with N
            # conversations always under way, N over that mean is the rate they get, ramp up and down aside.
            cycle = await connection.fetchval(
                "SELECT avg(extract(epoch FROM last - first) / (n - 1)) FROM (SELECT min(sent_at) AS first, "
                "max(sent_at) AS last, count(*) AS n FROM message WHERE sender_type = 'BOT' "
                "GROUP BY conversation_id) AS c WHERE n > 1"
            )
        finally:
            await connection.close()
    answers = sum(answered.values())
    seconds = (last_sent - started).total_seconds()
    return {
        "answers": answers,
        "seconds": seconds,
        "per_second": answers / seconds,
        "sustained": conversations / float(cycle),
        "cycle_ms": 1000 * float(cycle),
        "cpu_ms_per_turn": 1000 * cpu / answers,
        "p50_ms": statistics.median(latencies),
        "p99_ms": percentile(latencies, 0.99),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--conversations", type=int, default=200, help="customers talking to the bot at once")
    parser.add_argument("--turns", type=int, default=5, help="messages per customer, each after the last reply")
    parser.add_argument("--latency", type=float, default=1.0, help="seconds the model takes per request")
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL"))
    args = parser.parse_args()
    with ExitStack() as stack:
        model = subprocess.Popen(  # its own process, like a real remote API
            [sys.executable, "-m", "tests.fakes.openai_server", "--delay", str(args.latency)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        stack.callback(stop, model)
        assert model.stdout is not None
        env = {"OPENAI_API_KEY": "bench-key", "OPENAI_BASE_URL": model.stdout.readline().strip()}
        space = stack.enter_context(workspace(args.database_url, **env))
        [point] = asyncio.run(link_points(space.dsn, space.directory / "auth", 1))
        with serving(space) as (base, server):
            wait_until_ready(base, server)
            figures = asyncio.run(_converse(base, space.dsn, point, args, server.pid))
    print(
        f"model benchmark: {args.conversations} conversations at once x {args.turns} turns, fake model answering in "
        f"{args.latency:.1f} s, {os.cpu_count()} CPUs"
    )
    answers, seconds, rate = figures["answers"], figures["seconds"], figures["per_second"]
    ceiling = args.conversations / args.latency
    print(
        f"  answers/s        {figures['sustained']:8.1f}   sustained: {args.conversations} conversations / "
        f"{figures['cycle_ms']:.0f} ms from one answer to the next (ceiling {ceiling:.0f}/s)"
    )
    print(f"                   {rate:8.1f}   overall ({answers} answers in {seconds:.1f} s, ramp up and down included)")
    print(f"  p50 / p99        {figures['p50_ms']:8.0f} / {figures['p99_ms']:.0f} ms  inbound stored -> reply SENT")
    print(f"  server CPU       {figures['cpu_ms_per_turn']:8.2f} ms per turn")


if __name__ == "__main__":
    main()

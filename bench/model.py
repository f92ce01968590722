"""The model path: how many answers per second when the model takes its time, and what each turn costs us.

    .venv/bin/python bench/model.py [--conversations 200] [--turns 3] [--latency 1.0] [--database-url ...]

N customers of one branch talk to the bot at once, each like a person: the next message only after the reply to
the previous one reached the phone. The bot is the real openai SDK against a local OpenAI-compatible fake, run as its
own process, that answers every request after `--latency` seconds. With a 1 s model the ceiling is N answers per
second; what is printed is how close we come, the latency from inbound stored to reply SENT, and the server's CPU
per turn (the SDK's per-request work included).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
from collections import Counter
from contextlib import ExitStack
from datetime import UTC, datetime

import asyncpg
import httpx
from harness import ADMIN, ROOT, cpu_seconds, link_points, percentile, serving, workspace
from tests.helpers import stop, wait_until_ready

BATCH = 100
POLL_SECONDS = 0.01


async def _converse(base: str, dsn: str, point: str, conversations: int, turns: int, server_pid: int) -> dict:
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

        connection = await asyncpg.connect(dsn)
        try:
            started, cpu_before = datetime.now(UTC), cpu_seconds(server_pid)
            await say(phones)
            while sum(answered.values()) < conversations * turns:
                await asyncio.sleep(POLL_SECONDS)
                rows = await connection.fetch(
                    "SELECT c.customer_phone, count(*) AS n FROM message m JOIN conversation c "
                    "ON c.id = m.conversation_id WHERE m.sender_type = 'BOT' AND m.delivery_status = 'SENT' "
                    "GROUP BY c.customer_phone"
                )
                ready = []
                for row in rows:
                    phone = row["customer_phone"]
                    if row["n"] > answered[phone]:
                        answered[phone] = row["n"]
                        if sent[phone] < turns and answered[phone] >= sent[phone]:
                            ready.append(phone)
                if ready:
                    await say(ready)
            cpu = cpu_seconds(server_pid) - cpu_before
            last_sent = await connection.fetchval("SELECT max(sent_at) FROM message")
            latencies = sorted(
                row["ms"]
                for row in await connection.fetch(
                    "SELECT extract(epoch FROM o.sent_at - i.created_at) * 1000 AS ms FROM message i JOIN message o "
                    "ON o.conversation_id = i.conversation_id AND o.sender_type = 'BOT' AND o.timestamp = i.handled_at "
                    "WHERE i.direction = 'IN'"
                )
            )
        finally:
            await connection.close()
    answers = sum(answered.values())
    seconds = (last_sent - started).total_seconds()
    return {
        "answers": answers,
        "seconds": seconds,
        "per_second": answers / seconds,
        "cpu_ms_per_turn": 1000 * cpu / answers,
        "p50_ms": statistics.median(latencies),
        "p99_ms": percentile(latencies, 0.99),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--conversations", type=int, default=200, help="customers talking to the bot at once")
    parser.add_argument("--turns", type=int, default=3, help="messages per customer, each after the last reply")
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
            figures = asyncio.run(_converse(base, space.dsn, point, args.conversations, args.turns, server.pid))
    print(
        f"model benchmark: {args.conversations} conversations at once x {args.turns} turns, fake model answering in "
        f"{args.latency:.1f} s, {os.cpu_count()} CPUs"
    )
    answers, seconds, rate = figures["answers"], figures["seconds"], figures["per_second"]
    ceiling = args.conversations / args.latency
    print(f"  answers/s        {rate:8.1f}   ({answers} answers in {seconds:.1f} s; ceiling {ceiling:.0f}/s)")
    print(f"  p50 / p99        {figures['p50_ms']:8.0f} / {figures['p99_ms']:.0f} ms  inbound stored -> reply SENT")
    print(f"  server CPU       {figures['cpu_ms_per_turn']:8.2f} ms per turn")


if __name__ == "__main__":
    main()

"""Start-up of many linked service points: seconds until all are CONNECTED, and API latency meanwhile.

    .venv/bin/python bench/sessions.py [--points 200] [--database-url postgresql+asyncpg://...]

Prepares N points whose simulator credentials exist (as after a previous run), starts `ventanilla serve` with the
simulator transport, and while the sessions resume it measures GET /health and GET /api/whatsapp/status.
Without --database-url it uses a fresh embedded PostgreSQL in a temporary directory; with it, give an empty
scratch database (the points are inserted there).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import time

import httpx
from harness import ADMIN, link_points, percentile, serving, workspace

SAMPLE_SECONDS = 5.0


async def _measure(base: str, points: int, server: subprocess.Popen[str], started: float) -> dict[str, float]:
    latencies: dict[str, list[float]] = {"/health": [], "/api/whatsapp/status": []}
    ready_at = connected_at = None
    async with httpx.AsyncClient(base_url=base, timeout=10) as http:
        while ready_at is None:
            if server.poll() is not None:
                raise SystemExit(f"server exited: {server.stdout.read() if server.stdout else ''}")
            try:
                if (await http.get("/ready")).status_code == 200:
                    ready_at = time.monotonic()
            except httpx.TransportError:
                await asyncio.sleep(0.05)
        token = (await http.post("/api/auth/login", json=ADMIN)).json()["accessToken"]
        headers = {"Authorization": f"Bearer {token}"}
        # sample while the sessions resume, and a little longer, so the figures cover the whole start-up
        while (
            connected_at is None or time.monotonic() - ready_at < SAMPLE_SECONDS
        ) and time.monotonic() - started < 300:
            for path in latencies:
                t0 = time.monotonic()
                response = await http.get(path, headers=headers)
                latencies[path].append((time.monotonic() - t0) * 1000)
                if path == "/api/whatsapp/status":
                    rows = response.json()
                    if connected_at is None and sum(row["status"] == "CONNECTED" for row in rows) == points:
                        connected_at = time.monotonic()
            await asyncio.sleep(0.01)
    if connected_at is None:
        raise SystemExit("not every point connected within 300 s")
    figures = {"ready_s": ready_at - started, "all_connected_s": connected_at - started}
    for path, values in latencies.items():
        figures[f"{path} p50 ms"] = statistics.median(values)
        figures[f"{path} p99 ms"] = percentile(values, 0.99)
        figures[f"{path} samples"] = len(values)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--points", type=int, default=200)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL"))
    args = parser.parse_args()
    with workspace(args.database_url) as space:
        asyncio.run(link_points(space.dsn, space.directory / "auth", args.points))
        started = time.monotonic()
        with serving(space) as (base, server):
            figures = asyncio.run(_measure(base, args.points, server, started))
    print(f"sessions benchmark: {args.points} linked points (simulator), {os.cpu_count()} CPUs")
    for name, value in figures.items():
        print(f"  {name:32s} {value:10.1f}" if isinstance(value, float) else f"  {name:32s} {value:10d}")


if __name__ == "__main__":
    main()

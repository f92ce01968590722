"""Stopping a background worker within a bound: its loop and the tasks it started get one shared deadline."""

from __future__ import annotations

import asyncio
from collections.abc import Collection


async def drain(loop_task: asyncio.Task[None], in_flight: Collection[asyncio.Task[None]], seconds: float) -> int:
    """Wait up to `seconds` for `loop_task` (already told to stop) and then for `in_flight`; cancel what is still
    running when the time is up. Returns how many tasks were abandoned."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    await asyncio.wait({loop_task}, timeout=seconds)
    if in_flight:
        await asyncio.wait(set(in_flight), timeout=max(0.0, deadline - loop.time()))
    late = [task for task in (loop_task, *in_flight) if not task.done()]
    for task in late:
        task.cancel()
    await asyncio.gather(*late, return_exceptions=True)
    return len(late)

"""A background job run every so often until stopped: the loop the maintenance workers share.

A round that fails is logged (one warning line while the database is away, a traceback otherwise) and tried again
after `retry_seconds`: the loop itself never dies. Stopping cancels the round in flight; each job's rounds are whole
transactions, so a cancelled one changes nothing and the next start picks its work up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from ventanilla.db.errors import describe, is_unavailable

Result = TypeVar("Result")


@dataclass(frozen=True)
class Schedule:
    first_run_seconds: float  # after start: let the service settle first
    every_seconds: float
    retry_seconds: float  # after a round that failed


class Periodic(Generic[Result]):
    def __init__(
        self,
        name: str,
        run_once: Callable[[], Awaitable[Result]],
        schedule: Schedule,
        log: logging.Logger,
        done: Callable[[Result], None] = lambda _: None,
    ) -> None:
        self.name = name  # of the task, and in the log lines
        self.log = log  # the job's own logger: its lines say which module failed
        self.run_once = run_once
        self.schedule = schedule
        self.done = done  # told each round's result (to log what it did)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        wait = self.schedule.first_run_seconds
        while True:
            await asyncio.sleep(wait)
            wait = self.schedule.every_seconds
            try:
                result = await self.run_once()
            except Exception as exc:
                wait = self.schedule.retry_seconds
                if is_unavailable(exc):
                    self.log.warning("%s waits for the database (%s)", self.name, describe(exc))
                else:
                    self.log.exception("%s failed; trying again in %.0f s", self.name, wait)
                continue
            self.done(result)

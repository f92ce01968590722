"""Group commit for hot paths: concurrent callers' items are written together, each caller awaits its own result.

The first item is written at once (no added latency); whatever arrives while a write is running goes into the
next one. Under load a single transaction carries hundreds of messages instead of one each, which is what lets a
2-core machine keep up with many branches at once.

Grouping must never tie callers' fates together. When a write fails because of what some items hold (`isolate`
says so, e.g. a row the database refuses), the batch is split in halves and each half written again, down to
single items, so the good items are stored and only the bad one's caller sees the error: a poison row costs its
batch about 2·log2(n) extra transactions, not everyone's data. Any other failure (the database is away) reaches
every caller of the batch, and each decides what to do with its own item.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


def _never(_: BaseException) -> bool:
    return False


class MicroBatcher(Generic[Item, Result]):
    def __init__(
        self,
        write: Callable[[list[Item]], Awaitable[Sequence[Result]]],
        max_size: int = 500,
        isolate: Callable[[BaseException], bool] = _never,
    ) -> None:
        self._write = write
        self._max_size = max_size
        self._isolate = isolate
        self._waiting: list[tuple[Item, asyncio.Future[Result]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def submit(self, item: Item) -> Result:
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, future))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        batch: list[tuple[Item, asyncio.Future[Result]]] = []
        try:
            while self._waiting:
                batch, self._waiting = self._waiting[: self._max_size], self._waiting[self._max_size :]
                await self._settle(batch)
        except BaseException as exc:  # cancelled at shutdown: nobody may wait forever for a write that is gone
            for _, future in batch:
                if not future.done():
                    future.set_exception(asyncio.CancelledError() if isinstance(exc, asyncio.CancelledError) else exc)
            raise

    async def _settle(self, batch: list[tuple[Item, asyncio.Future[Result]]]) -> None:
        """Write `batch`; on an isolatable failure, split it until each bad item fails alone."""
        try:
            results = await self._write([item for item, _ in batch])
        except Exception as exc:
            if len(batch) > 1 and self._isolate(exc):
                middle = len(batch) // 2
                await self._settle(batch[:middle])
                await self._settle(batch[middle:])
                return
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for (_, future), result in zip(batch, results, strict=True):
            if not future.done():
                future.set_result(result)

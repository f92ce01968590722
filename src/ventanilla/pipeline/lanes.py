"""Lanes: one conversation at a time, in order, and bot turns shared fairly across branches.

Each conversation has a FIFO lane. A lane takes *everything* waiting in it as one turn, so messages a customer
sends while the bot is still answering are answered together (Evolution calls this debounce), and one customer
typing fast costs one model call per burst instead of one per line.

Turns run concurrently up to a number of slots (each slot is a conversation waiting on the model). Slots are shared
across service points: one point may hold at most `total - reserve`, so a branch flooded with conversations, or
whose conversations make the model slow, always leaves `reserve` slots for the others; when slots free up, points
with waiting turns are served in turn (round-robin), not in the order their turns arrived.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from uuid import UUID

logger = logging.getLogger(__name__)

TurnWork = Callable[[UUID, UUID, tuple[UUID, ...]], Awaitable[None]]  # (point, conversation, message ids)


class FairSlots:
    def __init__(self, total: int, reserve: int) -> None:
        if not 0 <= reserve < total:
            raise ValueError("the reserve must leave at least one slot to a point")
        self.total = total
        self.per_point = total - reserve
        self._in_use = 0
        self._held: dict[UUID, int] = {}
        self._waiting: OrderedDict[UUID, deque[asyncio.Future[None]]] = OrderedDict()  # round-robin order

    @property
    def in_use(self) -> int:
        return self._in_use

    def held_by(self, point_id: UUID) -> int:
        return self._held.get(point_id, 0)

    def slot(self, point_id: UUID) -> AbstractAsyncContextManager[None]:
        """`async with slots.slot(point):` one slot for the point while inside."""
        return _Slot(self, point_id)

    async def _acquire(self, point_id: UUID) -> None:
        if point_id not in self._waiting and self._grantable(point_id):
            self._take(point_id)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(point_id, deque()).append(future)
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():  # granted just as we were cancelled: give it back
                self._release(point_id)
            else:
                self._forget(point_id, future)
            raise

    def _grantable(self, point_id: UUID) -> bool:
        return self._in_use < self.total and self._held.get(point_id, 0) < self.per_point

    def _take(self, point_id: UUID) -> None:
        self._in_use += 1
        self._held[point_id] = self._held.get(point_id, 0) + 1

    def _release(self, point_id: UUID) -> None:
        self._in_use -= 1
        held = self._held[point_id] - 1
        if held:
            self._held[point_id] = held
        else:
            del self._held[point_id]
        self._grant_waiting()

    def _grant_waiting(self) -> None:
        """Serve waiting points in turn: each gets one slot, then goes to the back of the line."""
        for point_id in list(self._waiting):
            if self._in_use >= self.total:
                return
            if not self._grantable(point_id):
                continue
            queue = self._waiting.pop(point_id)
            future = queue.popleft()
            if queue:
                self._waiting[point_id] = queue  # back of the round-robin line
            self._take(point_id)
            future.set_result(None)

    def _forget(self, point_id: UUID, future: asyncio.Future[None]) -> None:
        queue = self._waiting.get(point_id)
        if queue is not None and future in queue:
            queue.remove(future)
            if not queue:
                del self._waiting[point_id]


class _Slot:
    """The context manager of one slot: a plain object, since thousands may wait at once under a burst."""

    __slots__ = ("_point_id", "_slots")

    def __init__(self, slots: FairSlots, point_id: UUID) -> None:
        self._slots, self._point_id = slots, point_id

    async def __aenter__(self) -> None:
        await self._slots._acquire(self._point_id)

    async def __aexit__(self, *_: object) -> None:
        self._slots._release(self._point_id)


class Lanes:
    def __init__(self, work: TurnWork) -> None:
        self.work = work
        # Kept small per conversation: under a burst, every new customer's lane waits here for a slot.
        self._queues: dict[UUID, list[UUID]] = {}  # the messages waiting in each lane, oldest first
        self._known: set[UUID] = set()  # message ids queued or in a turn now, all lanes together: never twice
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False

    def __len__(self) -> int:
        """Conversations with a turn waiting or running."""
        return len(self._queues)

    def submit(self, point_id: UUID, conversation_id: UUID, message_id: UUID) -> bool:
        """Queue the message; False when its lane already has it (or the lanes are closed)."""
        if self._closed or message_id in self._known:
            return False
        self._known.add(message_id)
        queue = self._queues.get(conversation_id)
        if queue is not None:
            queue.append(message_id)
            return True
        self._queues[conversation_id] = [message_id]
        task = asyncio.create_task(self._drain(point_id, conversation_id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return True

    async def _drain(self, point_id: UUID, conversation_id: UUID) -> None:
        queue = self._queues[conversation_id]
        turn: tuple[UUID, ...] = ()
        try:
            while queue and not self._closed:
                turn = tuple(queue)
                queue.clear()
                try:
                    await self.work(point_id, conversation_id, turn)
                except Exception:  # the messages stay unhandled; the sweep takes them again later
                    logger.exception("conversation %s: a bot turn failed", conversation_id)
                self._known.difference_update(turn)
                turn = ()
        finally:  # done, closed or cancelled: whatever is left may be submitted again (the next start resumes it)
            del self._queues[conversation_id]
            self._known.difference_update(turn)
            self._known.difference_update(queue)

    async def drain(self, seconds: float) -> None:
        """Take nothing new; let the turn in hand of each lane finish within `seconds`."""
        self._closed = True
        if not self._tasks:
            return
        _, pending = await asyncio.wait(set(self._tasks), timeout=seconds)
        for task in pending:
            task.cancel()
        if pending:
            logger.warning(
                "%d conversations were still with the bot at shutdown; they resume at next start", len(pending)
            )

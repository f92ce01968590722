"""Lanes, fair slots, the per-customer limit and group commit's isolation, each on its own."""

from __future__ import annotations

import asyncio
from uuid import UUID, uuid4

import pytest

from ventanilla.batching import MicroBatcher
from ventanilla.pipeline.lanes import FairSlots, Lanes
from ventanilla.pipeline.limits import CustomerLimiter, Verdict


async def test_a_flooding_point_cannot_take_the_reserved_slots() -> None:
    slots = FairSlots(total=8, reserve=2)
    flood, quiet = uuid4(), uuid4()
    release = asyncio.Event()

    async def hold(point: UUID) -> None:
        async with slots.slot(point):
            await release.wait()

    flooding = [asyncio.create_task(hold(flood)) for _ in range(50)]
    await asyncio.sleep(0.01)
    assert slots.held_by(flood) == 6 and slots.in_use == 6  # two slots stay free for everybody else
    served = asyncio.create_task(hold(quiet))
    await asyncio.sleep(0.01)
    assert slots.held_by(quiet) == 1  # at once, not after the flood
    release.set()
    await asyncio.gather(*flooding, served)
    assert slots.in_use == 0


async def test_freed_slots_go_round_robin_to_waiting_points() -> None:
    slots = FairSlots(total=2, reserve=0)
    a, b = uuid4(), uuid4()
    order: list[UUID] = []
    gates = [asyncio.Event() for _ in range(2)]

    async def turn(point: UUID, gate: asyncio.Event | None = None) -> None:
        async with slots.slot(point):
            order.append(point)
            if gate is not None:
                await gate.wait()

    first = [asyncio.create_task(turn(a, gate)) for gate in gates]  # a holds both slots
    await asyncio.sleep(0.01)
    waiting = [asyncio.create_task(turn(a)) for _ in range(5)] + [asyncio.create_task(turn(b))]
    await asyncio.sleep(0.01)
    gates[0].set()
    gates[1].set()
    await asyncio.gather(*first, *waiting)
    assert order.index(b) <= 3  # b waited behind one of a's turns at most, not behind all five


async def test_a_cancelled_waiter_gives_nothing_away() -> None:
    slots = FairSlots(total=1, reserve=0)
    point = uuid4()
    gate = asyncio.Event()

    async def hold() -> None:
        async with slots.slot(point):
            await gate.wait()

    holder = asyncio.create_task(hold())
    await asyncio.sleep(0)
    waiter = asyncio.create_task(hold())
    await asyncio.sleep(0)
    waiter.cancel()
    gate.set()
    await holder
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert slots.in_use == 0


async def test_messages_arriving_during_a_turn_are_answered_together() -> None:
    turns: list[tuple[UUID, ...]] = []
    thinking = asyncio.Event()
    answer = asyncio.Event()

    async def work(point: UUID, conversation: UUID, messages: tuple[UUID, ...]) -> None:
        turns.append(messages)
        thinking.set()
        await answer.wait()

    lanes = Lanes(work)
    point, conversation = uuid4(), uuid4()
    ids = [uuid4() for _ in range(4)]
    assert lanes.submit(point, conversation, ids[0])
    await thinking.wait()
    for message in ids[1:]:
        assert lanes.submit(point, conversation, message)
    assert not lanes.submit(point, conversation, ids[2])  # already waiting
    assert not lanes.submit(point, conversation, ids[0])  # in the turn now
    answer.set()
    while len(lanes):
        await asyncio.sleep(0.001)
    assert turns == [(ids[0],), tuple(ids[1:])]


async def test_lanes_keep_nothing_of_conversations_they_are_done_with() -> None:
    failing = uuid4()

    async def work(point: UUID, conversation: UUID, messages: tuple[UUID, ...]) -> None:
        await asyncio.sleep(0)
        if conversation == failing:
            raise RuntimeError("the turn failed")

    lanes = Lanes(work)
    point = uuid4()
    done = [(uuid4(), uuid4()) for _ in range(1000)] + [(failing, uuid4())]
    for conversation, message in done:
        assert lanes.submit(point, conversation, message)
    while len(lanes):
        await asyncio.sleep(0.001)
    assert not lanes._queues and not lanes._known  # memory follows the conversations in hand, not all seen
    conversation, message = done[-1]
    assert lanes.submit(point, conversation, message)  # a failed turn's message is taken again (the sweep)
    await lanes.drain(1)


def test_a_customer_gets_turns_then_one_hold_then_a_person() -> None:
    now = [0.0]
    limiter = CustomerLimiter(turns=3, window_seconds=60, clock=lambda: now[0])
    customer = uuid4()
    verdicts = [limiter.verdict(customer) for _ in range(5)]
    assert verdicts == [Verdict.ANSWER] * 3 + [Verdict.HOLD, Verdict.HANDOFF]
    assert limiter.verdict(uuid4()) is Verdict.ANSWER  # another customer is not affected
    now[0] = 61.0
    assert limiter.verdict(customer) is Verdict.ANSWER  # a new window


def test_the_limiter_forgets_conversations_quiet_for_a_whole_window() -> None:
    now = [0]
    limiter = CustomerLimiter(turns=2, window_seconds=60, clock=lambda: now[0])
    for second in range(120):  # a new customer every second for two minutes
        now[0] = second
        assert limiter.verdict(uuid4()) is Verdict.ANSWER
    assert len(limiter) == 60  # the last minute's, not everybody ever seen
    regular = uuid4()
    now[0] = 200
    assert [limiter.verdict(regular) for _ in range(3)] == [Verdict.ANSWER, Verdict.ANSWER, Verdict.HOLD]
    now[0] = 259
    assert limiter.verdict(uuid4()) is Verdict.ANSWER
    assert len(limiter) == 2  # the others were quiet since 119; the regular one, still in its window, is kept
    assert limiter.verdict(regular) is Verdict.HANDOFF  # ... so its pace still counts
    now[0] = 400
    assert limiter.verdict(regular) is Verdict.ANSWER  # a new window
    assert len(limiter) == 1


async def test_a_poison_item_fails_alone_and_the_rest_of_its_batch_is_written() -> None:
    written: list[list[int]] = []

    class Refused(Exception):
        pass

    async def write(items: list[int]) -> list[int]:
        if 13 in items:
            raise Refused
        written.append(items)
        return [item * 2 for item in items]

    batcher: MicroBatcher[int, int] = MicroBatcher(write, isolate=lambda error: isinstance(error, Refused))
    results = await asyncio.gather(*(batcher.submit(i) for i in range(100)), return_exceptions=True)
    assert isinstance(results[13], Refused)
    assert [r for i, r in enumerate(results) if i != 13] == [2 * i for i in range(100) if i != 13]
    assert len(written) <= 2 * 7 + 1  # split in halves: about 2·log2(n) writes, not one per item


async def test_a_failure_that_is_not_about_the_items_reaches_every_caller_without_splitting() -> None:
    calls = 0

    async def write(items: list[int]) -> list[int]:
        nonlocal calls
        calls += 1
        raise ConnectionError

    batcher: MicroBatcher[int, int] = MicroBatcher(write, isolate=lambda error: False)
    results = await asyncio.gather(*(batcher.submit(i) for i in range(50)), return_exceptions=True)
    assert all(isinstance(r, ConnectionError) for r in results) and calls == 1

"""The outbox of one point: order, retries, failures, waiting for the socket, graceful stop."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from tests.delivery.conftest import Outbox
from tests.whatsapp.conftest import eventually
from ventanilla.db.models import DeliveryStatus, Message
from ventanilla.whatsapp.transport import TransportError


async def test_waits_for_the_point_then_sends_in_order(outbox: Outbox) -> None:
    point = await outbox.point("Envíos")
    worker = outbox.start()
    ids = await outbox.queue(point, "+593991111111", "uno", "dos", "tres")
    worker.notify()
    await asyncio.sleep(0.2)
    assert outbox.sender.delivered == [] and outbox.sender.attempts == {}  # unlinked: waiting is not an attempt
    assert [s for s, _, _ in await outbox.status(ids)] == ["PENDING"] * 3
    outbox.sender.up.add(point)
    await eventually(lambda: outbox.sent(ids), what="three sent")
    assert outbox.sender.texts() == ["uno", "dos", "tres"]
    assert await outbox.status(ids) == [("SENT", 1, None)] * 3
    assert [e.delivery_status for e in outbox.published] == ["SENT"] * 3


async def test_transient_failures_are_retried_and_keep_the_order(outbox: Outbox) -> None:
    point = await outbox.point("Envíos")
    outbox.sender.up.add(point)
    outbox.start()
    outbox.sender.script["primero"] = [TransportError("timeout"), TransportError("timeout")]
    ids = await outbox.queue(point, "+593991111111", "primero", "segundo")
    await eventually(lambda: outbox.sent(ids), what="both sent")
    assert outbox.sender.texts() == ["primero", "segundo"]  # never overtaken
    assert await outbox.status(ids) == [("SENT", 3, None), ("SENT", 1, None)]
    assert [o for _, o in outbox.metrics.outcomes] == ["retry", "retry", "sent", "sent"]


async def test_gives_up_after_the_last_attempt_and_retry_sends_it(outbox: Outbox) -> None:
    point = await outbox.point("Envíos")
    outbox.sender.up.add(point)
    worker = outbox.start()
    outbox.sender.script["nunca"] = [TransportError("websocket not connected")] * 3
    outbox.sender.script["número inválido"] = [TransportError("not on WhatsApp", permanent=True)]
    [never] = await outbox.queue(point, "+593991111111", "nunca")
    [invalid] = await outbox.queue(point, "+593992222222", "número inválido")

    async def both_failed() -> bool:
        return [s for s, _, _ in await outbox.status([never, invalid])] == ["FAILED", "FAILED"]

    await eventually(both_failed, what="FAILED")
    assert await outbox.status([never, invalid]) == [
        ("FAILED", 3, "websocket not connected"),
        ("FAILED", 1, "not on WhatsApp"),  # permanent: no second attempt
    ]
    assert {e.delivery_status for e in outbox.published} == {"FAILED"}
    async with outbox.sessions() as session, session.begin():  # what POST .../retry does
        message = await session.get(Message, never)
        assert message is not None
        message.delivery_status, message.attempts = DeliveryStatus.PENDING, 0
        message.next_attempt_at = datetime.now(UTC)
    worker.notify()
    await eventually(lambda: outbox.sent([never]), what="sent after retry")
    assert await outbox.status([never]) == [("SENT", 1, None)]
    assert outbox.sender.texts() == ["nunca"]


async def test_one_conversation_waiting_does_not_hold_others(outbox: Outbox) -> None:
    point = await outbox.point("Envíos")
    outbox.sender.up.add(point)
    outbox.sender.script["lento"] = [TransportError("timeout")] * 2
    ids = await outbox.queue(point, "+593991111111", "lento", "después del lento")
    ids += await outbox.queue(point, "+593992222222", "otro cliente")
    outbox.start()
    await eventually(lambda: outbox.sent(ids), what="all sent")
    order = outbox.sender.texts()
    assert order.index("otro cliente") < order.index("lento") < order.index("después del lento")


async def test_stop_lets_the_send_in_flight_finish(outbox: Outbox) -> None:
    point = await outbox.point("Envíos")
    outbox.sender.up.add(point)
    ids = await outbox.queue(point, "+593991111111", "m0")
    original = outbox.sender.send_text

    async def slow(*args: object) -> str:
        await asyncio.sleep(0.3)
        return await original(*args)  # type: ignore[arg-type]

    outbox.sender.send_text = slow  # type: ignore[method-assign]
    worker = outbox.start()
    await asyncio.sleep(0.1)
    await worker.stop()  # while the send is in flight
    assert await outbox.status(ids) == [("SENT", 1, None)]  # sent and recorded, not lost in between

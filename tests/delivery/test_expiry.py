"""Replies that waited too long for their point are not sent late: FAILED with a reason, and retryable."""

from __future__ import annotations

from datetime import timedelta

from tests.delivery.conftest import Outbox
from tests.whatsapp.conftest import eventually
from ventanilla.db.models import Message
from ventanilla.inbox.services import InboxService

REASON = "No se envió: el punto estuvo desvinculado más de 1 h. Reintenta si aún corresponde."
LONG_AGO = timedelta(hours=2)


async def test_stale_replies_fail_while_unlinked_and_can_be_retried(outbox: Outbox) -> None:
    point = await outbox.point("Sin vincular")
    worker = outbox.start(max_wait_hours=1, expire_every_seconds=0.05)
    [stale_a, stale_b] = await outbox.flood(point, 2, 2, prefix="viejo", ago=LONG_AGO)
    fresh = await outbox.queue(point, "+593991111111", "reciente")
    stale = stale_a + stale_b

    async def expired() -> bool:
        return all(status == "FAILED" for status, _, _ in await outbox.status(stale))

    await eventually(expired, what="the stale replies FAILED while the point is unlinked")
    assert await outbox.status(stale) == [("FAILED", 0, REASON)] * 4  # not attempts
    assert await outbox.status(fresh) == [("PENDING", 0, None)]
    assert outbox.sender.attempts == {}
    assert sorted(outbox.metrics.outcomes) == [(point, "expired")] * 4
    assert sorted(e.message_id for e in outbox.published if e.delivery_status == "FAILED") == sorted(stale)

    async with outbox.sessions() as session, session.begin():  # the agent retries one: due now, fresh again
        message = await session.get(Message, stale_b[0])
        assert message is not None
        await InboxService(session).retry(point, message.conversation_id, message.id)
    outbox.sender.up.add(point)
    worker.notify()
    await eventually(lambda: outbox.sent([*fresh, stale_b[0]]), what="the retried and the fresh reply SENT")
    assert sorted(outbox.sender.texts()) == ["reciente", "viejo1-0"]
    assert [s for s, _, _ in await outbox.status(stale_a + stale_b[1:])] == ["FAILED"] * 3


async def test_relinking_never_sends_a_stale_reply(outbox: Outbox) -> None:
    point = await outbox.point("Recién vinculado")
    [[stale]] = await outbox.flood(point, 1, 1, prefix="viejo", ago=LONG_AGO)
    behind = await outbox.queue(point, await outbox.phone_of(stale), "detrás")
    outbox.sender.up.add(point)
    worker = outbox.start(max_wait_hours=1, expire_every_seconds=3600)  # only the step at start
    await eventually(lambda: outbox.sent(behind), what="the fresh reply behind the expired one SENT")
    assert await outbox.status([stale]) == [("FAILED", 0, REASON)]

    [[late]] = await outbox.flood(point, 1, 1, prefix="tarde", ago=LONG_AGO)
    after_late = await outbox.queue(point, await outbox.phone_of(late), "detrás del tarde")
    other = await outbox.queue(point, "+593991111111", "otro cliente")
    await eventually(lambda: outbox.sent(other), what="another conversation's reply SENT")
    assert outbox.sender.attempts["tarde0-0"] == 0  # a stale head is not picked...
    assert outbox.sender.attempts["detrás del tarde"] == 0  # ...and the conversation keeps its order
    assert await worker.expire_stale() == 1
    assert await outbox.status([late]) == [("FAILED", 0, REASON)]
    worker.notify()
    await eventually(lambda: outbox.sent(after_late), what="the reply behind it SENT")
    assert outbox.sender.texts() == ["detrás", "otro cliente", "detrás del tarde"]

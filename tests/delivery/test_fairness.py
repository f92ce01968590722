"""Each point's replies leave independently of other points' backlogs, links and hung sends."""

from __future__ import annotations

from collections import defaultdict
from uuid import UUID

from tests.delivery.conftest import HANG, Outbox
from tests.whatsapp.conftest import eventually
from ventanilla.db.models import DeliveryStatus
from ventanilla.whatsapp.transport import TransportError


async def test_an_unlinked_backlog_never_delays_a_connected_point(outbox: Outbox) -> None:
    unlinked, connected = await outbox.point("Sin vincular"), await outbox.point("Conectado")
    await outbox.flood(unlinked, 1500, 1, prefix="atrasado", low_ids_from=1)
    outbox.sender.up.add(connected)
    worker = outbox.start()
    reply = await outbox.queue(connected, "+593991111111", "respuesta")
    await eventually(lambda: outbox.sent(reply), what="the connected point's reply SENT")
    await worker.stop()  # a restart finds the same backlog in front of it
    outbox.start()
    second = await outbox.queue(connected, "+593991111111", "otra respuesta")
    await eventually(lambda: outbox.sent(second), what="the reply after a restart SENT")
    assert outbox.sender.attempts_by_point[unlinked] == 0
    assert await outbox.count(unlinked, DeliveryStatus.PENDING, attempted=False) == 1500

    outbox.sender.up.add(unlinked)  # linked again: the backlog starts leaving, oldest first, each message once

    async def leaving() -> bool:
        return await outbox.count(unlinked, DeliveryStatus.SENT) >= 100

    await eventually(leaving, what="the backlog leaving")
    texts = outbox.sender.texts(unlinked)
    assert len(texts) == len(set(texts))
    assert set(texts[:16]) <= {f"atrasado{c}-0" for c in range(32)}


async def test_a_flooded_point_does_not_delay_a_quiet_one(outbox: Outbox) -> None:
    flooded, quiet = await outbox.point("Inundado"), await outbox.point("Tranquilo")
    await outbox.flood(flooded, 1000, 3, prefix="ola", low_ids_from=1)
    first = await outbox.queue(quiet, "+593991111111", "primera")
    outbox.sender.up |= {flooded, quiet}
    worker = outbox.start(in_flight_per_point=4)
    await eventually(lambda: outbox.sent(first), what="the quiet point's first reply SENT")
    assert _flooded_before(outbox, quiet, "primera") <= 4  # it left with the flooded point's first sends

    sent_then = len(outbox.sender.delivered)
    second = await outbox.queue(quiet, "+593991111111", "segunda")
    worker.notify()
    await eventually(lambda: outbox.sent(second), what="the quiet point's second reply SENT")
    # Meanwhile the flooded point had only its own slots (4): in flight, started by the step that could not see the
    # new reply yet, and started beside it.
    assert _flooded_before(outbox, quiet, "segunda") - sent_then <= 3 * 4
    assert await outbox.count(flooded, DeliveryStatus.PENDING) > 2000  # far from drained


def _flooded_before(outbox: Outbox, quiet: UUID, text: str) -> int:
    delivered = [(point, t) for point, _, t, _ in outbox.sender.delivered]
    return delivered.index((quiet, text))


async def test_a_hung_send_holds_only_its_own_conversation(outbox: Outbox) -> None:
    hung, other = await outbox.point("Colgado"), await outbox.point("Otro")
    outbox.sender.up |= {hung, other}
    outbox.sender.script["colgado"] = [HANG]
    stuck = await outbox.queue(hung, "+593991111111", "colgado", "tras el colgado")
    elsewhere = await outbox.queue(hung, "+593992222222", "mismo punto, otro cliente")
    others = await outbox.queue(other, "+593993333333", "o1", "o2", "o3")
    outbox.start(send_timeout_seconds=60)
    await eventually(lambda: outbox.sent(others + elsewhere), what="the other sends SENT")
    assert outbox.sender.texts(other) == ["o1", "o2", "o3"]
    assert outbox.sender.hanging == {"colgado"}
    assert outbox.sender.attempts["tras el colgado"] == 0  # its conversation waits for the hung one
    assert await outbox.status(stuck) == [("PENDING", 0, None)] * 2


async def test_a_hung_send_times_out_into_a_retry(outbox: Outbox) -> None:
    point = await outbox.point("Colgado")
    outbox.sender.up.add(point)
    outbox.sender.script["colgado una vez"] = [HANG]
    outbox.sender.script["siempre colgado"] = [HANG] * 3
    retried = await outbox.queue(point, "+593991111111", "colgado una vez", "después")
    [given_up] = await outbox.queue(point, "+593992222222", "siempre colgado")
    outbox.start(send_timeout_seconds=0.3)

    async def done() -> bool:
        return await outbox.sent(retried) and (await outbox.status([given_up]))[0][0] == "FAILED"

    await eventually(done, what="one retried and SENT, one FAILED after three timeouts")
    assert await outbox.status(retried) == [("SENT", 2, None), ("SENT", 1, None)]
    assert await outbox.status([given_up]) == [("FAILED", 3, "WhatsApp no confirmó el envío en 0,3 s")]
    assert outbox.sender.texts() == ["colgado una vez", "después"]


async def test_many_points_each_message_once_and_in_order(outbox: Outbox) -> None:
    points = [await outbox.point(f"Punto {n}") for n in range(3)]
    queued = {point: await outbox.flood(point, 20, 4, prefix=f"p{n}-") for n, point in enumerate(points)}
    for n in range(3):
        for c in range(0, 20, 3):  # some conversations fail once in the middle, others are slow to send
            outbox.sender.script[f"p{n}-{c}-1"] = [TransportError("timeout")]
            outbox.sender.script[f"p{n}-{c + 1}-0"] = [0.1]
    outbox.sender.up |= set(points)
    outbox.start(in_flight_per_point=3)
    every = [mid for conversations in queued.values() for ids in conversations for mid in ids]
    await eventually(lambda: outbox.sent(every), timeout=20, what="all 240 SENT")
    provider_ids = [pid for _, _, _, pid in outbox.sender.delivered]
    assert len(provider_ids) == len(set(provider_ids)) == 240  # once each
    by_conversation: dict[str, list[str]] = defaultdict(list)
    for _, phone, text, _ in outbox.sender.delivered:
        by_conversation[phone].append(text)
    assert all(texts == sorted(texts, key=lambda t: int(t.rsplit("-", 1)[1])) for texts in by_conversation.values())
    assert outbox.sender.overlaps == 0  # never two sends of one conversation in flight

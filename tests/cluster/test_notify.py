"""NotifyHub against the real server: notifications go out in order and in batches, survive killed connections and
a database that refuses connections, and carry live events between replicas without echo.

Each test has its own database (`database_url`), so the hubs' connections can be told apart in pg_stat_activity
by database and application_name; channels are named after the test as well.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from uuid import uuid4

import asyncpg
import msgspec
import pytest
from litestar import Litestar
from sqlalchemy.engine import URL, make_url

from tests.outage import Outage
from tests.whatsapp.conftest import eventually
from ventanilla.cluster import notify
from ventanilla.cluster.notify import LISTEN_APPLICATION, NOTIFY_APPLICATION, NotifyHub, asyncpg_dsn
from ventanilla.live.events import Typing
from ventanilla.live.publisher import LivePublisher, build_channels, channel_of

Hubs = Callable[..., NotifyHub]


@pytest.fixture
def channel(request: pytest.FixtureRequest) -> str:
    return f"vt_{request.node.name}"[: notify.MAX_CHANNEL_BYTES]


@pytest.fixture
async def hubs(database_url: str) -> AsyncIterator[Hubs]:
    """Make hubs on the test database (started by the test); every one is stopped afterwards."""
    made: list[NotifyHub] = []

    def make(**options: float) -> NotifyHub:
        made.append(NotifyHub(database_url, **options))
        return made[-1]

    yield make
    for hub in made:
        await hub.stop()


Terminate = Callable[[str], Awaitable[int]]


@pytest.fixture
def terminate(pg_server: URL, database_url: str) -> Terminate:
    """pg_terminate_backend on the test database's connections named `application`; how many there were."""

    async def run(application: str) -> int:
        connection = await asyncpg.connect(asyncpg_dsn(pg_server.render_as_string(hide_password=False)))
        try:
            return await connection.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = $1 AND application_name = $2",
                make_url(database_url).database,
                application,
            )
        finally:
            await connection.close()

    return run


async def _until(check: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    async def holds() -> bool:
        return check()

    await eventually(holds, timeout=timeout, what=what)


async def test_notifications_arrive_in_order_in_few_round_trips(hubs: Hubs, channel: str) -> None:
    sender, receiver = hubs(), hubs()
    received: list[str] = []
    receiver.listen(channel, received.append)
    await receiver.start()
    await sender.start()
    rounds = 0
    send_one_round = sender._send

    async def counted(channels: list[str], payloads: list[str]) -> None:
        nonlocal rounds
        rounds += 1
        await send_one_round(channels, payloads)

    sender._send = counted  # type: ignore[method-assign]
    sent = [f"payload {number}" for number in range(3000)] + ["same"] * 3  # PostgreSQL merges repeats in a batch
    for payload in sent:
        sender.notify(channel, payload)
    await _until(lambda: len(received) >= len(sent), "every notification")
    assert received == sent
    assert rounds <= 10  # 1000 a batch at most, and a batch stops before a repeat


async def test_a_channel_registered_after_start_is_listened_to_at_once(hubs: Hubs, channel: str) -> None:
    sender, receiver = hubs(), hubs()
    await receiver.start()
    received: list[str] = []
    receiver.listen(channel, received.append)

    async def heard() -> bool:
        await sender.notify_now(channel, "probe")
        return bool(received)

    await eventually(heard, what="the late LISTEN")


async def test_the_listener_comes_back_after_pg_terminate_backend(
    hubs: Hubs, channel: str, terminate: Terminate, caplog: pytest.LogCaptureFixture
) -> None:
    sender, receiver = hubs(), hubs(reconnect_max_seconds=0.2)
    received: list[str] = []
    connections: list[bool] = []
    receiver.listen(channel, received.append)
    receiver.listen(channel, lambda _: 1 / 0)  # a failing listener takes nothing down
    receiver.on_reconnect(lambda: connections.append(receiver.connected))
    await receiver.start()
    await sender.start()
    assert receiver.connected and connections == [True]
    await sender.notify_now(channel, "before")
    await _until(lambda: received == ["before"], "the first notification")

    assert await terminate(LISTEN_APPLICATION) == 2  # both hubs listen (the sender on nothing): both come back
    await _until(lambda: len(connections) == 2, "the reconnection")
    assert connections == [True, True]  # told once LISTEN was in place again
    for number in range(5):
        sender.notify(channel, f"after {number}")
    await _until(lambda: len(received) == 6, "the notifications after the reconnection")
    assert received == ["before"] + [f"after {number}" for number in range(5)]
    assert "a listener of" in caplog.text and "ZeroDivisionError" in caplog.text


async def test_notifications_keep_going_out_after_the_sending_connection_is_killed(
    hubs: Hubs, channel: str, terminate: Terminate
) -> None:
    sender, receiver = hubs(reconnect_max_seconds=0.2), hubs()
    received: list[str] = []
    receiver.listen(channel, received.append)
    await receiver.start()
    await sender.start()
    await sender.notify_now(channel, "payload first")  # the sending connection is open
    sent = [f"payload {number}" for number in range(4000)]
    killing: asyncio.Task[int] | None = None
    for start in range(0, len(sent), 100):
        for payload in sent[start : start + 100]:
            sender.notify(channel, payload)
        await asyncio.sleep(0)  # the sender takes what is queued so far
        if start == 1000:
            killing = asyncio.create_task(terminate(NOTIFY_APPLICATION))  # while batches are in flight
    assert killing is not None and await killing == 1
    await _until(lambda: sent[-1] in received, "the last notification")
    heard = list(dict.fromkeys(received))  # a batch killed after its commit is sent again: heard twice
    assert heard == ["payload first", *sent]


async def test_while_the_database_refuses_connections_notifications_wait_up_to_a_bound(
    hubs: Hubs,
    channel: str,
    database_url: str,
    terminate: Terminate,
    outage: Outage,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The server restarting, seen from one hub; a plain connection opened before keeps listening throughout."""
    monkeypatch.setattr(notify, "MAX_QUEUED", 10)
    witness = await asyncpg.connect(asyncpg_dsn(database_url))
    received: list[str] = []
    await witness.add_listener(channel, lambda *args: received.append(args[-1]))
    hub = hubs(reconnect_max_seconds=0.2)
    reconnections: list[None] = []
    hub.on_reconnect(lambda: reconnections.append(None))
    try:
        await hub.start()
        await hub.notify_now(channel, "before")
        await _until(lambda: received == ["before"], "the first notification")
        await outage._run(f'ALTER DATABASE "{outage.database}" ALLOW_CONNECTIONS false')
        assert await terminate(LISTEN_APPLICATION) == 1
        assert await terminate(NOTIFY_APPLICATION) == 1
        await _until(lambda: not hub.connected, "the hub to notice")
        with pytest.raises(asyncpg.PostgresError):
            await hub.notify_now(channel, "now")
        for number in range(15):
            hub.notify(channel, f"away {number}")
        await asyncio.sleep(0.5)  # several attempts, all refused
        assert received == ["before"]
        await outage.allow()
        await _until(lambda: len(received) == 11, "the queued notifications")
        await _until(lambda: hub.connected and len(reconnections) == 2, "the listen connection")
    finally:
        await witness.close()
    assert received == ["before"] + [f"away {number}" for number in range(10)]
    assert caplog.text.count("drops notifications") == 1
    assert "dropped 5 notifications" in caplog.text


async def test_what_postgresql_would_refuse_is_refused_at_once(hubs: Hubs, channel: str) -> None:
    hub = hubs()
    largest = "a" * notify.MAX_PAYLOAD_BYTES
    hub.notify(channel, largest)  # before start: sent once started
    for payload in ("a" * 8000, "é" * 4000, "nul\x00"):
        with pytest.raises(ValueError):
            hub.notify(channel, payload)
        with pytest.raises(ValueError):
            await hub.notify_now(channel, payload)
    with pytest.raises(ValueError):
        hub.notify("c" * 64, "x")
    received: list[str] = []
    hub.listen(channel, received.append)
    await hub.start()
    await _until(lambda: bool(received), "the largest notification PostgreSQL takes")
    await hub.notify_now(channel, "last")
    await _until(lambda: len(received) == 2, "the notification sent at once")
    assert received == [largest, "last"]


async def test_a_live_event_reaches_the_other_replicas_subscribers_and_never_echoes(hubs: Hubs) -> None:
    hub_a, hub_b = hubs(), hubs()
    channels_a, channels_b = build_channels(), build_channels()
    publisher_a = LivePublisher(channels_a, hub_a, origin="replica-a")
    publisher_b = LivePublisher(channels_b, hub_b, origin="replica-b")
    point = uuid4()

    def typing(name: str) -> Typing:
        return Typing(service_point_id=point, conversation_id=uuid4(), user_id=uuid4(), user_name=name)

    events = [typing("Ana"), typing("Berta"), typing("Carla")]
    wire = [msgspec.json.encode(event) for event in events]  # exactly what a single process's subscribers get
    async with AsyncExitStack() as stack:
        for channels, hub in ((channels_a, hub_a), (channels_b, hub_b)):
            await stack.enter_async_context(Litestar(plugins=[channels]).lifespan())
            await hub.start()
        subscriber_a = await stack.enter_async_context(channels_a.start_subscription([channel_of(point)]))
        subscriber_b = await stack.enter_async_context(channels_b.start_subscription([channel_of(point)]))
        heard_a, heard_b = subscriber_a.iter_events(), subscriber_b.iter_events()

        async def next_of(events: AsyncIterator[bytes]) -> bytes:
            return await asyncio.wait_for(anext(events), 5)

        publisher_a.publish(events[0])
        assert await next_of(heard_a) == wire[0]  # at once, locally
        assert await next_of(heard_b) == wire[0]  # relayed
        # each publish waits for the previous event to reach the other replica: an echo would arrive before it
        publisher_b.publish(events[1])
        assert await next_of(heard_b) == wire[1]
        assert await next_of(heard_a) == wire[1]
        publisher_a.publish(events[2])
        assert await next_of(heard_a) == wire[2]
        assert await next_of(heard_b) == wire[2]
        await hub_b.notify_now("ventanilla_live", msgspec.json.encode({"origin": "replica-b"}).decode())
        publisher_b.publish(events[0])  # after a payload A cannot read: A's relay logs it and goes on
        assert await next_of(heard_a) == wire[0]


def test_a_publisher_that_relays_needs_an_origin() -> None:
    with pytest.raises(ValueError):
        LivePublisher(build_channels(), NotifyHub("postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"))


async def test_the_password_stays_out_of_the_logs(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(notify, "FLUSH_SECONDS", 0.2)
    hub = NotifyHub("postgresql+asyncpg://ventanilla:s3cret-pw@127.0.0.1:1/ventanilla", reconnect_max_seconds=0.1)
    await hub.start()  # nothing listens on port 1: refused, logged, tried again
    try:
        assert not hub.connected
        with pytest.raises(OSError):
            await hub.notify_now("vt_password", "x")
        hub.notify("vt_password", "x")
        await _until(lambda: "cannot send" in caplog.text, "the sender's warning")
    finally:
        await hub.stop()
    assert "cannot listen" in caplog.text and "1 notifications not sent" in caplog.text  # stop() waited, then gave up
    assert "s3cret-pw" not in caplog.text


async def test_a_hub_started_while_the_database_is_away_starts_and_connects_later(
    hubs: Hubs, channel: str, outage: Outage, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=notify.__name__)
    hub = hubs(reconnect_max_seconds=0.2)
    received: list[str] = []
    hub.listen(channel, received.append)
    async with outage.refusing():
        await hub.start()
        assert not hub.connected
    await _until(lambda: hub.connected, "the connection")
    await hub.notify_now(channel, "hello")
    await _until(lambda: received == ["hello"], "the notification")
    assert caplog.text.count("cannot listen") == 1 and "listens again" in caplog.text

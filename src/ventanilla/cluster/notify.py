"""LISTEN/NOTIFY between the replicas: one hub per process, over two dedicated connections that come back by themselves.

Listening: a single connection LISTENs on every channel the process registered. When it is lost (a backend
terminated, a database restart, a dead network found by a periodic ping) the hub reconnects with a capped backoff,
LISTENs again, and tells `on_reconnect` callbacks, since whatever was notified while away is gone for good: the
listeners read their tables to catch up.

Sending: `notify()` only queues, so the hot path never waits for the database. A background task sends what is
queued in one statement per round trip (one transaction, so one commit and one pass through PostgreSQL's global
notification lock per batch instead of per notification), in order. A batch that fails for the connection's sake
is sent again on a new connection; were the connection lost after its commit, listeners would hear that batch
twice. While the database is away the queue grows up to `MAX_QUEUED`; what comes beyond is dropped (with one
warning), since what travels here is best effort or backed by a table.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections import deque
from collections.abc import Callable

import asyncpg
from sqlalchemy.engine import make_url

from ventanilla.db.errors import describe, is_refused_content

MAX_PAYLOAD_BYTES = 7999  # PostgreSQL refuses 8000 bytes and more ("payload string too long")
MAX_CHANNEL_BYTES = 63  # an identifier: longer names are refused ("channel name too long")
MAX_QUEUED = 10_000  # notifications waiting while the database is away; the next ones are dropped
MAX_BATCH = 1_000  # notifications in one round trip
FLUSH_SECONDS = 5.0  # what `stop` waits for the queue to empty
CONNECT_TIMEOUT_SECONDS = 5.0
PING_SECONDS = 10.0  # a quiet LISTEN connection is checked this often: a dead network says nothing by itself
FIRST_RETRY_SECONDS = 0.1
LISTEN_APPLICATION = "ventanilla-listen"  # application_name in pg_stat_activity
NOTIFY_APPLICATION = "ventanilla-notify"

# unnest keeps the arrays' order, and pg_notify keeps the order of its calls
_SEND = "SELECT pg_notify(c, p) FROM unnest($1::text[], $2::text[]) AS t(c, p)"

logger = logging.getLogger(__name__)


def asyncpg_dsn(dsn: str) -> str:
    """asyncpg's form of a database URL (SQLAlchemy's `postgresql+asyncpg://` is accepted too)."""
    url = make_url(dsn)
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def _check(channel: str, payload: str | None = None) -> None:
    if not channel or len(channel.encode()) > MAX_CHANNEL_BYTES:
        raise ValueError(f"a channel name has 1 to {MAX_CHANNEL_BYTES} bytes")
    if payload is None:
        return
    if len(payload.encode()) > MAX_PAYLOAD_BYTES:
        raise ValueError(f"a notification carries at most {MAX_PAYLOAD_BYTES} bytes")
    if "\x00" in payload:
        raise ValueError("a notification cannot carry NUL characters")


class _Backoff:
    """Waits that double from `FIRST_RETRY_SECONDS` up to a cap, jittered so that replicas do not retry in step."""

    def __init__(self, cap: float) -> None:
        self.cap = cap
        self.next = FIRST_RETRY_SECONDS

    def reset(self) -> None:
        self.next = FIRST_RETRY_SECONDS

    async def wait(self) -> float:
        seconds = self.next * random.uniform(0.5, 1.0)
        self.next = min(self.next * 2, self.cap)
        await asyncio.sleep(seconds)
        return seconds


class NotifyHub:
    def __init__(self, dsn: str, *, reconnect_max_seconds: float = 5.0) -> None:
        self._dsn = asyncpg_dsn(dsn)
        self._reconnect_max_seconds = reconnect_max_seconds
        self._callbacks: dict[str, list[Callable[[str], None]]] = {}
        self._reconnect_callbacks: list[Callable[[], None]] = []
        self._listen_connection: asyncpg.Connection | None = None
        self._listening: set[str] = set()  # channels LISTENed on the current listen connection
        self._listen_lock = asyncio.Lock()  # one statement at a time on the listen connection
        self._connected = False
        self._outbox: deque[tuple[str, str]] = deque()
        self._outbox_filled = asyncio.Event()
        self._outbox_empty = asyncio.Event()
        self._outbox_empty.set()
        self._send_connection: asyncpg.Connection | None = None
        self._send_lock = asyncio.Lock()  # the sender and `notify_now` share the send connection
        self._dropped = 0  # notifications dropped since the queue was last full
        self._tasks: list[asyncio.Task[None]] = []
        self._late_listens: set[asyncio.Task[None]] = set()

    @property
    def connected(self) -> bool:
        """True while the listen connection is up and LISTENs on every registered channel."""
        return self._connected

    def listen(self, channel: str, callback: Callable[[str], None]) -> None:
        """Call `callback(payload)` on the event loop for each notification on `channel`."""
        _check(channel)
        self._callbacks.setdefault(channel, []).append(callback)
        if self._tasks and channel not in self._listening:
            task = asyncio.get_running_loop().create_task(self._listen_late(channel))
            self._late_listens.add(task)
            task.add_done_callback(self._late_listens.discard)

    def on_reconnect(self, callback: Callable[[], None]) -> None:
        """Call `callback()` after each connection (the first too), once every LISTEN is in place."""
        self._reconnect_callbacks.append(callback)

    def notify(self, channel: str, payload: str) -> None:
        """Queue a notification; ValueError for a channel or payload PostgreSQL would refuse."""
        _check(channel, payload)
        if len(self._outbox) >= MAX_QUEUED:
            if not self._dropped:
                logger.warning("notify hub drops notifications: %d wait already for the database", MAX_QUEUED)
            self._dropped += 1
            return
        self._outbox.append((channel, payload))
        self._outbox_empty.clear()
        self._outbox_filled.set()

    async def notify_now(self, channel: str, payload: str) -> None:
        """Send one notification at once, ahead of the queued ones; raises when the database cannot be reached."""
        _check(channel, payload)
        async with self._send_lock:
            idle = self._send_connection is not None and not self._send_connection.is_closed()
            try:
                await self._send([channel], [payload])
            except Exception as exc:
                if not idle or is_refused_content(exc):
                    raise
                await self._send([channel], [payload])  # the idle connection had died unnoticed: once more, anew

    async def start(self) -> None:
        """Start listening, then sending (so that what was queued before is heard here too); returns after the
        first connection attempt, whether it worked or not."""
        if self._tasks:
            return
        first_attempt = asyncio.get_running_loop().create_future()
        self._tasks = [asyncio.create_task(self._keep_listening(first_attempt), name="notify-hub-listen")]
        await first_attempt
        self._tasks.append(asyncio.create_task(self._keep_sending(), name="notify-hub-send"))

    async def stop(self) -> None:
        """Send what is queued (for `FLUSH_SECONDS` at most), then close both connections."""
        if not self._tasks:
            return
        try:
            await asyncio.wait_for(self._outbox_empty.wait(), FLUSH_SECONDS)
        except TimeoutError:
            logger.warning("%d notifications not sent: the database did not take them in time", len(self._outbox))
        for task in [*self._tasks, *self._late_listens]:
            task.cancel()
        for task in [*self._tasks, *self._late_listens]:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        self._connected = False
        for connection in (self._listen_connection, self._send_connection):
            if connection is not None:
                await self._close(connection)
        self._listen_connection = self._send_connection = None

    # listening

    async def _keep_listening(self, first_attempt: asyncio.Future[None]) -> None:
        backoff = _Backoff(self._reconnect_max_seconds)
        failing = False
        while True:
            lost = asyncio.Event()
            try:
                connection = await self._open_listen_connection(lost)
            except Exception as exc:
                if not failing:
                    logger.warning("notify hub cannot listen (%s); trying again", describe(exc))
                failing = True
                if not first_attempt.done():
                    first_attempt.set_result(None)
                await backoff.wait()
                continue
            if failing:
                logger.info("notify hub listens again")
                failing = False
            backoff.reset()
            if not first_attempt.done():
                first_attempt.set_result(None)
            for callback in self._reconnect_callbacks:
                try:
                    callback()
                except Exception:
                    logger.exception("notify hub: a reconnection callback failed")
            await self._watch(connection, lost)
            self._connected = False
            logger.warning("notify hub lost its listen connection; reconnecting")

    async def _open_listen_connection(self, lost: asyncio.Event) -> asyncpg.Connection:
        connection = await self._connect(LISTEN_APPLICATION)
        connection.add_termination_listener(lambda _: lost.set())
        try:
            async with self._listen_lock:
                self._listen_connection, self._listening = connection, set()
                for channel in list(self._callbacks):
                    await self._listen_on(connection, channel)
        except BaseException:
            connection.terminate()
            raise
        self._connected = True
        return connection

    async def _listen_on(self, connection: asyncpg.Connection, channel: str) -> None:
        await connection.add_listener(channel, self._dispatch)
        self._listening.add(channel)

    async def _listen_late(self, channel: str) -> None:
        """LISTEN on a channel registered while connected (a lost connection LISTENs again as it comes back)."""
        async with self._listen_lock:
            connection = self._listen_connection
            if connection is None or connection.is_closed() or channel in self._listening:
                return
            try:
                await self._listen_on(connection, channel)
            except Exception as exc:
                logger.warning("notify hub could not LISTEN (%s); reconnecting", describe(exc))
                connection.terminate()

    async def _watch(self, connection: asyncpg.Connection, lost: asyncio.Event) -> None:
        """Return once the connection is lost, or found dead by a ping."""
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(lost.wait(), PING_SECONDS)
                return
            try:
                async with self._listen_lock:
                    await connection.execute("SELECT 1", timeout=CONNECT_TIMEOUT_SECONDS)
            except Exception:
                connection.terminate()
                return

    def _dispatch(self, _connection: object, _pid: int, channel: str, payload: object) -> None:
        for callback in self._callbacks.get(channel, ()):
            try:
                callback(str(payload))
            except Exception:
                logger.exception("notify hub: a listener of %s failed", channel)

    # sending

    async def _keep_sending(self) -> None:
        backoff = _Backoff(self._reconnect_max_seconds)
        failing = False
        while True:
            if not self._outbox:
                self._outbox_empty.set()
                self._outbox_filled.clear()
                await self._outbox_filled.wait()
                continue
            batch = self._next_batch()
            try:
                async with self._send_lock:
                    await self._send([channel for channel, _ in batch], [text for _, text in batch])
            except Exception as exc:
                if not is_refused_content(exc):  # the connection's fault: the same batch goes out on a new one
                    if not failing:
                        logger.warning("notify hub cannot send (%s); trying again", describe(exc))
                    failing = True
                    await backoff.wait()
                    continue
                logger.error("notify hub: %d notifications refused (%s), dropped", len(batch), describe(exc))
            for _ in batch:
                self._outbox.popleft()
            backoff.reset()
            if failing:
                logger.info("notify hub sends again")
                failing = False
            if self._dropped and not self._outbox:  # caught up: one line per episode, not per batch
                logger.warning("notify hub dropped %d notifications (the database was away or slow)", self._dropped)
                self._dropped = 0

    def _next_batch(self) -> list[tuple[str, str]]:
        """The oldest queued notifications, stopping before a repeat: PostgreSQL merges identical notifications of
        one transaction into one, and each `notify` must be heard."""
        batch: list[tuple[str, str]] = []
        seen: set[tuple[str, str]] = set()
        for item in self._outbox:
            if item in seen or len(batch) == MAX_BATCH:
                break
            seen.add(item)
            batch.append(item)
        return batch

    async def _send(self, channels: list[str], payloads: list[str]) -> None:
        """One round trip; a connection that failed for any reason but the content is dropped for a new one."""
        if self._send_connection is None or self._send_connection.is_closed():
            self._send_connection = await self._connect(NOTIFY_APPLICATION)
        try:
            await self._send_connection.execute(_SEND, channels, payloads)
        except Exception as exc:
            if not is_refused_content(exc):
                connection, self._send_connection = self._send_connection, None
                connection.terminate()
            raise

    # connections

    async def _connect(self, application: str) -> asyncpg.Connection:
        return await asyncpg.connect(
            self._dsn, timeout=CONNECT_TIMEOUT_SECONDS, server_settings={"application_name": application}
        )

    @staticmethod
    async def _close(connection: asyncpg.Connection) -> None:
        try:
            await connection.close(timeout=CONNECT_TIMEOUT_SECONDS)
        except Exception:
            connection.terminate()
